"""The cost engine: a closed work order's costs become ledger postings exactly once.

Work-order payloads are built here directly (the `work_order.closed` contract of the brief);
rate cards go in through the TrakLedger API.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import botocore.client
import pytest

from climatrak.core.errors import DomainError
from climatrak.core.events import add_to_outbox, new_event, outbox_item
from climatrak.ledger import postings
from climatrak.ledger.cost_engine import MissingRateCard, post_commitment, post_work_order_costs, reverse_commitment
from climatrak.ledger.items import default_cost_center_id
from climatrak.ledger.posting_repository import PostingRepository
from tests.bench.cost_engine_bench import one_snapshot_per_transaction
from tests.integration.ledger_world import LedgerWorld, ledger  # noqa: F401
from tests.integration.test_ledger_postings import (
    asset_actuals,
    ledger_actuals,
    ledger_snapshot,
    make_cost_center,
    summary_actuals,
    table_items,
)

CC = "7b0c1d7e-0000-4000-8000-000000000001"


def closed(work_order_id: int, **changes: Any) -> dict[str, Any]:
    """A `work_order.closed` payload (brief's shared contract)."""
    data: dict[str, Any] = {
        "work_order_id": work_order_id,
        "work_order_number": f"OS-{work_order_id:06d}",
        "asset_id": 11,
        "asset_tag": "CH-001",
        "cost_center_id": CC,
        "work_order_type": "CORRECTIVE",
        "category": "corrective",
        "completed_at": "2026-03-10T18:00:00.000Z",
        "labor": [
            {
                "time_entry_id": 1,
                "role": "Técnico",
                "role_code": None,
                "hours": "2.50",
                "hourly_rate": "80.00",
                "technician_id": 7,
                "work_date": "2026-03-10",
            }
        ],
        "parts": [
            {
                "part_usage_id": 1,
                "part_name": "Filtro G4",
                "part_number": "F-G4",
                "quantity": "2.000",
                "unit": "UN",
                "unit_cost": "12.50",
            }
        ],
        "third_party": [
            {
                "external_cost_id": 1,
                "cost_type": "service",
                "supplier_name": "Frio Service",
                "description": "Limpeza",
                "amount": "300.00",
                "currency": "BRL",
                "invoice_number": "NF-1",
            }
        ],
    }
    data.update(changes)
    return data


def labor(
    role: str, hours: str, rate: str | None = None, role_code: str | None = None, entry: int = 1
) -> dict[str, Any]:
    return {
        "time_entry_id": entry,
        "role": role,
        "role_code": role_code,
        "hours": hours,
        "hourly_rate": rate,
        "technician_id": None,
        "work_date": "2026-03-10",
    }


def postings_by_key(settings: Any) -> dict[str, dict[str, Any]]:
    return {item["idempotency_key"]: item for item in table_items(settings, "ledger_transaction")}


SECOND_CC = "7b0c1d7e-0000-4000-8000-000000000002"


@pytest.fixture
def world(ledger: LedgerWorld, settings: Any) -> LedgerWorld:  # noqa: F811
    """The ledger world with the cost centres the events name (CC, SECOND_CC)."""
    for code, cost_center_id in (("PLANT", CC), ("PLANT-2", SECOND_CC)):
        make_cost_center(settings, "acme", code, cost_center_id=cost_center_id)
    return ledger


def test_each_kind_is_summed_by_its_rule(world: LedgerWorld, settings: Any) -> None:
    world.rate_card("Eletricista", "100.00", "2026-01-01")
    data = closed(
        1,
        labor=[
            labor("Técnico", "2.50", "80.00", entry=1),  # the entry's rate: 200.00
            labor("Eletricista", "1.50", entry=2),  # the rate card: 150.00
            labor("eletricista", "0.25", entry=3),  # case-insensitive role: 25.00
        ],
        parts=[
            {"part_usage_id": 1, "part_name": "Filtro", "quantity": "2.000", "unit": "UN", "unit_cost": "12.50"},
            {"part_usage_id": 2, "part_name": "Parafuso", "quantity": "3.000", "unit": "UN", "unit_cost": "0.111"},
        ],
        third_party=[
            {"external_cost_id": 1, "amount": "300.00", "currency": "BRL"},
            {"external_cost_id": 2, "amount": "45.50", "currency": "BRL"},
        ],
    )

    result = post_work_order_costs(settings, "acme", data)

    assert result.transactions_created == 3 and result.skipped == 0 and result.errors == []
    rows = postings_by_key(settings)
    assert set(rows) == {"wo:1:labor", "wo:1:parts", "wo:1:third_party"}
    assert set(result.transaction_ids) == {row["id"] for row in rows.values()}
    assert rows["wo:1:labor"]["amount"] == Decimal("375.00")
    assert rows["wo:1:parts"]["amount"] == Decimal("25.33")  # 25.00 + 0.333 → 0.33 per line
    assert rows["wo:1:third_party"]["amount"] == Decimal("345.50")
    for kind, row in rows.items():
        assert row["transaction_type"] == kind.rsplit(":", 1)[1]
        assert (row["category"], row["cost_center_id"], row["asset_id"], row["work_order_id"]) == (
            "corrective",
            CC,
            11,
            1,
        )
        assert row["occurred_at"] == "2026-03-10T18:00:00.000Z" and row["month"] == "2026-03"
        assert row["meta"]["source"] == "cost_engine" and row["work_order_number"] == "OS-000001"
    meta = rows["wo:1:labor"]["meta"]
    assert meta["total_hours"] == "4.25"
    by_role = {role["role"]: role for role in meta["by_role"]}
    assert by_role["Técnico"]["hours"] == "2.50" and by_role["Técnico"]["amount"] == "200.00"
    assert by_role["Eletricista"]["amount"] == "150.00"
    assert by_role["eletricista"]["amount"] == "25.00"
    assert by_role["Eletricista"]["lines"][0]["rate_source"] == "rate_card"
    assert summary_actuals(settings, "acme") == {("2026-03", CC, "corrective"): Decimal("745.83")}
    assert asset_actuals(settings, "acme")[0] == {("2026-03", 11): Decimal("745.83")}
    assert len(table_items(settings, "work_order_transaction")) == 3
    assert len([e for e in world.events("cost.entry_posted")]) == 3


def test_the_rate_card_in_force_on_the_completion_date_in_the_tenant_time_zone(world: LedgerWorld, settings) -> None:
    world.rate_card("Eletricista", "100.00", "2026-01-01", effective_to="2026-03-10")
    world.rate_card("Eletricista", "200.00", "2026-03-11")
    # 02:00 UTC on March 11th is 23:00 on March 10th in São Paulo: the old card applies
    late_evening = closed(
        1, completed_at="2026-03-11T02:00:00Z", labor=[labor("Eletricista", "1")], parts=[], third_party=[]
    )
    next_morning = closed(
        2, completed_at="2026-03-11T12:00:00Z", labor=[labor("Eletricista", "1")], parts=[], third_party=[]
    )

    post_work_order_costs(settings, "acme", late_evening)
    post_work_order_costs(settings, "acme", next_morning)

    rows = postings_by_key(settings)
    assert rows["wo:1:labor"]["amount"] == Decimal("100.00")
    assert rows["wo:1:labor"]["meta"]["rate_date"] == "2026-03-10"
    assert rows["wo:2:labor"]["amount"] == Decimal("200.00")


def test_a_role_code_matches_the_card_of_that_code(world: LedgerWorld, settings) -> None:
    world.rate_card("Técnico de refrigeração", "90.00", "2026-01-01", role_code="TEC-REF")

    post_work_order_costs(
        settings, "acme", closed(1, labor=[labor("Técnico", "2", role_code="tec-ref")], parts=[], third_party=[])
    )

    assert postings_by_key(settings)["wo:1:labor"]["amount"] == Decimal("180.00")


def test_kinds_with_nothing_to_post_are_skipped(world: LedgerWorld, settings) -> None:
    only_parts = closed(1, labor=[labor("Técnico", "0", "80")], third_party=[{"external_cost_id": 1, "amount": "0"}])

    result = post_work_order_costs(settings, "acme", only_parts)
    nothing = post_work_order_costs(settings, "acme", closed(2, labor=[], parts=[], third_party=[]))

    assert (result.transactions_created, result.skipped) == (1, 2)
    assert set(postings_by_key(settings)) == {"wo:1:parts"}
    assert (nothing.transactions_created, nothing.skipped, nothing.transaction_ids) == (0, 3, [])


def test_a_missing_rate_card_fails_clearly_and_posts_nothing(world: LedgerWorld, settings) -> None:
    world.rate_card("Eletricista", "100.00", "2026-04-01")  # not yet in force on March 10th
    data = closed(
        1, labor=[labor("Eletricista", "1"), labor("Soldador", "2", entry=2), labor("Técnico", "1", "80", entry=3)]
    )
    before = ledger_snapshot(settings)

    with pytest.raises(MissingRateCard) as failure:
        post_work_order_costs(settings, "acme", data)

    assert failure.value.roles == ["Eletricista", "Soldador"]
    assert "Eletricista, Soldador" in failure.value.detail and "2026-03-10" in failure.value.detail
    assert ledger_snapshot(settings) == before  # not even the parts or third-party costs

    world.rate_card("Eletricista", "100.00", "2026-01-01", effective_to="2026-03-31")
    world.rate_card("Soldador", "50.00", "2026-01-01")
    retried = post_work_order_costs(settings, "acme", data)
    assert retried.transactions_created == 3
    assert postings_by_key(settings)["wo:1:labor"]["amount"] == Decimal("280.00")


@pytest.mark.parametrize("changes", [{"completed_at": "last tuesday"}, {"labor": [{"hours": "lots"}]}])
def test_a_malformed_payload_is_a_clear_event_failure_that_posts_nothing(
    world: LedgerWorld, settings, changes: dict[str, Any]
) -> None:
    before = ledger_snapshot(settings)

    with pytest.raises(DomainError) as failure:
        post_work_order_costs(settings, "acme", closed(1, **changes))

    assert failure.value.code == "invalid_event" and next(iter(changes)) in failure.value.detail
    assert ledger_snapshot(settings) == before


def test_the_same_event_delivered_twice_posts_one_set(world: LedgerWorld, settings) -> None:
    first = post_work_order_costs(settings, "acme", closed(1))
    second = post_work_order_costs(settings, "acme", closed(1))

    assert first.transactions_created == 3
    assert (second.transactions_created, second.skipped, second.transaction_ids) == (0, 3, [])
    assert len(table_items(settings, "ledger_transaction")) == 3
    assert summary_actuals(settings, "acme") == {("2026-03", CC, "corrective"): Decimal("525.00")}


def test_the_category_follows_the_work_order(world: LedgerWorld, settings) -> None:
    post_work_order_costs(settings, "acme", closed(1, category="preventive", work_order_type="PREVENTIVE"))
    post_work_order_costs(settings, "acme", closed(2, category="emergency", work_order_type="EMERGENCY"))
    post_work_order_costs(settings, "acme", closed(3, category="", work_order_type="PREDICTIVE"))
    post_work_order_costs(settings, "acme", closed(4, category="", work_order_type="REQUEST"))

    categories = {key: row["category"] for key, row in postings_by_key(settings).items() if key.endswith(":parts")}
    assert categories == {
        "wo:1:parts": "preventive",
        "wo:2:parts": "corrective",
        "wo:3:parts": "predictive",
        "wo:4:parts": "corrective",
    }


def test_a_work_order_without_a_cost_center_posts_to_the_default_one(world: LedgerWorld, settings) -> None:
    post_work_order_costs(settings, "acme", closed(1, cost_center_id=None, asset_id=None))

    rows = postings_by_key(settings)
    assert {row["cost_center_id"] for row in rows.values()} == {default_cost_center_id("acme")}
    assert all(row.get("asset_id") is None for row in rows.values())
    assert world.ok(world.api.get(f"/api/trakledger/cost-centers/{default_cost_center_id('acme')}/"))["code"] == "GERAL"


def test_costs_of_a_locked_month_land_in_the_next_open_month(world: LedgerWorld, settings) -> None:
    world.api.post("/api/trakledger/budget-months/lock/", {"month": "2026-03-01"})

    result = post_work_order_costs(settings, "acme", closed(1))

    assert result.transactions_created == 3
    for row in postings_by_key(settings).values():
        assert row["month"] == "2026-04" and row["occurred_at"] == "2026-04-01T03:00:00.000Z"
        assert row["meta"]["original_occurred_at"] == "2026-03-10T18:00:00.000Z"
        assert row["meta"]["moved_from_locked_month"] == "2026-03"
    assert summary_actuals(settings, "acme") == {("2026-04", CC, "corrective"): Decimal("525.00")}


# ---- concurrency ------------------------------------------------------------------------------


@pytest.fixture
def serialised_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's in-process DynamoDB is not thread-safe (a transaction deep-copies the table and
    restores it on failure), so in these tests every AWS call goes through one lock. Threads
    still interleave between calls — read guards, read months, write — which is where the
    races live; the conditions inside each TransactWrite are what must hold."""
    lock = threading.RLock()
    original = botocore.client.BaseClient._make_api_call

    def locked(self: Any, operation: str, params: dict[str, Any]) -> Any:
        with lock:
            return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", locked)
    with one_snapshot_per_transaction():  # moto's per-operation table copies, made once: speed only
        yield


def test_two_consumers_racing_on_one_event_post_one_set(world: LedgerWorld, settings, serialised_moto) -> None:
    barrier = threading.Barrier(4)

    def consume() -> Any:
        barrier.wait()
        return post_work_order_costs(settings, "acme", closed(1))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: consume(), range(4)))

    assert sum(result.transactions_created for result in results) == 3
    assert len(table_items(settings, "ledger_transaction")) == 3
    assert len(table_items(settings, "outbox")) == 3
    assert summary_actuals(settings, "acme") == {("2026-03", CC, "corrective"): Decimal("525.00")}


def test_twenty_concurrent_completions_keep_the_summary_equal_to_the_ledger(
    world: LedgerWorld, settings, serialised_moto
) -> None:
    second = SECOND_CC
    payloads = [
        closed(
            number,
            cost_center_id=CC if number % 2 else second,
            category="preventive" if number % 3 == 0 else "corrective",
            labor=[labor("Técnico", f"{number}.25", "80.00")],
            parts=[{"part_usage_id": number, "quantity": "1.000", "unit_cost": f"{number}.01"}],
            third_party=[{"external_cost_id": number, "amount": "10.10"}],
            asset_id=number % 4,
        )
        for number in range(1, 21)
    ]
    barrier = threading.Barrier(20)

    def complete(data: dict[str, Any]) -> Any:
        barrier.wait()
        return post_work_order_costs(settings, "acme", data)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(complete, payloads))

    assert sum(result.transactions_created for result in results) == 60
    assert summary_actuals(settings, "acme") == ledger_actuals(settings, "acme")
    expected = sum(
        (Decimal(n) + Decimal("0.25")) * 80 + Decimal(n) + Decimal("0.01") + Decimal("10.10") for n in range(1, 21)
    )
    assert sum(summary_actuals(settings, "acme").values()) == expected
    projection, ledger_rows = asset_actuals(settings, "acme")
    assert projection == ledger_rows
    summary = world.summary("2026-03-01")
    assert Decimal(str(summary["actual"])) == expected


def test_costs_of_a_cost_center_deleted_meanwhile_land_on_the_default_one(
    world: LedgerWorld, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cost is never dropped: the cost centre named by the event is deleted after the work
    order closed (here: between the engine's reads and its transaction); the three postings go
    to the tenant default, naming the original in meta, and the event succeeds."""
    doomed = world.cost_center("DOOMED")["id"]
    real_write = postings._write

    def delete_then_write(repo: PostingRepository, placed: Any) -> Any:
        if world.repo().get_cost_center(doomed) is not None:
            assert world.api.delete(f"/api/trakledger/cost-centers/{doomed}/").status == 204
        return real_write(repo, placed)

    monkeypatch.setattr(postings, "_write", delete_then_write)
    result = post_work_order_costs(settings, "acme", closed(1, cost_center_id=doomed))

    default = default_cost_center_id("acme")
    assert result.transactions_created == 3 and not result.errors
    rows = postings_by_key(settings).values()
    assert {row["cost_center_id"] for row in rows} == {default}
    assert {row["meta"]["original_cost_center_id"] for row in rows} == {doomed}
    assert summary_actuals(settings, "acme") == {("2026-03", default, "corrective"): Decimal("525.00")}
    # a redelivery finds the keys: nothing moves again
    assert post_work_order_costs(settings, "acme", closed(1, cost_center_id=doomed)).transactions_created == 0


