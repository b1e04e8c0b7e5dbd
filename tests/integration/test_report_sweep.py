"""The report sweeps on the tenant directory (moto): a day's 96 sweeps list each tenant once, at
its own 03:00, whatever its zone; the month's on its own 1st."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from climatrak.core.config import Settings
from climatrak.core.errors import DomainError
from climatrak.registry.logic import create_tenant
from climatrak.reports.tasks import run_task

TENANTS = {
    "saopaulo": ("America/Sao_Paulo", datetime(2026, 3, 10, 6, 0, tzinfo=UTC)),
    "manaus": ("America/Manaus", datetime(2026, 3, 10, 7, 0, tzinfo=UTC)),
    "kolkata": ("Asia/Kolkata", datetime(2026, 3, 9, 21, 30, tzinfo=UTC)),
    "kathmandu": ("Asia/Kathmandu", datetime(2026, 3, 9, 21, 15, tzinfo=UTC)),
    "athens": ("Europe/Athens", datetime(2026, 3, 10, 1, 0, tzinfo=UTC)),
}


@pytest.fixture
def tenants(settings: Settings, clean_aws: None) -> None:
    for slug, (timezone, _) in TENANTS.items():
        create_tenant(settings, slug, slug.title(), timezone)


def sweep(settings: Settings, kind: str, instant: datetime) -> list[dict[str, str]]:
    event = {"task": "list_tenants", "kind": kind, "due_at": instant.strftime("%Y-%m-%dT%H:%M:%SZ")}
    rows: list[dict[str, str]] = run_task(settings, None, event)["tenants"]
    return rows


def test_a_days_sweeps_report_each_tenant_once_at_its_own_three_oclock(settings: Settings, tenants: None) -> None:
    listed: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    start = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    for n in range(96):
        instant = start + timedelta(minutes=15 * n)
        for row in sweep(settings, "daily", instant):
            listed[row["tenant"]].append((instant, row["date"]))
    assert dict(listed) == {slug: [(due, "2026-03-09")] for slug, (_, due) in TENANTS.items()}


def test_the_months_sweeps_report_each_tenant_once_on_its_own_first(settings: Settings, tenants: None) -> None:
    listed: dict[str, list[str]] = defaultdict(list)
    start = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    for n in range(96):
        for row in sweep(settings, "monthly", start + timedelta(minutes=15 * n)):
            listed[row["tenant"]].append(row["month"])
    assert dict(listed) == {slug: ["2026-03"] for slug in TENANTS}


def test_a_sweep_with_an_invalid_due_at_fails_the_listing(settings: Settings, tenants: None) -> None:
    with pytest.raises(DomainError, match="due_at"):
        run_task(settings, None, {"task": "list_tenants", "kind": "daily", "due_at": "03:00 tomorrow"})
