"""Commitments (API.md §5.5): draft → submitted → approved | rejected, cancel; each status change
moves committed_pending / committed_approved in the same transaction; approval emits
`commitment.approved` exactly once; cancelling an approved commitment emits `commitment.cancelled`
and the cost engine reverses the approval posting, whatever order the two events arrive in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from pynamodb.connection import Connection
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError
from pynamodb.transactions import TransactWrite

from climatrak.core.errors import Conflict, DomainError
from climatrak.core.events import add_to_outbox, new_event
from climatrak.core.identity import Principal, Role
from climatrak.core.items import transaction_connection
from climatrak.ledger import commitments, cost_engine
from tests.integration.event_pump import pump_events
from tests.integration.ledger_world import YEAR, LedgerWorld, ledger_fixture  # noqa: F401

COMMITMENTS = "/api/trakledger/commitments/"
MARCH = f"{YEAR}-03"


def committed(ledger: LedgerWorld, month: str = MARCH) -> tuple[Decimal, Decimal]:
    totals = ledger.totals(month)
    return totals["committed_pending"], totals["committed_approved"]


@pytest.fixture
def center(ledger: LedgerWorld) -> str:
    return str(ledger.cost_center("CP", "Central plant")["id"])


def test_a_commitment_as_the_frontend_creates_it(ledger: LedgerWorld, center: str) -> None:
    body = {
        "cost_center": center,
        "category": "contracts",
        "amount": 1200.5,
        "currency": "BRL",
        "budget_month": f"{YEAR}-03-17",
        "description": "Monthly chiller contract",
        "vendor_name": "Frio Service",
        "submit": True,
    }
    status, item = ledger.api.post(COMMITMENTS, body)
    assert status == 201
    assert item["budget_month"] == f"{YEAR}-03-01"  # normalised to the first day
    assert item["status"] == "submitted" and item["status_display"] == "Submetido"
    assert item["amount"] == "1200.50" and item["category_display"] == "Contratos"
    assert item["cost_center"] == item["cost_center_id"] == center and item["cost_center_code"] == "CP"
    assert committed(ledger) == (Decimal("1200.50"), 0)
    assert ledger.ok(ledger.api.get(f"{COMMITMENTS}{item['id']}/")) == item


def test_a_draft_counts_nothing_until_submitted(ledger: LedgerWorld, center: str) -> None:
    draft = ledger.commitment(center, "300", submit=False)
    assert draft["status"] == "draft" and committed(ledger) == (0, 0)
    submitted = ledger.act(draft["id"], "submit")
    assert submitted["status"] == "submitted" and committed(ledger) == (Decimal("300"), 0)
    assert ledger.api.post(f"{COMMITMENTS}{draft['id']}/submit/").status == 400


def test_approval_moves_pending_to_approved_and_emits_one_event(ledger: LedgerWorld, center: str) -> None:
    item = ledger.commitment(center, "1200.00")
    approved = ledger.act(item["id"], "approve")
    assert approved["status"] == "approved" and approved["approved_by"] == 1 and approved["approved_at"]
    assert committed(ledger) == (0, Decimal("1200.00"))
    summary = ledger.summary(f"{MARCH}-01")
    assert (summary["committed"], summary["committed_approved"], summary["committed_pending"]) == (1200, 1200, 0)

    [event] = ledger.events("commitment.approved")
    assert event["event_id"] == approved["event_id"]
    assert event["idempotency_key"] == f"commitment.approved:{item['id']}"
    assert event["aggregate"] == {"type": "commitment", "id": item["id"]}
    data = event["data"]
    assert data["commitment_id"] == item["id"] and data["cost_center_id"] == center
    assert data["amount"] == "1200.00" and data["currency"] == "BRL" and data["category"] == "contracts"
    assert data["budget_month"] == f"{MARCH}-01" and data["vendor_name"] == "Frio Service"
    assert data["work_order_id"] is None and data["description"] == "Chiller maintenance contract"

    status, body = ledger.api.post(f"{COMMITMENTS}{item['id']}/approve/")
    assert status == 400 and body["error"] == "Only submitted commitments can be approved."
    assert len(ledger.events("commitment.approved")) == 1 and committed(ledger) == (0, Decimal("1200.00"))


def test_rejection_needs_a_reason_and_shows_as_cancelled(ledger: LedgerWorld, center: str) -> None:
    item = ledger.commitment(center, "80")
    status, body = ledger.api.post(f"{COMMITMENTS}{item['id']}/reject/", {"reason": "too short"})
    assert status == 400 and "reason" in body
    assert committed(ledger) == (Decimal("80"), 0)

    rejected = ledger.act(item["id"], "reject", {"reason": "Vendor quote expired last week"})
    assert rejected["status"] == "cancelled" and rejected["status_display"] == "Rejeitado"
    assert rejected["rejection_reason"] == "Vendor quote expired last week"
    assert committed(ledger) == (0, 0)
    assert ledger.events("commitment.approved") == []
    statuses = {row["id"]: row["status"] for row in ledger.ok(ledger.api.get(COMMITMENTS))["results"]}
    assert statuses == {item["id"]: "cancelled"}
    cancelled = ledger.ok(ledger.api.get(COMMITMENTS, query={"status": "cancelled"}))["results"]
    assert [row["id"] for row in cancelled] == [item["id"]]
    assert ledger.ok(ledger.api.get(COMMITMENTS, query={"status": "rejected"}))["count"] == 1


def test_cancel_takes_back_what_the_commitment_counted(ledger: LedgerWorld, center: str) -> None:
    draft = ledger.commitment(center, "10", submit=False)
    pending = ledger.commitment(center, "20")
    approved = ledger.commitment(center, "40")
    ledger.act(approved["id"], "approve")
    assert committed(ledger) == (Decimal("20"), Decimal("40"))
    for item in (draft, pending, approved):
        assert ledger.act(item["id"], "cancel")["status"] == "cancelled"
    assert committed(ledger) == (0, 0)
    status, body = ledger.api.post(f"{COMMITMENTS}{draft['id']}/cancel/")
    assert status == 400 and body["detail"] == body["error"] and body["code"] == "invalid_transition"


def test_only_drafts_can_be_edited(ledger: LedgerWorld, center: str) -> None:
    other = ledger.cost_center("OT")["id"]
    draft = ledger.commitment(center, "10", submit=False)
    patch = {"cost_center_id": other, "amount": 15, "budget_month": f"{YEAR}-04-20", "status": "approved", "notes": "n"}
    edited = ledger.ok(ledger.api.patch(f"{COMMITMENTS}{draft['id']}/", patch))
    assert edited["cost_center"] == other and edited["amount"] == "15.00" and edited["notes"] == "n"
    assert edited["budget_month"] == f"{YEAR}-04-01" and edited["status"] == "draft"

    submitted = ledger.commitment(center, "10")
    status, body = ledger.api.patch(f"{COMMITMENTS}{submitted['id']}/", {"amount": 1})
    assert status == 403 and body["detail"] == "Only draft commitments can be edited."
    assert committed(ledger) == (Decimal("10"), 0)


def test_list_filters_accept_the_frontend_aliases(ledger: LedgerWorld, center: str) -> None:
    other = ledger.cost_center("OT")["id"]
    first = ledger.commitment(center, "1", month=f"{YEAR}-03-01")
    second = ledger.commitment(other, "2", month=f"{YEAR}-04-01", category="parts")
    third = ledger.commitment(center, "3", month=f"{YEAR}-04-01", submit=False)

    def ids(**query: str) -> list[str]:
        return [row["id"] for row in ledger.ok(ledger.api.get(COMMITMENTS, query=query))["results"]]

    assert ids() == [third["id"], second["id"], first["id"]]  # newest first
    assert ids(cost_center_id=center) == [third["id"], first["id"]]
    assert ids(cost_center=other) == [second["id"]]
    assert ids(status="draft") == [third["id"]]
    assert ids(budget_month=f"{YEAR}-04-01") == [third["id"], second["id"]]
    assert ids(category="parts") == [second["id"]]
    assert ids(ordering="amount") == [first["id"], second["id"], third["id"]]
    assert ids(status_in="draft,submitted", min_amount="2") == [third["id"], second["id"]]
    assert ledger.api.get(COMMITMENTS, query={"status": "bogus"}).status == 400
    page = ledger.ok(ledger.api.get(COMMITMENTS, query={"page_size": "2"}))
    assert page["count"] == 3 and page["next"].startswith("https://testserver/api/trakledger/commitments/?")


def test_an_unknown_cost_center_is_refused(ledger: LedgerWorld) -> None:
    body = {"cost_center": ledger.plan()["id"], "category": "other", "amount": 1, "budget_month": f"{YEAR}-01-01"}
    status, errors = ledger.api.post(COMMITMENTS, body)
    assert status == 400 and "cost_center" in errors
    assert ledger.api.post(COMMITMENTS, {**body, "cost_center": ledger.default_cost_center, "amount": 0}).status == 400
    assert ledger.items("commitment") == []


# ---- concurrency --------------------------------------------------------------------------------


@pytest.fixture
def serialised_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's in-process TransactWriteItems is not atomic across threads (it evaluates every
    condition, then applies, without a lock). DynamoDB is; make moto so by serialising the call
    boundary. Everything else (reads, decisions, conditions) still interleaves freely."""
    lock = threading.Lock()
    original = Connection.transact_write_items

    def transact_write_items(self: Connection, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", transact_write_items)
    yield


def _approver() -> Principal:
    return Principal(tenant="acme", role=Role.OPERATOR, user_id=7, email="op@example.com", subject="op")


def test_twenty_concurrent_approvals_sum_exactly(ledger: LedgerWorld, center: str, serialised_moto: None) -> None:
    amounts = [Decimal(f"{100 + n}.{n:02d}") for n in range(20)]
    items = [ledger.commitment(center, str(amount)) for amount in amounts]
    barrier = threading.Barrier(len(items))

    def approve(item: dict[str, Any]) -> str:
        barrier.wait()
        return commitments.approve_commitment(ledger.repo(), _approver(), item["id"]).status

    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        assert list(pool.map(approve, items)) == ["approved"] * len(items)

    assert committed(ledger) == (0, sum(amounts))
    assert ledger.summary(f"{MARCH}-01")["committed_approved"] == float(sum(amounts))
    assert len(ledger.events("commitment.approved")) == len(items)


def test_racing_approvals_of_one_commitment_count_it_once(
    ledger: LedgerWorld, center: str, serialised_moto: None
) -> None:
    item = ledger.commitment(center, "500.00")
    barrier = threading.Barrier(8)

    def approve(_: int) -> str:
        barrier.wait()
        try:
            return commitments.approve_commitment(ledger.repo(), _approver(), item["id"]).status
        except Conflict:
            return "conflict"
        except DomainError:
            return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(approve, range(8)))

    assert outcomes.count("approved") == 1, outcomes
    assert committed(ledger) == (0, Decimal("500.00"))
    assert len(ledger.events("commitment.approved")) == 1