# ---- commitments --------------------------------------------------------------------------


def approved(commitment_id: str = "c-1", **changes: Any) -> dict[str, Any]:
    data = {
        "commitment_id": commitment_id,
        "cost_center_id": CC,
        "category": "contracts",
        "amount": "1500.00",
        "currency": "BRL",
        "budget_month": "2026-03-01",
        "description": "Contrato chiller",
        "vendor_name": "Frio Service",
        "work_order_id": None,
    }
    data.update(changes)
    return data


def test_an_approved_commitment_posts_once_at_the_start_of_its_budget_month(world: LedgerWorld, settings) -> None:
    first = post_commitment(settings, "acme", approved())
    second = post_commitment(settings, "acme", approved())

    assert (first.transactions_created, second.transactions_created) == (1, 0)
    [row] = table_items(settings, "ledger_transaction")
    assert row["idempotency_key"] == "commitment:c-1"
    assert (row["transaction_type"], row["category"], row["amount"]) == ("other", "contracts", Decimal("1500.00"))
    assert row["occurred_at"] == "2026-03-01T03:00:00.000Z" and row["month"] == "2026-03"
    assert row["meta"]["source"] == "commitment" and row["meta"]["commitment_id"] == "c-1"
    assert summary_actuals(settings, "acme") == {("2026-03", CC, "contracts"): Decimal("1500.00")}


