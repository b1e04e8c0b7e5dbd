"""The posting service: one transaction per posting group, idempotency keys, month locks,
the projection moving with the ledger, the outbox event and the work-order link.

Also holds the small ledger helpers the other ledger test files import (non-test names)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import boto3
import pytest

from climatrak.core.config import Settings
from climatrak.core.items import bind_main_table
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.items import CostCenterItem, LedgerKeys
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.postings import post
from climatrak.ledger.transaction_models import NewPosting

REGION = "us-east-1"


# ---- helpers shared by the ledger test files ------------------------------------------------


def table_items(settings: Settings, kind: str | None = None) -> list[dict[str, Any]]:
    """Every Main-table item (optionally of one kind), as plain python values."""
    table = boto3.resource("dynamodb", region_name=REGION).Table(settings.main_table)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return [item for item in items if kind is None or item.get("kind") == kind]


def ledger_snapshot(settings: Settings) -> dict[str, int]:
    """How many items of each ledger-posting kind exist (to prove nothing was written)."""
    kinds = ("ledger_transaction", "ledger_key", "work_order_transaction", "summary_row", "asset_cost", "outbox")
    items = table_items(settings)
    counts = {kind: sum(1 for item in items if item.get("kind") == kind) for kind in kinds}
    counts["actual_total_cents"] = int(
        sum(Decimal(item.get("actual", 0)) for item in items if item.get("kind") == "summary_row") * 100
    )
    return counts


def make_cost_center(settings: Settings, tenant: str, code: str, name: str | None = None) -> str:
    bind_main_table(settings.main_table)
    keys = LedgerKeys(tenant)
    cost_center_id = str(uuid.uuid4())
    now = utc_now_iso()
    CostCenterItem(
        keys.pk,
        keys.cost_center(cost_center_id),
        id=cost_center_id,
        code=code,
        name=name or f"Centro {code}",
        created_at=now,
        updated_at=now,
    ).save()
    return cost_center_id


def summary_actuals(settings: Settings, tenant: str) -> dict[tuple[str, str, str], Decimal]:
    """(month, cost centre, category) → actual, from the projection."""
    prefix = f"T#{tenant}#SUMMARY#"
    return {
        (item["pk"].removeprefix(prefix), item["cost_center_id"], item["category"]): Decimal(item["actual"])
        for item in table_items(settings, "summary_row")
        if item["pk"].startswith(prefix) and Decimal(item.get("actual", 0)) != 0
    }


def ledger_actuals(settings: Settings, tenant: str) -> dict[tuple[str, str, str], Decimal]:
    """(month, cost centre, category) → Σ amount, from the ledger itself."""
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for item in table_items(settings, "ledger_transaction"):
        if item["pk"].startswith(f"T#{tenant}#LEDGER#"):
            sums[(item["month"], item["cost_center_id"], item["category"])] += Decimal(item["amount"])
    return {key: value for key, value in sums.items() if value != 0}


def asset_actuals(
    settings: Settings, tenant: str
) -> tuple[dict[tuple[str, int], Decimal], dict[tuple[str, int], Decimal]]:
    """(projection, ledger) actual per (month, asset)."""
    projection = {
        (item["pk"].rsplit("#", 1)[1], int(item["asset_id"])): Decimal(item["actual"])
        for item in table_items(settings, "asset_cost")
        if item["pk"].startswith(f"T#{tenant}#") and Decimal(item["actual"]) != 0
    }
    ledger: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for item in table_items(settings, "ledger_transaction"):
        if item["pk"].startswith(f"T#{tenant}#") and item.get("asset_id") is not None:
            ledger[(item["month"], int(item["asset_id"]))] += Decimal(item["amount"])
    return projection, {key: value for key, value in ledger.items() if value != 0}


def posting(**changes: Any) -> NewPosting:
    values: dict[str, Any] = {
        "transaction_type": "other",
        "category": "corrective",
        "amount": Decimal("100.00"),
        "occurred_at": "2026-03-10T15:00:00Z",
        "cost_center_id": "cc-1",
        "meta": {"source": "test"},
    }
    values.update(changes)
    return NewPosting(**values)


# ---- tests ------------------------------------------------------------------------------------


@pytest.fixture
def repo(tenant: str, settings: Settings) -> PostingRepository:
    return PostingRepository(tenant, settings)


def test_one_posting_writes_the_transaction_its_guard_link_projection_and_event(repo, settings) -> None:
    (posted,) = post(
        repo,
        [posting(idempotency_key="k-1", work_order_id=7, asset_id=3, amount=Decimal("123.456"))],
        automatic=True,
    )

    item = posted.transaction
    assert posted.created
    assert item.pk == "T#acme#LEDGER#2026-03" and item.sk == f"2026-03-10T15:00:00.000Z#{item.id}"
    assert item.amount == Decimal("123.46")  # two places, half up
    assert item.gsi1pk == f"T#acme#TX#{item.id}"
    [guard] = table_items(settings, "ledger_key")
    assert (guard["pk"], guard["sk"], guard["transaction_id"]) == ("T#acme#LEDGERKEY", "k-1", item.id)
    [link] = table_items(settings, "work_order_transaction")
    assert (link["pk"], link["sk"], link["ledger_sk"]) == ("T#acme#WO#00000007", f"TX#{item.id}", item.sk)
    assert summary_actuals(settings, "acme") == {("2026-03", "cc-1", "corrective"): Decimal("123.46")}
    assert asset_actuals(settings, "acme")[0] == {("2026-03", 3): Decimal("123.46")}
    [event] = table_items(settings, "outbox")
    envelope = event["envelope"]
    assert envelope["event_name"] == "cost.entry_posted"
    assert envelope["aggregate"] == {"type": "ledger_transaction", "id": item.id}
    assert envelope["data"]["amount"] == "123.46" and envelope["data"]["idempotency_key"] == "k-1"


def test_the_month_is_the_tenant_local_month(repo) -> None:
    # 01:30 UTC on March 1st is still February 28th in São Paulo (UTC-3)
    (posted,) = post(repo, [posting(occurred_at="2026-03-01T01:30:00Z")], automatic=True)
    assert posted.transaction.month == "2026-02"
    assert posted.transaction.pk == "T#acme#LEDGER#2026-02"


def test_the_same_key_twice_posts_once(repo, settings) -> None:
    first = post(repo, [posting(idempotency_key="wo:1:labor")], automatic=True)[0]
    second = post(repo, [posting(idempotency_key="wo:1:labor", amount=Decimal("999"))], automatic=True)[0]

    assert first.created and not second.created
    assert second.transaction.id == first.transaction.id
    assert second.transaction.amount == Decimal("100.00")
    assert len(table_items(settings, "ledger_transaction")) == 1
    assert len(table_items(settings, "outbox")) == 1
    assert summary_actuals(settings, "acme") == {("2026-03", "cc-1", "corrective"): Decimal("100.00")}


def test_a_group_posts_only_its_unposted_keys(repo, settings) -> None:
    post(repo, [posting(idempotency_key="wo:2:parts", amount=Decimal("10"))], automatic=True)

    outcomes = post(
        repo,
        [
            posting(idempotency_key="wo:2:labor", amount=Decimal("1")),
            posting(idempotency_key="wo:2:parts", amount=Decimal("2")),
        ],
        automatic=True,
    )

    assert [outcome.created for outcome in outcomes] == [True, False]
    assert outcomes[1].transaction.amount == Decimal("10.00")
    assert len(table_items(settings, "ledger_transaction")) == 2
    assert sum(summary_actuals(settings, "acme").values()) == Decimal("11.00")


def test_the_key_guard_is_the_check_even_when_a_read_is_stale(repo, settings, monkeypatch) -> None:
    """Nothing is read before the transaction: the guard refuses it. Even if the guards read
    after that refusal come back stale (a replica behind), the next attempt is refused again
    and the second read returns the winner's posting."""
    winner = post(repo, [posting(idempotency_key="wo:3:labor")], automatic=True)[0]
    real_guards = repo.guards
    calls = []

    def stale_then_real(keys: Any) -> Any:
        calls.append(1)
        return {} if len(calls) == 1 else real_guards(keys)

    monkeypatch.setattr(repo, "guards", stale_then_real)
    (outcome,) = post(repo, [posting(idempotency_key="wo:3:labor", amount=Decimal("5"))], automatic=True)

    assert len(calls) == 2
    assert not outcome.created and outcome.transaction.id == winner.transaction.id
    assert len(table_items(settings, "ledger_transaction")) == 1
    assert len(table_items(settings, "outbox")) == 1


