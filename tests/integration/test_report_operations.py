"""Operations figures of a business day and month (reports.operations), read from the Main table,
and the plain computations behind them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from climatrak.alerts.items import AlertItem
from climatrak.alerts.records import raised_event
from climatrak.alerts.repository import AlertRepository
from climatrak.cmms.items import WorkOrderItem
from climatrak.cmms.repository import CmmsRepository
from climatrak.core.config import Settings
from climatrak.core.timeutil import iso_ms, to_ms
from climatrak.ledger.items import ensure_default_cost_center
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.postings import post
from climatrak.ledger.transaction_models import NewPosting
from climatrak.registry.logic import create_tenant
from climatrak.reports import operations
from climatrak.reports.operations import as_dict, daily_operations, day_period, monthly_operations, union_ms
from tests.integration.conftest import ApiClient

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
DAY = date(2026, 3, 10)  # a Tuesday; Sao Paulo is UTC-3 all year
HOUR_MS = 3_600_000


def local(day_offset: int, hour: int, minute: int = 0) -> str:
    """An instant at local time `hour:minute` of DAY + day_offset, as stored (UTC ISO, ms, Z)."""
    moment = datetime.combine(DAY + timedelta(days=day_offset), datetime.min.time(), SAO_PAULO)
    return iso_ms(to_ms(moment + timedelta(hours=hour, minutes=minute)))


def day(offset: int) -> str:
    return (DAY + timedelta(days=offset)).isoformat()


# ---- plain computations -------------------------------------------------------------------------


def test_union_counts_overlaps_once_and_clips_to_the_period() -> None:
    assert union_ms([(0, 10), (5, 15), (20, 30)], 0, 100) == 25
    assert union_ms([(20, 30), (0, 10), (2, 4)], 0, 100) == 20
    assert union_ms([(-50, 10), (90, 500)], 0, 100) == 20
    assert union_ms([(0, 100), (10, 20)], 0, 100) == 100
    assert union_ms([(200, 300)], 0, 100) == 0


def test_a_business_day_runs_local_midnight_to_local_midnight() -> None:
    period = day_period("2026-03-10", "America/Sao_Paulo")
    assert (period.start_iso, period.end_iso) == ("2026-03-10T03:00:00.000Z", "2026-03-11T03:00:00.000Z")
    # where DST starts the day has 23 hours
    spring = day_period("2026-03-08", "America/New_York")
    assert spring.end_ms - spring.start_ms == 23 * HOUR_MS
    assert operations.month_period("2026-02", "UTC").last_day == date(2026, 2, 28)


def order(number: int, kind: str, created: str, **fields: Any) -> WorkOrderItem:
    return WorkOrderItem(
        id=number,
        number=f"OS202603{number:04d}",
        asset_id=1,
        wo_type=kind,
        created_at=created,
        updated_at=fields.pop("updated_at", created),
        **fields,
    )


def test_work_order_figures_are_what_was_known_at_the_end_of_the_day() -> None:
    orders = [
        # opened and completed in the day: 4 h from start to completion
        order(1, "CORRECTIVE", local(0, 10), status="COMPLETED", started_at=local(0, 11), completed_at=local(0, 15)),
        # open, scheduled two days before: overdue
        order(2, "PREVENTIVE", local(-5, 9), status="OPEN", scheduled_date=day(-2)),
        # completed in the day, never started: 72 h from creation
        order(3, "PREVENTIVE", local(-3, 9), status="COMPLETED", scheduled_date=day(0), completed_at=local(0, 9)),
        # opened at 23:30 local (02:30 UTC the next day)
        order(4, "CORRECTIVE", local(0, 23, 30), status="OPEN"),
        # created after the day: not there yet
        order(5, "CORRECTIVE", local(1, 1), status="OPEN"),
        # completed after the day: still open (and overdue) at its end
        order(6, "PREVENTIVE", local(-1, 8), status="COMPLETED", scheduled_date=day(-1), completed_at=local(1, 10)),
        # cancelled in the day: no longer due
        order(7, "PREVENTIVE", local(-2, 8), status="CANCELLED", scheduled_date=day(-1), updated_at=local(0, 12)),
    ]
    figures = operations.work_order_figures(orders, day_period(DAY))
    assert (figures.opened, figures.opened_by_type) == (2, {"CORRECTIVE": 2})
    assert (figures.completed, figures.completed_by_type) == (2, {"CORRECTIVE": 1, "PREVENTIVE": 1})
    assert figures.cancelled == 1
    assert figures.open_at_end == 3  # 2, 4 and 6
    assert figures.overdue == 2  # 2 and 6
    assert figures.mttr_hours == Decimal("38.00")  # (4 + 72) / 2
    assert (figures.preventive_scheduled, figures.preventive_completed) == (3, 1)
    assert figures.preventive_compliance_percent == Decimal("33.3")


def test_no_completions_means_no_mttr_and_no_schedule_means_no_compliance() -> None:
    figures = operations.work_order_figures([order(1, "CORRECTIVE", local(0, 10))], day_period(DAY))
    assert figures.mttr_hours is None and figures.preventive_compliance_percent is None
    assert (figures.opened, figures.open_at_end, figures.overdue) == (1, 1, 0)


# ---- from the Main table --------------------------------------------------------------------------


@dataclass
class World:
    settings: Settings
    chiller: int
    air_handler: int

    def work_order(self, tenant: str, item: WorkOrderItem) -> None:
        repo = CmmsRepository(tenant, self.settings)
        item.id = repo.new_work_order_id()
        repo.create_work_order(item)

    def alert(self, tenant: str, asset: int, tag: str, severity: str, triggered_at: str, **fields: Any) -> None:
        repo = AlertRepository(tenant, self.settings)
        alert = AlertItem(
            id=repo.new_alert_id(),
            asset_id=asset,
            asset_tag=tag,
            severity=severity,
            triggered_at=triggered_at,
            created_at=triggered_at,
            updated_at=triggered_at,
            **fields,
        )
        repo.raise_alert(alert, raised_event(tenant, alert))

    def resolved(self, tenant: str, asset: int, tag: str, severity: str, triggered_at: str, resolved_at: str) -> None:
        self.alert(
            tenant,
            asset,
            tag,
            severity,
            triggered_at,
            acknowledged=True,
            acknowledged_at=resolved_at,
            resolved=True,
            resolved_at=resolved_at,
            resolution="condition_cleared",
        )

    def posting(self, tenant: str, category: str, amount: str, occurred_at: str, key: str) -> None:
        repo = PostingRepository(tenant, self.settings)
        posting = NewPosting(
            transaction_type="energy" if category == "energy" else "parts",
            category=category,
            amount=Decimal(amount),
            occurred_at=occurred_at,
            cost_center_id=ensure_default_cost_center(tenant),
            idempotency_key=key,
        )
        post(repo, [posting], automatic=True)


@pytest.fixture
def world(api: ApiClient, settings: Settings) -> Iterator[World]:
    """acme (Sao Paulo) with CH-001 and AHU-002, and a day of work orders, alerts and postings;
    beta has one of each on the same day, which acme's figures must not see."""
    create_tenant(settings, "acme", "Acme", "America/Sao_Paulo")
    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    site = api.post("/api/sites/", {"name": "Plant 1"}).json["id"]
    chiller = api.post("/api/assets/", {"tag": "CH-001", "name": "Chiller 1", "site": site, "asset_type": "CHILLER"})
    handler = api.post("/api/assets/", {"tag": "AHU-002", "name": "Air handler", "site": site, "asset_type": "AHU"})
    w = World(settings, chiller.json["id"], handler.json["id"])

    a = "acme"
    w.work_order(
        a, order(0, "CORRECTIVE", local(0, 10), status="COMPLETED", started_at=local(0, 11), completed_at=local(0, 15))
    )
    w.work_order(a, order(0, "PREVENTIVE", local(-5, 9), status="OPEN", scheduled_date=day(-2)))
    w.work_order(
        a, order(0, "PREVENTIVE", local(-3, 9), status="COMPLETED", scheduled_date=day(0), completed_at=local(0, 9))
    )
    w.work_order(a, order(0, "CORRECTIVE", local(0, 23, 30), status="OPEN"))
    w.work_order(a, order(0, "CORRECTIVE", local(1, 1), status="OPEN"))
    w.work_order(
        a, order(0, "PREVENTIVE", local(-1, 8), status="COMPLETED", scheduled_date=day(-1), completed_at=local(1, 10))
    )
    w.work_order(
        a, order(0, "PREVENTIVE", local(-2, 8), status="CANCELLED", scheduled_date=day(-1), updated_at=local(0, 12))
    )
    w.work_order("beta", order(0, "CORRECTIVE", local(0, 10), status="OPEN", scheduled_date=day(-3)))

    ch, ahu = w.chiller, w.air_handler
    w.resolved(a, ch, "CH-001", "Critical", local(0, 10), local(0, 11))
    w.resolved(a, ch, "CH-001", "High", local(0, 10, 30), local(0, 12))  # overlaps: 10:00-12:00 counts 2 h
    w.resolved(a, ch, "CH-001", "Medium", local(-1, 22), local(0, 1))  # raised the day before: 1 h of this day
    w.resolved(a, ch, "CH-001", "High", local(0, 22), local(1, 2))  # resolved the next day: 2 h of this day
    w.alert(a, ahu, "AHU-002", "Low", local(0, 20))  # still active
    w.alert(a, ahu, "AHU-002", "High", local(1, 0, 30))  # after the day
    w.resolved(a, ahu, "AHU-002", "Critical", local(-1, 8), local(-1, 9))  # the day before only
    w.alert(a, ahu, "AHU-002", "Medium", local(-2, 12), acknowledged=True, acknowledged_at=local(-2, 13))  # all day
    w.alert("beta", 1, "B-1", "Critical", local(0, 10))

    w.posting(a, "energy", "100.50", local(0, 12), "energy:1:a")
    w.posting(a, "energy", "20.25", local(0, 23, 59), "energy:1:b")
    w.posting(a, "parts", "10.00", local(0, 0), "parts:1:a")  # the day's first instant
    w.posting(a, "parts", "7.00", local(1, 0), "parts:1:b")  # the next day's first instant
    w.posting(a, "parts", "3.00", local(-1, 23, 59), "parts:1:c")
    w.posting("beta", "energy", "999.00", local(0, 12), "energy:9:a")
    yield w