@pytest.fixture
def contended(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """DynamoDB cancels the next N transactions for contention (TransactionConflict: another
    transaction holds one of their items, e.g. the summary row); moto never does. Set N by
    appending it; the pauses between attempts are skipped."""
    remaining: list[int] = []
    original = Connection.transact_write_items

    def transact_write_items(self: Connection, *args: Any, **kwargs: Any) -> Any:
        if remaining and remaining[0] > 0:
            remaining[0] -= 1
            cause = VerboseClientError(
                {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}},
                "TransactWriteItems",
                cancellation_reasons=[None, CancellationReason(code="TransactionConflict")],
            )
            raise TransactWriteError("Failed to write transaction items", cause)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", transact_write_items)
    monkeypatch.setattr("climatrak.ledger.store.sleep", lambda seconds: None)
    return remaining


def test_an_approval_that_meets_contention_is_retried_not_refused(
    ledger: LedgerWorld, center: str, contended: list[int]
) -> None:
    item = ledger.commitment(center, "500.00")
    contended.append(2)

    approved = ledger.act(item["id"], "approve")

    assert approved["status"] == "approved" and contended == [0]
    assert committed(ledger) == (0, Decimal("500.00"))
    assert len(ledger.events("commitment.approved")) == 1


def test_lasting_contention_is_409_busy_and_writes_nothing(
    ledger: LedgerWorld, center: str, contended: list[int]
) -> None:
    item = ledger.commitment(center, "500.00")
    contended.append(1000)

    status, body = ledger.api.post(f"{COMMITMENTS}{item['id']}/approve/")

    assert status == 409 and body["code"] == "busy"
    assert committed(ledger) == (Decimal("500.00"), 0) and ledger.events("commitment.approved") == []