def test_a_commitment_approved_into_a_locked_month_posts_in_the_next_open_one(world: LedgerWorld, settings) -> None:
    PostingRepository("acme", settings).set_month_lock("2026-03", True, 1)

    post_commitment(settings, "acme", approved(work_order_id=5))

    [row] = table_items(settings, "ledger_transaction")
    assert row["month"] == "2026-04" and row["meta"]["moved_from_locked_month"] == "2026-03"
    assert len(table_items(settings, "work_order_transaction")) == 1


def test_a_commitment_whose_cost_center_is_gone_posts_to_the_default_one(world: LedgerWorld, settings) -> None:
    gone = "7b0c1d7e-0000-4000-8000-0000000000ff"

    result = post_commitment(settings, "acme", approved(cost_center_id=gone))

    [row] = table_items(settings, "ledger_transaction")
    assert result.transactions_created == 1
    assert row["cost_center_id"] == default_cost_center_id("acme") and row["meta"]["original_cost_center_id"] == gone


def cancelled(commitment_id: str = "c-1", **changes: Any) -> dict[str, Any]:
    data = {key: approved(commitment_id)[key] for key in ("commitment_id", "cost_center_id", "category", "amount")}
    data.update(currency="BRL", budget_month="2026-03-01", was_approved=True, **changes)
    return data


