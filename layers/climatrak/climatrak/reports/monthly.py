"""The monthly report of one tenant: the budget by cost centre and category, top assets by
cost, energy against the previous month, work-order KPIs, a run-rate forecast to year end and
the envelopes at risk, the savings with their evidence — read from the summary projection (one
query per month and cost centre) and the lake's daily energy dataset."""

from __future__ import annotations

from calendar import monthrange
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger

from climatrak.core.config import Settings
from climatrak.core.errors import NotFound
from climatrak.core.money import ZERO, money
from climatrak.ledger import budgets as ledger_budgets
from climatrak.ledger.repository import LedgerRepository
from climatrak.ledger.savings import list_savings
from climatrak.ledger.summary import budget_summary, top_costs, year_summary
from climatrak.registry.repository import RegistryRepository
from climatrak.reports import operations
from climatrak.reports.energy_dataset import read_energy_month
from climatrak.reports.publish import publish_report

logger = Logger(service="reports")

MONTHLY = "monthly"


def previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def run_monthly(settings: Settings, s3: Any, tenant: str, month: str) -> dict[str, Any]:
    if RegistryRepository(tenant, settings).get_tenant() is None:
        raise NotFound(f"tenant {tenant!r} does not exist")
    ledger = LedgerRepository(tenant, settings)
    first = f"{month}-01"
    summary = budget_summary(ledger, first)
    by_cost_center = [
        _figures(budget_summary(ledger, first, str(center.id)), name=str(center.name), code=str(center.code))
        for center in ledger.list_cost_centers()
    ]
    top_assets = top_costs(ledger, {"by": "asset", "start": first, "end": first, "limit": "10"})
    energy_now = _energy_month(settings, s3, tenant, month)
    energy_before = _energy_month(settings, s3, tenant, previous_month(month))
    forecast = _forecast(ledger, month)
    report: dict[str, Any] = {
        "type": MONTHLY,
        "tenant": tenant,
        "period": month,
        "budget": {
            **_figures(summary),
            "by_category": [c.model_dump(mode="json") for c in summary.by_category],
            "by_cost_center": [
                row for row in by_cost_center if any(row[k] for k in ("planned", "actual", "committed"))
            ],
        },
        "top_assets": [row.model_dump(mode="json") for row in top_assets.results],
        "energy": {
            "kwh": str(energy_now["kwh"]),
            "cost": str(energy_now["cost"]),
            "previous_kwh": str(energy_before["kwh"]),
            "previous_cost": str(energy_before["cost"]),
            "kwh_change_percent": _change(energy_now["kwh"], energy_before["kwh"]),
        },
        "operations": operations.as_dict(operations.monthly_operations(settings, tenant, month)),
        "forecast": forecast,
        "savings": [
            row.model_dump(mode="json")
            for row in list_savings(
                ledger, {"from": first, "to": f"{month}-{monthrange(int(month[:4]), int(month[5:]))[1]:02d}"}
            )
        ],
    }
    report["headline"] = {
        "planned": report["budget"]["planned"],
        "actual": report["budget"]["actual"],
        "percent_used": report["budget"]["percent_used"],
        "kwh": report["energy"]["kwh"],
        "year_end_forecast": forecast["year_end_actual"],
        "envelopes_at_risk": len(forecast["at_risk"]),
    }
    record = publish_report(settings, s3, tenant, MONTHLY, month, report)
    logger.info("monthly report published", extra={"tenant": tenant, "month": month, "report_id": record.id})
    return {"tenant": tenant, "report_id": str(record.id), "status": "completed", "headline": report["headline"]}


def _figures(summary: Any, **extra: str) -> dict[str, Any]:
    planned, actual = Decimal(str(summary.planned)), Decimal(str(summary.actual))
    return {
        **extra,
        "planned": str(money(planned)),
        "committed": str(money(Decimal(str(summary.committed)))),
        "actual": str(money(actual)),
        "savings": str(money(Decimal(str(summary.savings)))),
        "variance": str(money(planned - actual)),
        "percent_used": str(money(actual / planned * 100)) if planned else None,
    }


def _change(now: Decimal, before: Decimal) -> str | None:
    return str(money((now - before) / before * 100)) if before else None


def _energy_month(settings: Settings, s3: Any, tenant: str, month: str) -> dict[str, Decimal]:
    """kWh and cost of a month from the daily energy dataset (what the daily reports computed)."""
    kwh, cost = Decimal("0"), ZERO
    for row in read_energy_month(s3, settings.lake_bucket, tenant, month):
        kwh += Decimal(str(row["kwh_total"]))
        if row.get("cost"):
            cost += Decimal(str(row["cost"]))
    return {"kwh": kwh.quantize(Decimal("0.001")), "cost": money(cost)}


def _forecast(ledger: LedgerRepository, month: str) -> dict[str, Any]:
    """Run-rate to year end: the year's actual so far, per elapsed month, times twelve; and the
    envelopes whose (cost centre, category) run-rate exceeds their planned year."""
    year, elapsed = int(month[:4]), int(month[5:7])
    months = [f"{year}-{number:02d}" for number in range(1, elapsed + 1)]
    summary = year_summary(ledger, str(year))
    actual_to_date = sum((Decimal(str(row.actual)) for row in summary.by_month if row.month[:7] <= month), Decimal("0"))
    year_end = money(actual_to_date / elapsed * 12)
    actual_by_pair: dict[tuple[str, str], Decimal] = {}
    for each in months:
        for row in ledger.summary_rows(each):
            key = (str(row.cost_center_id), str(row.category))
            actual_by_pair[key] = actual_by_pair.get(key, Decimal("0")) + (row.actual or ZERO)
    at_risk = []
    for envelope in ledger.list_envelopes():
        plan = ledger.get_plan(str(envelope.budget_plan_id))
        if plan is None or int(plan.year) != year:
            continue
        planned_year = ledger_budgets.planned_total(envelope)
        actual = actual_by_pair.get((str(envelope.cost_center_id), str(envelope.category)), Decimal("0"))
        projected = money(actual / elapsed * 12)
        if planned_year and projected > planned_year:
            at_risk.append(
                {
                    "envelope_id": str(envelope.id),
                    "cost_center_id": str(envelope.cost_center_id),
                    "category": str(envelope.category),
                    "planned_year": str(money(planned_year)),
                    "actual_to_date": str(money(actual)),
                    "projected_year": str(projected),
                    "projected_overrun": str(money(projected - planned_year)),
                }
            )
    return {
        "actual_to_date": str(money(actual_to_date)),
        "year_end_actual": str(year_end),
        "planned_year": str(money(Decimal(str(summary.planned)))),
        "at_risk": sorted(at_risk, key=lambda row: -Decimal(row["projected_overrun"])),
    }
