"""The report sweeps: which tenants a 15-minute UTC sweep lists, in every zone, across DST changes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from climatrak.core.config import Settings
from climatrak.core.errors import DomainError
from climatrak.core.resources import (
    DAILY_REPORT,
    DAILY_REPORT_SCHEDULE,
    MONTHLY_REPORT,
    MONTHLY_REPORT_SCHEDULE,
    REPORT_SCHEDULES,
    SCHEDULED_TIME,
    ReportScheduleSpec,
)
from climatrak.core.timeutil import zone
from climatrak.reports import tasks
from climatrak.reports.tasks import due_period, tenants_to_report

SETTINGS = Settings()  # the tenant directory is faked below

# Local 03:00 of each zone, in UTC, on a day without a DST change (2026-03-10).
ZONES = {
    "America/Sao_Paulo": datetime(2026, 3, 10, 6, 0, tzinfo=UTC),  # -03:00
    "America/Manaus": datetime(2026, 3, 10, 7, 0, tzinfo=UTC),  # -04:00
    "Asia/Kolkata": datetime(2026, 3, 9, 21, 30, tzinfo=UTC),  # +05:30: the sweep the day before
    "Asia/Kathmandu": datetime(2026, 3, 9, 21, 15, tzinfo=UTC),  # +05:45
    "Europe/Athens": datetime(2026, 3, 10, 1, 0, tzinfo=UTC),  # +02:00 (winter)
}


def sweeps(start: datetime, hours: int = 24) -> list[datetime]:
    """Every sweep boundary in [start, start + hours)."""
    return [start + timedelta(minutes=15 * n) for n in range(hours * 4)]


def due(spec: ReportScheduleSpec, timezone: str, instants: list[datetime]) -> list[tuple[datetime, str]]:
    found = [(instant, due_period(spec, instant, timezone)) for instant in instants]
    return [(instant, period) for instant, period in found if period is not None]


# -- the specs -------------------------------------------------------------------------------------


def test_one_sweep_per_report_kind_every_fifteen_minutes_in_utc() -> None:
    assert [(spec.state_machine, spec.hour, spec.minute, spec.day_of_month) for spec in REPORT_SCHEDULES] == [
        (DAILY_REPORT, 3, 0, None),
        (MONTHLY_REPORT, 4, 0, 1),
    ]
    for spec in REPORT_SCHEDULES:
        assert spec.expression == "cron(0/15 * * * ? *)"
        assert spec.timezone == "UTC"
        assert spec.sweep == timedelta(minutes=15)
        assert spec.input() == {"due_at": "<aws.scheduler.scheduled-time>"} == {"due_at": SCHEDULED_TIME}
    assert DAILY_REPORT_SCHEDULE.input("2026-03-10T06:00:00Z") == {"due_at": "2026-03-10T06:00:00Z"}


@pytest.mark.parametrize("minutes", [0, 7, 45, 90])
def test_a_sweep_period_must_divide_an_hour(minutes: int) -> None:
    with pytest.raises(ValueError, match="divide an hour"):
        ReportScheduleSpec(name="x", state_machine=DAILY_REPORT, hour=3, sweep_minutes=minutes)


def test_the_report_time_is_in_a_window_open_at_its_start_and_closed_at_its_end() -> None:
    spec = DAILY_REPORT_SCHEDULE
    assert spec.report_time_between(datetime(2026, 3, 10, 2, 45), datetime(2026, 3, 10, 3, 0)) == datetime(
        2026, 3, 10, 3, 0
    )
    assert spec.report_time_between(datetime(2026, 3, 10, 3, 0), datetime(2026, 3, 10, 3, 15)) is None
    # a window across midnight looks at both dates; a backwards one (a repeated hour) at none
    assert spec.report_time_between(datetime(2026, 3, 9, 23, 50), datetime(2026, 3, 11, 0, 5)) == datetime(
        2026, 3, 10, 3, 0
    )
    assert spec.report_time_between(datetime(2026, 3, 10, 3, 45), datetime(2026, 3, 10, 3, 0)) is None
    monthly = MONTHLY_REPORT_SCHEDULE
    assert monthly.report_time_between(datetime(2026, 4, 1, 3, 45), datetime(2026, 4, 1, 4, 0)) is not None
    assert monthly.report_time_between(datetime(2026, 4, 2, 3, 45), datetime(2026, 4, 2, 4, 0)) is None


# -- due selection, pure ---------------------------------------------------------------------------


@pytest.mark.parametrize("timezone", sorted(ZONES))
def test_over_a_days_96_sweeps_each_zone_is_due_exactly_once_at_its_own_three_oclock(timezone: str) -> None:
    # from 12:00 UTC the day before: the window holds 03:00 of every zone on 2026-03-10
    found = due(DAILY_REPORT_SCHEDULE, timezone, sweeps(datetime(2026, 3, 9, 12, 0, tzinfo=UTC)))
    assert found == [(ZONES[timezone], "2026-03-09")]


def test_sao_paulo_is_due_at_six_utc_and_kolkata_at_the_half_hour_the_evening_before() -> None:
    assert due_period(DAILY_REPORT_SCHEDULE, datetime(2026, 3, 10, 6, 0, tzinfo=UTC), "America/Sao_Paulo") == (
        "2026-03-09"
    )
    assert due_period(DAILY_REPORT_SCHEDULE, datetime(2026, 3, 10, 6, 15, tzinfo=UTC), "America/Sao_Paulo") is None
    assert due_period(DAILY_REPORT_SCHEDULE, datetime(2026, 3, 9, 21, 30, tzinfo=UTC), "Asia/Kolkata") == "2026-03-09"
    assert due_period(DAILY_REPORT_SCHEDULE, datetime(2026, 3, 9, 21, 15, tzinfo=UTC), "Asia/Kolkata") is None
    # no zone given: the product's default zone (Sao Paulo)
    assert due_period(DAILY_REPORT_SCHEDULE, datetime(2026, 3, 10, 6, 0, tzinfo=UTC), None) == "2026-03-09"


def test_every_day_of_a_year_is_reported_once_in_every_zone() -> None:
    """A year of sweeps (both Athens DST changes included): each local day once, in order."""
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    instants = [start + timedelta(minutes=15 * n) for n in range(365 * 96)]
    for timezone in ZONES:
        periods = [period for _, period in due(DAILY_REPORT_SCHEDULE, timezone, instants)]
        first = date.fromisoformat(periods[0])
        assert periods == [(first + timedelta(days=n)).isoformat() for n in range(len(periods))], timezone
        assert len(periods) == 365


def test_athens_spring_forward_skips_three_oclock_and_the_first_sweep_after_runs_it() -> None:
    # 2026-03-29 03:00 EET (01:00 UTC) becomes 04:00 EEST: local 03:00 never happens
    found = due(DAILY_REPORT_SCHEDULE, "Europe/Athens", sweeps(datetime(2026, 3, 28, 12, 0, tzinfo=UTC)))
    assert found == [(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-28")]
    # the day after is at 03:00 EEST, 00:00 UTC
    after = due(DAILY_REPORT_SCHEDULE, "Europe/Athens", sweeps(datetime(2026, 3, 29, 12, 0, tzinfo=UTC)))
    assert after == [(datetime(2026, 3, 30, 0, 0, tzinfo=UTC), "2026-03-29")]


def test_athens_fall_back_repeats_three_oclock_and_it_still_runs_once() -> None:
    # 2026-10-25 04:00 EEST (01:00 UTC) becomes 03:00 EET: local 03:00-04:00 happens twice
    found = due(DAILY_REPORT_SCHEDULE, "Europe/Athens", sweeps(datetime(2026, 10, 24, 12, 0, tzinfo=UTC)))
    assert found == [(datetime(2026, 10, 25, 0, 0, tzinfo=UTC), "2026-10-24")]
    # the second pass through 03:00 (01:00 UTC) is no report time: its window runs backwards
    assert due_period(DAILY_REPORT_SCHEDULE, datetime(2026, 10, 25, 1, 0, tzinfo=UTC), "Europe/Athens") is None
    assert due_period(DAILY_REPORT_SCHEDULE, datetime(2026, 10, 25, 1, 15, tzinfo=UTC), "Europe/Athens") is None


def test_sao_paulo_has_no_dst_and_is_due_at_six_utc_all_year() -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    instants = [start + timedelta(minutes=15 * n) for n in range(365 * 96)]
    times = {instant.time() for instant, _ in due(DAILY_REPORT_SCHEDULE, "America/Sao_Paulo", instants)}
    assert times == {datetime(2026, 1, 1, 6, 0).time()}


@pytest.mark.parametrize("timezone", sorted(ZONES))
def test_monthly_is_due_once_a_month_on_the_local_first_with_the_previous_month(timezone: str) -> None:
    start = datetime(2025, 12, 31, 0, 0, tzinfo=UTC)
    instants = [start + timedelta(minutes=15 * n) for n in range(350 * 96)]  # to mid-December
    found = due(MONTHLY_REPORT_SCHEDULE, timezone, instants)
    assert [period for _, period in found] == ["2025-12", *(f"2026-{month:02d}" for month in range(1, 12))]
    for instant, period in found:
        local = instant.astimezone(zone(timezone))
        assert (local.day, local.hour, local.minute) == (1, 4, 0)
        assert local.month == int(period[5:]) % 12 + 1


def test_monthly_in_kolkata_runs_on_the_last_evening_of_the_month_in_utc() -> None:
    # 2026-04-01 04:00 IST is 2026-03-31 22:30 UTC
    assert due_period(MONTHLY_REPORT_SCHEDULE, datetime(2026, 3, 31, 22, 30, tzinfo=UTC), "Asia/Kolkata") == "2026-03"
    assert due_period(MONTHLY_REPORT_SCHEDULE, datetime(2026, 4, 1, 7, 0, tzinfo=UTC), "Asia/Kolkata") is None
    assert due_period(MONTHLY_REPORT_SCHEDULE, datetime(2026, 1, 1, 7, 0, tzinfo=UTC), "America/Sao_Paulo") == (
        "2025-12"
    )


# -- the task's input ------------------------------------------------------------------------------


@dataclass
class Tenant:
    slug: str
    timezone: str | None


TENANTS = [
    Tenant("athens", "Europe/Athens"),
    Tenant("kathmandu", "Asia/Kathmandu"),
    Tenant("kolkata", "Asia/Kolkata"),
    Tenant("manaus", "America/Manaus"),
    Tenant("old", None),  # created before tenants had a zone: the default one
    Tenant("saopaulo", "America/Sao_Paulo"),
]


@pytest.fixture
def directory(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The tenant directory, faked: `list_tenants` returns TENANTS (of the zone asked)."""
    asked: list[str | None] = []

    def list_tenants(settings: Any, timezone: str | None = None) -> list[Tenant]:
        asked.append(timezone)
        return [t for t in TENANTS if timezone is None or t.timezone == timezone]

    monkeypatch.setattr(tasks, "list_tenants", list_tenants)
    return asked