def test_projection_equals_the_ledger_sum(repo, settings) -> None:
    other = "cc-2"
    post(repo, [posting(amount=Decimal("10.10"))], automatic=True)
    post(repo, [posting(amount=Decimal("20.20"), category="preventive", asset_id=1)], automatic=True)
    post(
        repo,
        [posting(amount=Decimal("0.01"), cost_center_id=other, occurred_at="2026-04-02T12:00:00Z")],
        automatic=True,
    )
    post(
        repo,
        [
            posting(transaction_type="adjustment", amount=Decimal("-5.05"), asset_id=1),
            posting(amount=Decimal("7"), occurred_at="2026-02-27T12:00:00Z", asset_id=2),
        ],
        automatic=True,
    )

    assert summary_actuals(settings, "acme") == ledger_actuals(settings, "acme")
    assert ledger_actuals(settings, "acme") == {
        ("2026-03", "cc-1", "corrective"): Decimal("5.05"),
        ("2026-03", "cc-1", "preventive"): Decimal("20.20"),
        ("2026-04", "cc-2", "corrective"): Decimal("0.01"),
        ("2026-02", "cc-1", "corrective"): Decimal("7.00"),
    }
    projection, ledger = asset_actuals(settings, "acme")
    assert projection == ledger == {("2026-03", 1): Decimal("15.15"), ("2026-02", 2): Decimal("7.00")}


