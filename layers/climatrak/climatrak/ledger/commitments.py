"""Commitments (API.md §5.5): money promised to a vendor for a budget month, draft →
submitted → approved | rejected (a reason required), or cancelled.

A submitted commitment counts in the summary's `committed_pending`, an approved one in
`committed_approved`; every change writes those deltas in the same transaction as the change,
conditioned on the status it was read in. Approval emits `commitment.approved` (the cost engine
posts the approved amount to the ledger); cancelling an approved commitment emits
`commitment.cancelled` (the cost engine reverses that posting). Statuses are emitted in the
frontend's vocabulary.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from climatrak.core.errors import DomainError, Forbidden
from climatrak.core.events import new_event
from climatrak.core.identity import Principal
from climatrak.core.money import money
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.cost_centers import CostCenters, resolve_cost_center
from climatrak.ledger.items import CommitmentItem
from climatrak.ledger.models import (
    CATEGORIES,
    CATEGORY_LABELS,
    COMMITMENT_STATUS_LABELS,
    COMMITMENT_STATUS_OUT,
    COMMITMENT_STATUSES,
    Commitment,
    CommitmentApproved,
    CommitmentCreate,
    CommitmentPatch,
    CommitmentReject,
)
from climatrak.ledger.months import first_of_month
from climatrak.ledger.parsing import contains, not_null, optional, ordered, parse_choice, parse_decimal, require
from climatrak.ledger.projection import Counted, ProjectionDeltas
from climatrak.ledger.repository import LedgerRepository

INVALID_TRANSITION = "invalid_transition"
COMMITMENT_ORDERINGS = {"created_at", "budget_month", "amount", "status", "category", "updated_at"}
MIN_REJECTION_REASON = 10


def commitment_status(stored: str) -> str:
    """The frontend's vocabulary: rejected shows as cancelled, realized as converted."""
    return COMMITMENT_STATUS_OUT.get(stored, stored)


def commitment_view(item: CommitmentItem, centers: CostCenters) -> Commitment:
    work_order = int(item.work_order_id) if item.work_order_id is not None else None
    return Commitment(
        id=item.id,
        cost_center=item.cost_center_id,
        cost_center_id=item.cost_center_id,
        cost_center_name=centers.name(item.cost_center_id),
        cost_center_code=centers.code(item.cost_center_id),
        budget_month=item.budget_month,
        amount=money(item.amount),
        currency=item.currency,
        category=item.category,
        category_display=CATEGORY_LABELS.get(item.category, item.category),
        status=commitment_status(item.status),
        status_display=COMMITMENT_STATUS_LABELS.get(item.status, item.status),
        description=item.description,
        vendor_name=item.vendor_name,
        work_order=work_order,
        work_order_id=work_order,
        work_order_number=None,
        due_date=item.due_date,
        notes=item.notes,
        attachments=list(item.attachments or []),
        approved_by=int(item.approved_by) if item.approved_by is not None else None,
        approved_by_name=None,
        approved_at=item.approved_at,
        rejection_reason=item.rejection_reason,
        created_at=item.created_at,
        updated_at=item.updated_at,
        created_by=int(item.created_by) if item.created_by is not None else None,
        created_by_name=None,
    )


def _commitment_contribution(item: CommitmentItem | None) -> Counted:
    """What a commitment counts: submitted → committed_pending, approved → committed_approved,
    under (its budget month, cost centre, category); other states count nothing."""
    counter = {"submitted": "committed_pending", "approved": "committed_approved"}.get(item.status if item else "")
    if item is None or counter is None:
        return {}
    return {(item.budget_month[:7], item.cost_center_id, item.category, counter): money(item.amount)}


def _commitment_deltas(repo: LedgerRepository, old: CommitmentItem | None, new: CommitmentItem) -> ProjectionDeltas:
    deltas = ProjectionDeltas(repo.tenant)
    deltas.move(_commitment_contribution(old), _commitment_contribution(new))
    return deltas


def _status_filter(raw: str) -> set[str]:
    """A status filter value (frontend or Django vocabulary) → stored statuses."""
    if raw == "cancelled":
        return {"cancelled", "rejected"}
    if raw == "converted":
        return {"realized"}
    return {parse_choice(raw, COMMITMENT_STATUSES, "status")}