def test_a_cancelled_commitment_is_reversed_once_by_an_adjustment(world: LedgerWorld, settings) -> None:
    post_commitment(settings, "acme", approved())

    first = reverse_commitment(settings, "acme", cancelled(reason="contrato encerrado"))
    again = reverse_commitment(settings, "acme", cancelled())

    assert (first.transactions_created, again.transactions_created) == (1, 0)
    rows = postings_by_key(settings)
    posting, reversal = rows["commitment:c-1"], rows["commitment:c-1:reversal"]
    assert (reversal["transaction_type"], reversal["amount"]) == ("adjustment", Decimal("-1500.00"))
    assert reversal["meta"] == {
        "source": "commitment",
        "reason": "commitment cancelled",
        "reverses": posting["id"],
        "commitment_id": "c-1",
        "cancellation_reason": "contrato encerrado",
    }
    assert reversal["occurred_at"] == posting["occurred_at"] and summary_actuals(settings, "acme") == {}


def test_a_cancellation_without_an_approval_posting_posts_nothing(world: LedgerWorld, settings) -> None:
    result = reverse_commitment(settings, "acme", cancelled())

    assert (result.transactions_created, result.skipped) == (0, 1)
    assert table_items(settings, "ledger_transaction") == []


def test_a_reversal_follows_an_approval_moved_to_the_default_cost_center(world: LedgerWorld, settings) -> None:
    gone = "7b0c1d7e-0000-4000-8000-0000000000ff"
    post_commitment(settings, "acme", approved(cost_center_id=gone))

    reverse_commitment(settings, "acme", cancelled(cost_center_id=gone))

    reversal = postings_by_key(settings)["commitment:c-1:reversal"]
    assert reversal["cost_center_id"] == default_cost_center_id("acme") and summary_actuals(settings, "acme") == {}


