"""Automatic month locking: the tenant setting over the API, and the daily report applying it."""

from __future__ import annotations

import pytest

from climatrak.core.config import Settings
from climatrak.ledger.month_close import lock_due_month
from climatrak.ledger.repository import LedgerRepository
from tests.integration.conftest import ApiClient

SETTINGS = "/api/trakledger/settings/"


def test_owners_and_admins_set_automatic_locking_everyone_reads_it(api: ApiClient, tenant: str) -> None:
    assert api.get(SETTINGS, role="viewer").json == {"auto_lock_days": None}
    assert api.request("PUT", SETTINGS, body={"auto_lock_days": 5}, role="operator").status == 403
    assert api.request("PUT", SETTINGS, body={"auto_lock_days": 0}, role="admin").status == 400

    assert api.request("PUT", SETTINGS, body={"auto_lock_days": 5}, role="admin").json == {"auto_lock_days": 5}
    assert api.get(SETTINGS, role="technician").json == {"auto_lock_days": 5}
    assert api.get(SETTINGS, tenant="beta").status in (200, 404)  # another tenant never sees acme's
    assert api.get(SETTINGS, tenant="beta").json != {"auto_lock_days": 5}


@pytest.mark.parametrize(
    ("day", "locked"),
    [("2026-11-02", None), ("2026-11-03", "2026-10"), ("2026-11-20", "2026-10")],
)
def test_the_previous_month_locks_once_its_days_have_passed(
    api: ApiClient, tenant: str, settings: Settings, day: str, locked: str | None
) -> None:
    api.request("PUT", SETTINGS, body={"auto_lock_days": 3})
    repo = LedgerRepository("acme", settings)

    assert lock_due_month(repo, day) == locked
    states = repo.month_states()
    assert bool(states.get("2026-10") and states["2026-10"].locked) is (locked is not None)
    assert lock_due_month(repo, day) is None  # already locked, or still not due


def test_without_the_setting_nothing_locks(tenant: str, settings: Settings) -> None:
    assert lock_due_month(LedgerRepository("acme", settings), "2026-11-20") is None
