"""The demo's second act: maintenance work turning into money, through the API and the events.

A budget for the year, rate cards and a supplier commitment; then a few work orders are
worked and closed. Each closure emits `work_order.closed` from the outbox; the relay publishes
it on the event bus and the cost engine posts labour, parts and third-party costs to the
ledger. The month's budget summary (a projection, one query) must then equal the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from climatrak.core.timeutil import zone
from climatrak_local.api_client import ApiClient, DemoError
from climatrak_local.runtime import LocalRuntime

IDLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class WorkPlan:
    asset_tag: str
    type: str
    priority: str
    description: str
    time_entries: tuple[dict[str, Any], ...] = ()
    parts: tuple[dict[str, Any], ...] = ()
    external: tuple[dict[str, Any], ...] = ()
    actual_hours: str | None = None


WORK: tuple[WorkPlan, ...] = (
    WorkPlan(
        "CH-001",
        "PREVENTIVE",
        "MEDIUM",
        "Quarterly chiller service: filters, coil cleaning, refrigerant check",
        time_entries=({"role": "Refrigeration technician", "role_code": "TEC-REF", "hours": "2.50"},),
        parts=(
            {
                "part_name": "Filter G4 592x592",
                "part_number": "FG4-592",
                "quantity": "2",
                "unit": "UN",
                "unit_cost": "45.90",
            },
        ),
    ),
    WorkPlan(
        "AHU-001",
        "CORRECTIVE",
        "HIGH",
        "Surgical centre AHU: fan bearing noise",
        time_entries=(
            {"role": "technician", "hours": "3", "hourly_rate": "110.00", "description": "overtime, night shift"},
        ),
        external=(
            {
                "cost_type": "SERVICE",
                "supplier_name": "Rolamentos Minas Ltda",
                "description": "bearing replacement",
                "amount": "850.00",
                "currency": "BRL",
                "invoice_number": "NF-20931",
            },
        ),
    ),
    WorkPlan("SPL-001", "EMERGENCY", "CRITICAL", "Reception split unit not cooling", actual_hours="1.5"),
)


def _month_start(timezone: str) -> str:
    return datetime.now(zone(timezone)).strftime("%Y-%m-01")


def set_up_budget(api: ApiClient, site_id: int, timezone: str) -> dict[str, Any]:
    """Cost centres, rate cards, a budget for the year and an approved supplier commitment."""
    hospital = api.expect(
        201,
        "POST",
        "/api/trakledger/cost-centers/",
        {"name": "Hospital maintenance", "code": "MANUT", "parent_id": None},
    )
    plant = api.expect(
        201,
        "POST",
        "/api/trakledger/cost-centers/",
        {"name": "Central plant", "code": "MANUT-CP", "parent_id": hospital["id"]},
    )
    api.expect(200, "PATCH", f"/api/sites/{site_id}/", {"cost_center": plant["id"]})
    month = _month_start(timezone)
    year = int(month[:4])
    for role, code, rate in (("technician", "TEC", "85.00"), ("Refrigeration technician", "TEC-REF", "95.00")):
        api.expect(
            201,
            "POST",
            "/api/trakledger/rate-cards/",
            {"role": role, "role_code": code, "cost_per_hour": rate, "effective_from": f"{year}-01-01"},
        )
    plan = api.expect(
        201,
        "POST",
        "/api/trakledger/budget-plans/",
        {
            "name": f"Maintenance {year}",
            "code": f"BUDGET-{year}-000001",
            "year": year,
            "start_date": f"{year}-01-01",
            "end_date": f"{year}-12-31",
            "currency": "BRL",
            "status": "draft",
            "description": "Central plant maintenance budget",
        },
    )
    for category, monthly in (("preventive", "4000.00"), ("corrective", "6000.00"), ("contracts", "1500.00")):
        envelope = api.expect(
            201,
            "POST",
            "/api/trakledger/budget-envelopes/",
            {
                "budget_plan": plan["id"],
                "name": category.title(),
                "category": category,
                "cost_center": plant["id"],
                "amount": 0,
                "currency": "BRL",
                "description": "",
            },
        )
        months = [
            {"month": f"{year}-{number:02d}-01", "planned_amount": monthly, "contingency_amount": "0"}
            for number in range(1, 13)
        ]
        api.expect(200, "PATCH", f"/api/trakledger/budget-envelopes/{envelope['id']}/", {"months": months})
    commitment = api.expect(
        201,
        "POST",
        "/api/trakledger/commitments/",
        {
            "cost_center": plant["id"],
            "category": "contracts",
            "amount": 1200,
            "currency": "BRL",
            "budget_month": month,
            "description": "Monthly chiller maintenance contract",
            "vendor_name": "Frio Service",
            "submit": True,
        },
    )
    api.expect(200, "POST", f"/api/trakledger/commitments/{commitment['id']}/approve/")
    return {"cost_center": plant, "month": month}


def work_the_orders(api: ApiClient) -> list[dict[str, Any]]:
    assets = {row["tag"]: row["id"] for row in api.expect(200, "GET", "/api/assets/?page_size=100")["results"]}
    closed = []
    for plan in WORK:
        order = api.expect(
            201,
            "POST",
            "/api/cmms/work-orders/",
            {
                "asset": assets[plan.asset_tag],
                "type": plan.type,
                "priority": plan.priority,
                "description": plan.description,
                "assigned_to": 1,
                "assigned_to_name": "Demo Owner",
            },
        )
        api.expect(200, "POST", f"/api/cmms/work-orders/{order['id']}/start/", {})
        for entry in plan.time_entries:
            api.expect(
                201,
                "POST",
                "/api/cmms/time-entries/",
                {"work_order": order["id"], "work_date": order["created_at"][:10], **entry},
            )
        for part in plan.parts:
            api.expect(201, "POST", "/api/cmms/part-usages/", {"work_order": order["id"], **part})
        for cost in plan.external:
            api.expect(201, "POST", "/api/cmms/external-costs/", {"work_order": order["id"], **cost})
        body: dict[str, Any] = {"execution_description": "Done.", "checklist_responses": []}
        if plan.actual_hours:
            body["actual_hours"] = plan.actual_hours
        closed.append(api.expect(200, "POST", f"/api/cmms/work-orders/{order['id']}/complete/", body))
    cancelled = api.expect(
        201,
        "POST",
        "/api/cmms/work-orders/",
        {
            "asset": assets["CH-002"],
            "type": "REQUEST",
            "priority": "LOW",
            "description": "Paint the chiller base",
        },
    )
    api.expect(200, "POST", f"/api/cmms/work-orders/{cancelled['id']}/cancel/", {"reason": "Out of scope this year"})
    return closed


def _money(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


def ledger_tables(api: ApiClient, month: str, closed: list[dict[str, Any]]) -> tuple[Table, Table]:
    numbers = {order["id"]: order["number"] for order in closed}
    postings = Table(title=f"Ledger postings of {month[:7]} (the cost engine's, from work_order.closed events)")
    for column in ("work order", "type", "category", "amount (BRL)", "idempotency key"):
        postings.add_column(column)
    ledger_total = Decimal("0")
    page = api.expect(200, "GET", f"/api/trakledger/transactions/?start_date={month}&page_size=100")
    for row in sorted(page["results"], key=lambda r: (str(r.get("work_order_number") or ""), r["transaction_type"])):
        ledger_total += Decimal(str(row["amount"]))
        work_order = numbers.get(row.get("work_order_id") or row.get("work_order"), row.get("work_order_number"))
        postings.add_row(
            str(work_order or "-"),
            row["transaction_type"],
            row["category"],
            _money(row["amount"]),
            str(row.get("idempotency_key") or "-"),
        )
    summary = api.expect(200, "GET", f"/api/trakledger/budget-summary/?month={month}")
    if Decimal(str(summary["actual"])) != ledger_total:
        raise DemoError(f"budget summary actual {summary['actual']} differs from the ledger total {ledger_total}")
    table = Table(title=f"Budget summary {month[:7]} (one query of the projection)")
    table.add_column("category")
    for column in ("planned", "committed", "actual"):
        table.add_column(column, justify="right")
    for row in summary["by_category"]:
        table.add_row(row["category"], _money(row["planned"]), _money(row["committed"]), _money(row["actual"]))
    table.add_row(
        "[bold]total[/]",
        _money(summary["planned"]),
        _money(summary["committed"]),
        f"[bold]{_money(summary['actual'])}[/]",
    )
    table.caption = (
        f"variance {_money(summary['variance'])} ({summary['variance_percent']}% of planned); "
        f"actual equals the sum of {page['count']} ledger postings"
    )
    return postings, table


def check_the_rules(api: ApiClient, month: str, closed: list[dict[str, Any]]) -> Table:
    """Exactly-once and month locks, shown through the API."""
    table = Table(title="Ledger rules", show_header=False)
    table.add_column("rule", style="bold")
    table.add_column("result")
    first = closed[0]
    again = api.expect(200, "POST", f"/api/cmms/work-orders/{first['id']}/post-costs/")
    table.add_row(
        f"post-costs again on {first['number']} (already posted by the cost engine)",
        f"{again['transactions_created']} new postings, {again['skipped']} skipped",
    )
    year, number = int(month[:4]), int(month[5:7])
    previous = f"{year - (number == 1):04d}-{(number - 2) % 12 + 1:02d}-01"
    api.expect(200, "POST", "/api/trakledger/budget-months/lock/", {"month": previous})
    status, body = api.call(
        "POST",
        "/api/trakledger/transactions/",
        {
            "transaction_type": "adjustment",
            "category": "corrective",
            "amount": -50,
            "currency": "BRL",
            "occurred_at": f"{previous[:8]}15T10:00",
            "description": "late correction",
            "meta": {"reason": "late"},
        },
    )
    if status != 409:
        raise DemoError(f"a posting into locked month {previous[:7]} answered {status}: {body}")
    table.add_row(f"manual adjustment into locked {previous[:7]}", f"{status} {body.get('detail', '')}")
    failed = api.expect(200, "GET", "/api/events/failed/")
    table.add_row("failed events (GET /api/events/failed/)", str(failed["count"]))
    return table


def run_finance(runtime: LocalRuntime, api: ApiClient, site_id: int, timezone: str, console: Console) -> None:
    budget = set_up_budget(api, site_id, timezone)
    closed = work_the_orders(api)
    console.print(
        f"Budget set up, {len(closed)} work orders closed and 1 cancelled; "
        "waiting for the outbox relay and the cost engine..."
    )
    runtime.wait_until_idle(timeout=IDLE_TIMEOUT_S)
    postings, summary = ledger_tables(api, budget["month"], closed)
    console.print(postings)
    console.print(summary)
    console.print(check_the_rules(api, budget["month"], closed))