def list_commitments(repo: LedgerRepository, filters: Mapping[str, str | None]) -> list[Commitment]:
    rows = repo.list_commitments()
    status = filters.get("status")
    if status:
        statuses = _status_filter(status)
        rows = [row for row in rows if row.status in statuses]
    status_in = filters.get("status_in") or filters.get("status__in")
    if status_in:
        wanted = set().union(*(_status_filter(part.strip()) for part in status_in.split(",") if part.strip()))
        rows = [row for row in rows if row.status in wanted]
    cost_center = filters.get("cost_center_id") or filters.get("cost_center")
    if cost_center:
        rows = [row for row in rows if row.cost_center_id == cost_center]
    budget_month = filters.get("budget_month")
    if budget_month:
        month = first_of_month(budget_month, "budget_month")
        rows = [row for row in rows if row.budget_month == month]
    for name, keep in (("budget_month_gte", lambda a, b: a >= b), ("budget_month_lte", lambda a, b: a <= b)):
        bound = filters.get(name) or filters.get(name.replace("_gte", "__gte").replace("_lte", "__lte"))
        if bound:
            edge = first_of_month(bound, name)
            rows = [row for row in rows if keep(row.budget_month, edge)]
    category = filters.get("category")
    if category:
        parse_choice(category, CATEGORIES, "category")
        rows = [row for row in rows if row.category == category]
    work_order = filters.get("work_order") or filters.get("work_order_id")
    if work_order:
        rows = [row for row in rows if row.work_order_id is not None and str(int(row.work_order_id)) == work_order]
    year = filters.get("year")
    if year:
        rows = [row for row in rows if row.budget_month[:4] == year.strip()]
    low = optional(parse_decimal, filters.get("min_amount"), "min_amount")
    if low is not None:
        rows = [row for row in rows if row.amount >= low]
    high = optional(parse_decimal, filters.get("max_amount"), "max_amount")
    if high is not None:
        rows = [row for row in rows if row.amount <= high]
    search = filters.get("search")
    if search:
        rows = [row for row in rows if contains(search, row.description, row.vendor_name, row.notes)]
    centers = CostCenters.load(repo)
    views = [commitment_view(row, centers) for row in rows]
    return ordered(views, filters.get("ordering"), "-created_at", COMMITMENT_ORDERINGS)


def get_commitment(repo: LedgerRepository, commitment_id: str) -> Commitment:
    return commitment_view(require(repo.get_commitment(commitment_id)), CostCenters.load(repo))