# ---- the consumer Lambda ----------------------------------------------------------------------


def sqs_batch(*envelopes: Any) -> dict[str, Any]:
    import json

    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"r-{index}",
                "body": json.dumps(
                    {"detail-type": e.event_name, "source": e.source, "detail": e.model_dump(mode="json")}
                ),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:climatrak-cost-engine",
                "awsRegion": "us-east-1",
            }
            for index, e in enumerate(envelopes)
        ]
    }


class Context:
    function_name = "cost_engine"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cost_engine"
    aws_request_id = "req"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def closed_event(work_order_id: int, **changes: Any) -> Any:
    return new_event(
        "acme",
        "work_order.closed",
        "work_order",
        work_order_id,
        closed(work_order_id, **changes),
        idempotency_key=f"work_order.closed:{work_order_id}",
    )


def test_the_consumer_posts_and_a_redelivery_changes_nothing(world: LedgerWorld, settings) -> None:
    from functions.cost_engine.handler import handler

    event = closed_event(1)
    first = handler(sqs_batch(event), Context())
    again = handler(sqs_batch(event), Context())

    assert first == {"batchItemFailures": []} and again == {"batchItemFailures": []}
    assert len(table_items(settings, "ledger_transaction")) == 3


def test_a_missing_rate_card_is_a_failed_event_with_a_clear_error(world: LedgerWorld, settings) -> None:
    from functions.cost_engine.handler import handler

    event = closed_event(2, labor=[labor("Soldador", "2")])
    outbox_item(event).save()  # as CMMS wrote it with the work order's completion

    response = handler(sqs_batch(event), Context())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    [stored] = [item for item in table_items(settings, "outbox") if item["sk"] == event.event_id]
    assert "Soldador" in stored["consumer_errors"]["cost_engine"]["error"]
    assert table_items(settings, "ledger_transaction") == []


def test_a_closed_work_order_flows_through_the_events_backbone_into_the_ledger(world: LedgerWorld, settings) -> None:
    from pynamodb.transactions import TransactWrite

    from climatrak.core.items import transaction_connection
    from tests.integration.event_pump import pump_events

    PostingRepository("acme", settings)  # binds the Main table
    with TransactWrite(connection=transaction_connection()) as tw:  # as CMMS emits it on completion
        add_to_outbox(tw, closed_event(3))
        add_to_outbox(tw, closed_event(3))  # a duplicate emission: a second event for the same costs

    result = pump_events(settings)

    assert result.delivered["cost_engine"] == 2 and not result.failed
    assert set(postings_by_key(settings)) == {"wo:3:labor", "wo:3:parts", "wo:3:third_party"}
    assert world.summary("2026-03-01")["actual"] == 525