def test_a_manual_posting_into_a_locked_month_is_refused_and_writes_nothing(repo, settings) -> None:
    from climatrak.core.errors import Conflict

    post(repo, [posting(amount=Decimal("1"))], automatic=False)
    repo.set_month_lock("2026-03", True, 1)
    before = ledger_snapshot(settings)

    with pytest.raises(Conflict) as refused:
        post(repo, [posting(idempotency_key="m-1", work_order_id=9, asset_id=4)], automatic=False)

    assert refused.value.code == "month_locked"
    assert ledger_snapshot(settings) == before


def test_a_lock_the_reads_miss_still_refuses_a_manual_posting_whole(repo, settings, monkeypatch) -> None:
    """The month's condition refuses the transaction; the locks read after the refusal are
    stale (the lock landed in between), so a second attempt is made and refused too; then the
    fresh read turns it into 409. Nothing is written at any point."""
    from climatrak.core.errors import Conflict

    post(repo, [posting(amount=Decimal("1"))], automatic=False)
    stale = repo.month_states()
    repo.set_month_lock("2026-03", True, 1)
    before = ledger_snapshot(settings)
    real_states = repo.month_states
    calls = []

    def stale_then_real() -> Any:
        calls.append(1)
        return stale if len(calls) == 1 else real_states()

    monkeypatch.setattr(repo, "month_states", stale_then_real)
    with pytest.raises(Conflict):
        post(repo, [posting(idempotency_key="m-2", work_order_id=9, asset_id=4)], automatic=False)

    assert len(calls) == 2
    assert ledger_snapshot(settings) == before


def test_an_automatic_posting_into_locked_months_lands_in_the_first_open_one(repo, settings) -> None:
    repo.set_month_lock("2026-03", True, 1)
    repo.set_month_lock("2026-04", True, 1)

    (posted,) = post(repo, [posting(idempotency_key="wo:4:labor")], automatic=True)

    item = posted.transaction
    assert item.month == "2026-05"
    assert item.occurred_at == "2026-05-01T03:00:00.000Z"  # local midnight in São Paulo
    meta = item.meta.as_dict()
    assert meta["original_occurred_at"] == "2026-03-10T15:00:00.000Z"
    assert meta["moved_from_locked_month"] == "2026-03"
    assert summary_actuals(settings, "acme") == {("2026-05", "cc-1", "corrective"): Decimal("100.00")}


def test_a_lock_the_reads_miss_still_moves_an_automatic_posting_on(repo, settings, monkeypatch) -> None:
    stale = repo.month_states()
    repo.set_month_lock("2026-03", True, 1)
    real_states = repo.month_states
    calls = []

    def stale_then_real() -> Any:
        calls.append(1)
        return stale if len(calls) == 1 else real_states()

    monkeypatch.setattr(repo, "month_states", stale_then_real)
    (posted,) = post(repo, [posting(idempotency_key="wo:5:labor")], automatic=True)

    assert len(calls) == 2
    assert posted.transaction.month == "2026-04"
    assert len(table_items(settings, "ledger_transaction")) == 1


def test_a_first_posting_creates_the_month_marker_listings_walk(repo, settings) -> None:
    post(repo, [posting(), posting(occurred_at="2026-05-05T12:00:00Z")], automatic=True)

    states = repo.month_states()
    assert sorted(states) == ["2026-03", "2026-05"]
    assert not any(state.locked for state in states.values())