def create_commitment(repo: LedgerRepository, caller: Principal, body: CommitmentCreate) -> Commitment:
    cost_center_id = resolve_cost_center(repo, body.cost_center, "cost_center")
    now = utc_now_iso()
    item = CommitmentItem(
        id=str(uuid.uuid4()),
        cost_center_id=cost_center_id,
        budget_month=first_of_month(body.budget_month, "budget_month"),
        amount=money(body.amount),
        currency=body.currency,
        category=body.category,
        status="submitted" if body.submit else "draft",
        description=body.description,
        vendor_name=body.vendor_name,
        work_order_id=body.work_order,
        due_date=body.due_date.isoformat() if body.due_date else None,
        notes=body.notes,
        attachments=list(body.attachments),
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    repo.write_commitment(
        item,
        expected_status=None,
        deltas=_commitment_deltas(repo, None, item),
        cost_center_id=cost_center_id,
    )
    return commitment_view(item, CostCenters.load(repo))


def update_commitment(repo: LedgerRepository, commitment_id: str, body: CommitmentPatch) -> Commitment:
    item = require(repo.get_commitment(commitment_id))
    if item.status != "draft":
        raise Forbidden("Only draft commitments can be edited.", code="not_editable")
    not_null(body, ("category", "amount", "currency", "budget_month", "description", "vendor_name", "notes"))
    old = CommitmentItem.from_raw_data(item.serialize())
    cost_center_id: str | None = None
    if body.cost_center is not None:
        cost_center_id = resolve_cost_center(repo, body.cost_center, "cost_center")
        item.cost_center_id = cost_center_id
    changes = body.model_dump(exclude_unset=True)
    if body.category is not None:
        item.category = body.category
    if body.amount is not None:
        item.amount = money(body.amount)
    if body.currency is not None:
        item.currency = body.currency
    if body.budget_month is not None:
        item.budget_month = first_of_month(body.budget_month, "budget_month")
    for name in ("description", "vendor_name", "notes"):
        if changes.get(name) is not None:
            setattr(item, name, changes[name])
    if "work_order" in body.model_fields_set:
        item.work_order_id = body.work_order
    if "due_date" in body.model_fields_set:
        item.due_date = body.due_date.isoformat() if body.due_date else None
    if body.attachments is not None:
        item.attachments = list(body.attachments)
    item.updated_at = utc_now_iso()
    repo.write_commitment(
        item,
        expected_status="draft",
        deltas=_commitment_deltas(repo, old, item),
        cost_center_id=cost_center_id,
    )
    return commitment_view(item, CostCenters.load(repo))


def _transition(
    repo: LedgerRepository,
    commitment_id: str,
    allowed_from: set[str],
    to: str,
    refusal: str,
    change: Callable[[CommitmentItem], None] | None = None,
) -> tuple[CommitmentItem, CommitmentItem]:
    item = require(repo.get_commitment(commitment_id))
    if item.status not in allowed_from:
        raise DomainError(refusal, code=INVALID_TRANSITION)
    old = CommitmentItem.from_raw_data(item.serialize())
    item.status = to
    item.updated_at = utc_now_iso()
    if change is not None:
        change(item)
    return old, item


def submit_commitment(repo: LedgerRepository, commitment_id: str) -> Commitment:
    old, item = _transition(repo, commitment_id, {"draft"}, "submitted", "Only draft commitments can be submitted.")
    repo.write_commitment(item, expected_status=old.status, deltas=_commitment_deltas(repo, old, item))
    return commitment_view(item, CostCenters.load(repo))


def commitment_event_data(item: CommitmentItem) -> dict[str, Any]:
    """`commitment.approved` data: the cost engine posts the approved amount to the ledger."""
    return {
        "commitment_id": item.id,
        "cost_center_id": item.cost_center_id,
        "category": item.category,
        "amount": str(money(item.amount)),
        "currency": item.currency,
        "budget_month": item.budget_month,
        "description": item.description,
        "vendor_name": item.vendor_name,
        "work_order_id": int(item.work_order_id) if item.work_order_id is not None else None,
        "approved_at": item.approved_at,
        "approved_by": int(item.approved_by) if item.approved_by is not None else None,
    }


def approve_commitment(repo: LedgerRepository, caller: Principal, commitment_id: str) -> CommitmentApproved:
    def approved(item: CommitmentItem) -> None:
        item.approved_by = caller.user_id or None
        item.approved_at = item.updated_at

    old, item = _transition(
        repo, commitment_id, {"submitted"}, "approved", "Only submitted commitments can be approved.", approved
    )
    event = new_event(
        repo.tenant,
        "commitment.approved",
        "commitment",
        item.id,
        commitment_event_data(item),
        idempotency_key=f"commitment.approved:{item.id}",
    )
    repo.write_commitment(item, expected_status=old.status, deltas=_commitment_deltas(repo, old, item), event=event)
    view = commitment_view(item, CostCenters.load(repo))
    return CommitmentApproved(**view.model_dump(), event_id=event.event_id)


def reject_commitment(repo: LedgerRepository, commitment_id: str, body: CommitmentReject) -> Commitment:
    reason = (body.reason or "").strip()
    if len(reason) < MIN_REJECTION_REASON:
        raise DomainError(
            f"A rejection reason of at least {MIN_REJECTION_REASON} characters is required.", field="reason"
        )

    def rejected(item: CommitmentItem) -> None:
        item.rejection_reason = reason

    old, item = _transition(
        repo, commitment_id, {"submitted"}, "rejected", "Only submitted commitments can be rejected.", rejected
    )
    repo.write_commitment(item, expected_status=old.status, deltas=_commitment_deltas(repo, old, item))
    return commitment_view(item, CostCenters.load(repo))


def cancellation_event_data(item: CommitmentItem, reason: str | None) -> dict[str, Any]:
    """`commitment.cancelled` data (an approved commitment's): the cost engine reverses its
    approval posting."""
    data: dict[str, Any] = {
        "commitment_id": item.id,
        "cost_center_id": item.cost_center_id,
        "category": item.category,
        "amount": str(money(item.amount)),
        "currency": item.currency,
        "budget_month": item.budget_month,
        "was_approved": True,
    }
    if reason:
        data["reason"] = reason
    return data


def cancel_commitment(repo: LedgerRepository, commitment_id: str, reason: str | None = None) -> Commitment:
    """Cancel a draft, submitted or approved commitment. An approved one also emits
    `commitment.cancelled` in the same transaction, so its approval posting is reversed."""
    old, item = _transition(
        repo,
        commitment_id,
        {"draft", "submitted", "approved"},
        "cancelled",
        "Only draft, submitted or approved commitments can be cancelled.",
    )
    event = None
    if old.status == "approved":
        event = new_event(
            repo.tenant,
            "commitment.cancelled",
            "commitment",
            item.id,
            cancellation_event_data(item, (reason or "").strip() or None),
            idempotency_key=f"commitment.cancelled:{item.id}",
        )
    repo.write_commitment(item, expected_status=old.status, deltas=_commitment_deltas(repo, old, item), event=event)
    return commitment_view(item, CostCenters.load(repo))