# ---- cancelling an approved commitment reverses its ledger posting --------------------------------

TRANSACTIONS = "/api/trakledger/transactions/"


def ledger_rows(ledger: LedgerWorld, month: str = MARCH) -> list[dict[str, Any]]:
    """The month's postings as the Ledger page lists them, oldest first."""
    body = ledger.ok(ledger.api.get(TRANSACTIONS, query={"month": month, "ordering": "created_at"}))
    return sorted(body["results"], key=lambda row: row["created_at"])


def actual(ledger: LedgerWorld, month: str = MARCH) -> float:
    return ledger.summary(f"{month}-01")["actual"]  # type: ignore[no-any-return]


def test_cancelling_an_approved_commitment_reverses_its_posting(ledger: LedgerWorld, center: str) -> None:
    item = ledger.commitment(center, "1200.00")
    before = actual(ledger)
    ledger.act(item["id"], "approve")
    assert pump_events(ledger.settings).delivered["cost_engine"] == 1
    assert actual(ledger) == before + 1200

    ledger.act(item["id"], "cancel")
    [event] = ledger.events("commitment.cancelled")
    result = pump_events(ledger.settings)

    assert result.delivered["cost_engine"] == 1 and not result.failed
    assert event["idempotency_key"] == f"commitment.cancelled:{item['id']}"
    assert event["data"] == {
        "commitment_id": item["id"],
        "cost_center_id": center,
        "category": "contracts",
        "amount": "1200.00",
        "currency": "BRL",
        "budget_month": f"{MARCH}-01",
        "was_approved": True,
    }
    assert actual(ledger) == before and ledger.totals(MARCH)["actual"] == 0
    posting, reversal = ledger_rows(ledger)
    assert (posting["transaction_type"], posting["amount"]) == ("other", "1200.00")
    assert (reversal["transaction_type"], reversal["amount"]) == ("adjustment", "-1200.00")
    assert reversal["idempotency_key"] == f"commitment:{item['id']}:reversal"
    assert reversal["meta"]["source"] == "commitment" and reversal["meta"]["reason"] == "commitment cancelled"
    assert reversal["meta"]["reverses"] == posting["id"]
    assert (reversal["cost_center"], reversal["category"], reversal["occurred_at"]) == (
        posting["cost_center"],
        posting["category"],
        posting["occurred_at"],
    )


