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
from climatrak.ledger import postings
from climatrak.ledger.cost_centers import delete_cost_center
from climatrak.ledger.items import CostCenterItem, LedgerKeys, default_cost_center_id
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.postings import post
from climatrak.ledger.repository import LedgerRepository
from climatrak.ledger.transaction_models import NewPosting
from tests.integration.ledger_world import LedgerWorld, ledger_fixture  # noqa: F401

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


def make_cost_center(
    settings: Settings, tenant: str, code: str, name: str | None = None, cost_center_id: str | None = None
) -> str:
    """A cost centre item written directly (any id: postings name cost centres that exist)."""
    bind_main_table(settings.main_table)
    keys = LedgerKeys(tenant)
    cost_center_id = cost_center_id or str(uuid.uuid4())
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
    """The tenant's posting repository, with cost centres `cc-1` and `cc-2`."""
    for cost_center_id in ("cc-1", "cc-2"):
        make_cost_center(settings, tenant, cost_center_id.upper(), cost_center_id=cost_center_id)
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


# ---- the cost centre is a condition of the posting's transaction -------------------------------


def test_a_group_on_one_cost_center_checks_it_once_and_marks_each_in_use(repo, settings) -> None:
    post(
        repo,
        [posting(amount=Decimal("1")), posting(amount=Decimal("2")), posting(cost_center_id="cc-2")],
        automatic=True,
    )

    assert len(table_items(settings, "ledger_transaction")) == 3
    centres = {item["id"]: item for item in table_items(settings, "cost_center")}
    assert centres["cc-1"]["in_use"] is True and centres["cc-2"]["in_use"] is True


def deleted_before_the_write(monkeypatch: pytest.MonkeyPatch, settings: Settings, cost_center_id: str) -> None:
    """The interleaving: the cost centre is deleted after the posting's reads (resolving its
    cost centre, months, keys), before its transaction."""
    real_write = postings._write

    def delete_then_write(repo: PostingRepository, placed: Any) -> Any:
        if LedgerRepository("acme", settings).get_cost_center(cost_center_id) is not None:
            delete_cost_center(LedgerRepository("acme", settings), cost_center_id)
        return real_write(repo, placed)

    monkeypatch.setattr(postings, "_write", delete_then_write)


MANUAL = {
    "transaction_type": "adjustment",
    "category": "corrective",
    "amount": 50,
    "occurred_at": "2026-03-10T09:30",
    "description": "Nota fiscal corrigida",
}


def test_a_manual_posting_whose_cost_center_was_deleted_meanwhile_is_a_field_error(
    ledger: LedgerWorld, settings, monkeypatch
) -> None:
    doomed = ledger.cost_center("DOOMED")
    deleted_before_the_write(monkeypatch, settings, doomed["id"])
    before = ledger_snapshot(settings)

    status, body = ledger.api.post("/api/trakledger/transactions/", {**MANUAL, "cost_center": doomed["id"]})

    assert status == 400 and list(body) == ["cost_center"], body
    assert ledger_snapshot(settings) == before
    assert ledger.api.get(f"/api/trakledger/cost-centers/{doomed['id']}/").status == 404


def test_moving_a_manual_posting_to_a_cost_center_deleted_meanwhile_is_a_field_error(
    ledger: LedgerWorld, settings, monkeypatch
) -> None:
    home, doomed = ledger.cost_center("HOME"), ledger.cost_center("DOOMED")
    row = ledger.ok(ledger.api.post("/api/trakledger/transactions/", {**MANUAL, "cost_center": home["id"]}), 201)
    real_resolve = postings.resolve_cost_center

    def resolve_then_delete(repo: Any, raw: Any, field: str, *, default: bool = False) -> str:
        resolved = real_resolve(repo, raw, field, default=default)
        if resolved == doomed["id"]:
            delete_cost_center(LedgerRepository("acme", settings), resolved)
        return resolved

    monkeypatch.setattr(postings, "resolve_cost_center", resolve_then_delete)
    status, body = ledger.api.patch(f"/api/trakledger/transactions/{row['id']}/", {"cost_center": doomed["id"]})

    assert status == 400 and list(body) == ["cost_center"], body
    kept = ledger.ok(ledger.api.get(f"/api/trakledger/transactions/{row['id']}/"))
    assert kept["cost_center"] == home["id"] and kept["updated_at"] == row["updated_at"]
    assert summary_actuals(settings, "acme") == {("2026-03", home["id"], "corrective"): Decimal("50.00")}


def test_an_automatic_posting_whose_cost_center_was_deleted_lands_on_the_default_one(
    ledger: LedgerWorld, repo, settings, monkeypatch
) -> None:
    doomed = ledger.cost_center("DOOMED")
    deleted_before_the_write(monkeypatch, settings, doomed["id"])

    (posted,) = post(repo, [posting(cost_center_id=doomed["id"], idempotency_key="wo:8:parts")], automatic=True)

    default = default_cost_center_id("acme")
    assert posted.created and posted.transaction.cost_center_id == default
    assert posted.transaction.meta_dict()["original_cost_center_id"] == doomed["id"]
    assert summary_actuals(settings, "acme") == {("2026-03", default, "corrective"): Decimal("100.00")}
    assert ledger.summary("2026-03-01", default)["actual"] == 100