def sweep(kind: str, instant: datetime, **extra: Any) -> list[dict[str, Any]]:
    event = {"task": "list_tenants", "kind": kind, "due_at": instant.strftime("%Y-%m-%dT%H:%M:%SZ"), **extra}
    return listed(event)


def listed(event: dict[str, Any], now: datetime | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = tenants_to_report(SETTINGS, event, now=now)["tenants"]
    return rows


def test_a_days_sweeps_list_every_tenant_once_with_its_yesterday(directory: list[str | None]) -> None:
    listed: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for instant in sweeps(datetime(2026, 3, 9, 12, 0, tzinfo=UTC)):
        for row in sweep("daily", instant):
            assert set(row) == {"tenant", "date"}
            listed[row["tenant"]].append((instant, row["date"]))
    assert dict(listed) == {
        "athens": [(ZONES["Europe/Athens"], "2026-03-09")],
        "kathmandu": [(ZONES["Asia/Kathmandu"], "2026-03-09")],
        "kolkata": [(ZONES["Asia/Kolkata"], "2026-03-09")],
        "manaus": [(ZONES["America/Manaus"], "2026-03-09")],
        "old": [(ZONES["America/Sao_Paulo"], "2026-03-09")],
        "saopaulo": [(ZONES["America/Sao_Paulo"], "2026-03-09")],
    }
    assert set(directory) == {None}  # a sweep lists every tenant, whatever its zone


def test_most_sweeps_list_nobody(directory: list[str | None]) -> None:
    assert sweep("daily", datetime(2026, 3, 10, 12, 0, tzinfo=UTC)) == []
    assert sweep("monthly", datetime(2026, 3, 10, 6, 0, tzinfo=UTC)) == []


def test_a_monthly_sweep_lists_the_previous_month(directory: list[str | None]) -> None:
    assert sweep("monthly", datetime(2026, 4, 1, 7, 0, tzinfo=UTC)) == [
        {"tenant": "old", "month": "2026-03"},
        {"tenant": "saopaulo", "month": "2026-03"},
    ]
    assert sweep("monthly", datetime(2026, 3, 31, 22, 30, tzinfo=UTC)) == [{"tenant": "kolkata", "month": "2026-03"}]


def test_tenant_and_zone_narrow_a_sweep(directory: list[str | None]) -> None:
    six = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    assert sweep("daily", six, tenant="saopaulo") == [{"tenant": "saopaulo", "date": "2026-03-09"}]
    assert sweep("daily", six, tenant="manaus") == []  # exists, but its 03:00 is an hour later
    assert sweep("daily", six, timezone="America/Sao_Paulo") == [{"tenant": "saopaulo", "date": "2026-03-09"}]
    with pytest.raises(DomainError, match="nobody"):
        sweep("daily", six, tenant="nobody")


def test_an_offset_other_than_z_names_the_same_instant(directory: list[str | None]) -> None:
    event = {"task": "list_tenants", "kind": "daily", "due_at": "2026-03-10T03:00:00-03:00"}
    assert listed(event) == [
        {"tenant": "old", "date": "2026-03-09"},
        {"tenant": "saopaulo", "date": "2026-03-09"},
    ]


@pytest.mark.parametrize(
    "due_at", ["", "yesterday", "2026-03-10", "2026-13-01T06:00:00Z", "2026-03-10T25:00:00Z", None, 1773122400]
)
def test_a_due_at_that_is_no_iso_instant_is_a_domain_error(directory: list[str | None], due_at: object) -> None:
    with pytest.raises(DomainError, match="due_at"):
        listed({"task": "list_tenants", "kind": "daily", "due_at": due_at})
    assert directory == []  # refused before the directory is read


def test_a_sweep_chooses_the_period_itself(directory: list[str | None]) -> None:
    event = {"task": "list_tenants", "kind": "daily", "due_at": "2026-03-10T06:00:00Z", "date": "2026-03-01"}
    with pytest.raises(DomainError, match="period"):
        listed(event)


def test_without_due_at_an_on_demand_run_keeps_the_last_complete_period(directory: list[str | None]) -> None:
    now = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # 22:00 the day before in Sao Paulo, 06:30 in Kolkata
    by_tenant = {row["tenant"]: row["date"] for row in listed({"task": "list_tenants", "kind": "daily"}, now=now)}
    assert by_tenant == {
        "athens": "2026-03-09",
        "kathmandu": "2026-03-09",
        "kolkata": "2026-03-09",
        "manaus": "2026-03-08",
        "old": "2026-03-08",
        "saopaulo": "2026-03-08",
    }
    asked = {"task": "list_tenants", "kind": "monthly", "month": "2026-01", "tenant": "manaus"}
    assert listed(asked) == [{"tenant": "manaus", "month": "2026-01"}]
