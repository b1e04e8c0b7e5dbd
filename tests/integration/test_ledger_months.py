"""Month locks: owner/admin lock and unlock a business month; a locked month accepts no
insert, update or delete of its transactions (409, nothing written); automatic postings move on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from climatrak.ledger.cost_engine import post_commitment
from tests.integration.ledger_world import LedgerWorld, ledger  # noqa: F401
from tests.integration.test_ledger_postings import (
    ledger_snapshot,
    summary_actuals,
    table_items,
)

LOCK = "/api/trakledger/budget-months/lock/"
UNLOCK = "/api/trakledger/budget-months/unlock/"
TRANSACTIONS = "/api/trakledger/transactions/"


def adjustment(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transaction_type": "adjustment",
        "category": "corrective",
        "amount": 150.5,
        "currency": "BRL",
        "occurred_at": "2026-03-10T09:30",
        "description": "Ajuste de nota",
        "meta": {"reason": "NF corrigida"},
    }
    body.update(changes)
    return body


def test_locking_a_month_returns_its_state(ledger: LedgerWorld) -> None:  # noqa: F811
    status, body = ledger.api.post(LOCK, {"month": "2026-03-01"}, user_id=5)

    assert status == 200
    assert body["month"] == "2026-03-01" and body["is_locked"] is True
    assert body["locked_by"] == 5 and body["locked_at"].endswith("Z")


def test_relocking_keeps_when_and_by_whom_it_was_locked(ledger: LedgerWorld) -> None:  # noqa: F811
    first = ledger.api.post(LOCK, {"month": "2026-03-01"}, user_id=5).json
    again = ledger.api.post(LOCK, {"month": "2026-03"}, user_id=6).json

    assert again["is_locked"] and (again["locked_at"], again["locked_by"]) == (first["locked_at"], 5)


def test_unlocking_opens_the_month_again(ledger: LedgerWorld) -> None:  # noqa: F811
    ledger.api.post(LOCK, {"month": "2026-03-01"})

    status, body = ledger.api.post(UNLOCK, {"month": "2026-03-01"})

    assert status == 200 and body["is_locked"] is False and body["locked_at"] is None
    assert ledger.api.post(TRANSACTIONS, adjustment()).status == 201


@pytest.mark.parametrize("month", ["2026-13-01", "2026-03-15", "march", ""])
def test_an_invalid_month_is_a_field_error(ledger: LedgerWorld, month: str) -> None:  # noqa: F811
    status, body = ledger.api.post(LOCK, {"month": month})

    assert status == 400 and "month" in body


@pytest.mark.parametrize("role", ["operator", "technician", "requester", "viewer"])
def test_other_roles_cannot_lock_or_unlock_months(ledger: LedgerWorld, role: str) -> None:  # noqa: F811
    assert ledger.api.post(LOCK, {"month": "2026-03-01"}, role=role).status == 403
    assert ledger.api.post(UNLOCK, {"month": "2026-03-01"}, role=role).status == 403
    assert ledger.api.post(TRANSACTIONS, adjustment(), role="owner").status == 201  # still open


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_lock_and_unlock_months(ledger: LedgerWorld, role: str) -> None:  # noqa: F811
    locked = ledger.api.post(LOCK, {"month": "2026-03-01"}, role=role)
    assert locked.status == 200 and locked.json["is_locked"] is True
    assert ledger.api.post(TRANSACTIONS, adjustment()).status == 409

    unlocked = ledger.api.post(UNLOCK, {"month": "2026-03-01"}, role=role)
    assert unlocked.status == 200 and unlocked.json["is_locked"] is False
    assert ledger.api.post(TRANSACTIONS, adjustment()).status == 201


def test_a_manual_posting_into_a_locked_month_is_409_and_writes_nothing(ledger: LedgerWorld, settings) -> None:  # noqa: F811
    ledger.api.post(TRANSACTIONS, adjustment(occurred_at="2026-03-02T10:00"))
    ledger.api.post(LOCK, {"month": "2026-03-01"})
    before = ledger_snapshot(settings)

    status, body = ledger.api.post(TRANSACTIONS, adjustment(idempotency_key="manual-1"))

    assert status == 409
    assert body["code"] == "month_locked" and "2026-03" in body["detail"]
    assert ledger_snapshot(settings) == before  # no transaction, key guard, projection change or event


def test_the_month_is_the_tenant_local_month(ledger: LedgerWorld) -> None:  # noqa: F811
    ledger.api.post(LOCK, {"month": "2026-03-01"})

    # 23:30 on February 28th in São Paulo is already March 1st in UTC: February is open
    status, body = ledger.api.post(TRANSACTIONS, adjustment(occurred_at="2026-02-28T23:30"))
    assert status == 201 and body["occurred_at"] == "2026-03-01T02:30:00.000Z"
    # 00:30 on March 1st in São Paulo is in the locked month
    assert ledger.api.post(TRANSACTIONS, adjustment(occurred_at="2026-03-01T00:30")).status == 409
    # ... and so is an instant given in UTC that falls on March 1st locally
    assert ledger.api.post(TRANSACTIONS, adjustment(occurred_at="2026-03-01T03:30:00Z")).status == 409


def test_rows_of_a_locked_month_can_be_neither_changed_nor_deleted(ledger: LedgerWorld, settings) -> None:  # noqa: F811
    row = ledger.api.post(TRANSACTIONS, adjustment()).json
    ledger.api.post(LOCK, {"month": "2026-03-01"})
    before = ledger_snapshot(settings)

    patched = ledger.api.patch(f"{TRANSACTIONS}{row['id']}/", {"amount": 10})
    moved_out = ledger.api.patch(f"{TRANSACTIONS}{row['id']}/", {"occurred_at": "2026-04-02T10:00"})
    deleted = ledger.api.delete(f"{TRANSACTIONS}{row['id']}/")

    assert [patched.status, moved_out.status, deleted.status] == [409, 409, 409]
    assert ledger_snapshot(settings) == before
    shown = ledger.api.get(f"{TRANSACTIONS}{row['id']}/").json
    assert shown["is_locked"] is True and shown["is_editable"] is False and shown["locked_at"]


def test_a_row_cannot_be_moved_into_a_locked_month(ledger: LedgerWorld, settings) -> None:  # noqa: F811
    row = ledger.api.post(TRANSACTIONS, adjustment()).json
    ledger.api.post(LOCK, {"month": "2026-04-01"})

    status, body = ledger.api.patch(f"{TRANSACTIONS}{row['id']}/", {"occurred_at": "2026-04-02T10:00"})

    assert status == 409 and body["code"] == "month_locked"
    assert ledger.api.get(f"{TRANSACTIONS}{row['id']}/").json["occurred_at"] == row["occurred_at"]


def test_corrections_go_in_as_adjustments_in_an_open_month(ledger: LedgerWorld, settings) -> None:  # noqa: F811
    ledger.api.post(TRANSACTIONS, adjustment(amount=100))
    ledger.api.post(LOCK, {"month": "2026-03-01"})

    status, _ = ledger.api.post(TRANSACTIONS, adjustment(amount=-40, occurred_at="2026-04-01T08:00"))

    assert status == 201
    cc = ledger.default_cost_center
    assert summary_actuals(settings, "acme") == {
        ("2026-03", cc, "corrective"): Decimal("100.00"),
        ("2026-04", cc, "corrective"): Decimal("-40.00"),
    }


def test_unlocking_makes_rows_editable_again(ledger: LedgerWorld) -> None:  # noqa: F811
    row = ledger.api.post(TRANSACTIONS, adjustment()).json
    assert ledger.api.post(LOCK, {"month": "2026-03-01"}).status == 200
    assert ledger.api.get(f"{TRANSACTIONS}{row['id']}/").json["is_editable"] is False

    assert ledger.api.post(UNLOCK, {"month": "2026-03-01"}).status == 200

    assert ledger.api.get(f"{TRANSACTIONS}{row['id']}/").json["is_editable"] is True
    assert ledger.api.patch(f"{TRANSACTIONS}{row['id']}/", {"amount": 99}).status == 200


def test_an_automatic_posting_is_never_dropped_by_a_lock(ledger: LedgerWorld, settings) -> None:  # noqa: F811
    for month in ("2026-03-01", "2026-04-01", "2026-06-01"):
        ledger.api.post(LOCK, {"month": month})

    post_commitment(
        settings,
        "acme",
        {
            "commitment_id": "c-9",
            "cost_center_id": None,
            "category": "contracts",
            "amount": "80",
            "budget_month": "2026-03-01",
        },
    )

    [row] = table_items(settings, "ledger_transaction")
    assert row["month"] == "2026-05" and row["occurred_at"] == "2026-05-01T03:00:00.000Z"
    assert row["meta"]["original_occurred_at"] == "2026-03-01T03:00:00.000Z"
    assert row["meta"]["moved_from_locked_month"] == "2026-03"


def test_locks_belong_to_one_tenant(ledger: LedgerWorld, settings) -> None:  # noqa: F811
    from climatrak.registry.logic import create_tenant

    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    ledger.api.post(LOCK, {"month": "2026-03-01"}, tenant="beta")

    assert ledger.api.post(TRANSACTIONS, adjustment()).status == 201
    assert ledger.api.post(TRANSACTIONS, adjustment(), tenant="beta").status == 409