def test_the_days_operations_from_the_main_table(world: World) -> None:
    figures = daily_operations(world.settings, "acme", DAY.isoformat())
    assert (figures.period, figures.timezone) == ("2026-03-10", "America/Sao_Paulo")
    assert (figures.start, figures.end) == ("2026-03-10T03:00:00.000Z", "2026-03-11T03:00:00.000Z")

    wo = figures.work_orders
    assert (wo.opened, wo.completed, wo.cancelled, wo.open_at_end, wo.overdue) == (2, 2, 1, 3, 2)
    assert wo.mttr_hours == Decimal("38.00")  # (4 h + 72 h) / 2
    assert (wo.preventive_scheduled, wo.preventive_completed, wo.preventive_compliance_percent) == (
        3,
        1,
        Decimal("33.3"),
    )

    alerts = figures.alerts
    assert alerts.raised_by_severity == {"Critical": 1, "High": 2, "Medium": 0, "Low": 1}
    assert alerts.resolved_by_severity == {"Critical": 1, "High": 1, "Medium": 1, "Low": 0}
    assert (alerts.raised, alerts.resolved, alerts.open_at_end) == (4, 3, 3)
    hours = [(row.asset_tag, row.asset_name, row.hours, row.alerts) for row in alerts.hours_in_alert]
    assert hours == [("AHU-002", "Air handler", Decimal("24.00"), 2), ("CH-001", "Chiller 1", Decimal("5.00"), 4)]
    assert alerts.hours_in_alert_total == Decimal("29.00")

    ledger = figures.ledger
    rows = [(row.category, row.label, row.count, row.amount) for row in ledger.by_category]
    assert rows == [("energy", "Energia", 2, Decimal("120.75")), ("parts", "Peças e Materiais", 1, Decimal("10.00"))]
    assert (ledger.count, ledger.amount) == (3, Decimal("130.75"))