def test_the_reason_given_on_cancel_goes_on_the_reversal(ledger: LedgerWorld, center: str) -> None:
    item = ledger.commitment(center, "300.00")
    ledger.act(item["id"], "approve")
    pump_events(ledger.settings)
    ledger.act(item["id"], "cancel", {"reason": "supplier went bankrupt"})
    pump_events(ledger.settings)

    [event] = ledger.events("commitment.cancelled")
    assert event["data"]["reason"] == "supplier went bankrupt"
    _, reversal = ledger_rows(ledger)
    assert reversal["meta"]["cancellation_reason"] == "supplier went bankrupt"


def test_cancelling_a_commitment_that_was_never_approved_emits_nothing(ledger: LedgerWorld, center: str) -> None:
    for item in (ledger.commitment(center, "10", submit=False), ledger.commitment(center, "20")):
        ledger.act(item["id"], "cancel")

    assert ledger.events("commitment.cancelled") == []


def test_a_cancellation_committed_before_the_approval_is_posted_posts_nothing(ledger: LedgerWorld, center: str) -> None:
    item = ledger.commitment(center, "700.00")
    ledger.act(item["id"], "approve")
    ledger.act(item["id"], "cancel")  # before the cost engine saw the approval

    result = pump_events(ledger.settings)

    assert result.delivered["cost_engine"] == 2 and not result.failed
    assert ledger_rows(ledger) == [] and actual(ledger) == 0


def test_the_cancellation_processed_before_the_approval_nets_to_zero(ledger: LedgerWorld, center: str) -> None:
    item = ledger.commitment(center, "700.00")
    ledger.act(item["id"], "approve")
    ledger.act(item["id"], "cancel")
    [approval] = ledger.events("commitment.approved")
    [cancellation] = ledger.events("commitment.cancelled")

    reversed_first = cost_engine.reverse_commitment(ledger.settings, "acme", cancellation["data"])
    approved_late = cost_engine.post_commitment(ledger.settings, "acme", approval["data"])

    assert (reversed_first.transactions_created, approved_late.transactions_created) == (0, 0)
    assert ledger_rows(ledger) == [] and actual(ledger) == 0


def test_a_duplicate_cancellation_event_reverses_once(ledger: LedgerWorld, center: str) -> None:
    item = ledger.commitment(center, "300.00")
    ledger.act(item["id"], "approve")
    pump_events(ledger.settings)
    ledger.act(item["id"], "cancel")
    [cancellation] = ledger.events("commitment.cancelled")
    duplicate = new_event("acme", "commitment.cancelled", "commitment", item["id"], cancellation["data"])
    with TransactWrite(connection=transaction_connection()) as tw:  # a second emission, another event id
        add_to_outbox(tw, duplicate)

    result = pump_events(ledger.settings)

    assert result.delivered["cost_engine"] == 2 and not result.failed
    assert [row["amount"] for row in ledger_rows(ledger)] == ["300.00", "-300.00"]
    assert actual(ledger) == 0


def test_a_reversal_into_a_locked_month_lands_in_the_next_open_one(ledger: LedgerWorld, center: str) -> None:
    item = ledger.commitment(center, "450.00")
    ledger.act(item["id"], "approve")
    pump_events(ledger.settings)
    ledger.lock(MARCH)

    ledger.act(item["id"], "cancel")
    assert not pump_events(ledger.settings).failed

    [reversal] = ledger_rows(ledger, f"{YEAR}-04")
    assert reversal["amount"] == "-450.00" and reversal["meta"]["moved_from_locked_month"] == MARCH
    assert (actual(ledger), actual(ledger, f"{YEAR}-04")) == (450, -450)