def test_the_months_operations_and_a_rerun_gives_the_same_figures(world: World) -> None:
    figures = monthly_operations(world.settings, "acme", "2026-03")
    wo = figures.work_orders
    assert (wo.opened, wo.completed, wo.cancelled) == (7, 3, 1)
    assert (wo.open_at_end, wo.overdue) == (3, 1)  # orders 2, 4, 5 open; only 2 scheduled before the 31st
    assert (wo.preventive_scheduled, wo.preventive_completed) == (3, 2)
    assert wo.preventive_compliance_percent == Decimal("66.7")
    assert figures.alerts.raised == 8  # every acme alert was raised in March
    assert (figures.ledger.count, figures.ledger.amount) == (5, Decimal("140.75"))
    assert as_dict(monthly_operations(world.settings, "acme", "2026-03")) == as_dict(figures)


def test_as_dict_keeps_money_as_decimal_for_the_renderer(world: World) -> None:
    figures = as_dict(daily_operations(world.settings, "acme", DAY.isoformat()))
    assert figures["ledger"]["amount"] == Decimal("130.75")
    assert figures["alerts"]["raised"] == 4 and figures["work_orders"]["opened"] == 2
    assert operations.headline(daily_operations(world.settings, "acme", DAY.isoformat()))["ledger_amount"] == "130.75"


def test_another_tenants_day_is_its_own(world: World) -> None:
    figures = daily_operations(world.settings, "beta", DAY.isoformat())
    assert (figures.work_orders.opened, figures.work_orders.overdue) == (1, 1)
    assert figures.alerts.raised_by_severity["Critical"] == 1 and figures.alerts.raised == 1
    assert (figures.ledger.count, figures.ledger.amount) == (1, Decimal("999.00"))


def test_an_empty_day(settings: Settings, clean_aws: None) -> None:
    create_tenant(settings, "acme", "Acme", "America/Sao_Paulo")
    figures = daily_operations(settings, "acme", "2026-01-01")
    assert figures.work_orders.opened == 0 and figures.work_orders.mttr_hours is None
    assert figures.alerts.raised == 0 and figures.alerts.hours_in_alert == []
    assert figures.ledger.count == 0 and figures.ledger.by_category == []
