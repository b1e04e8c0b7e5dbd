"""The ledger: the one posting service, manual postings and adjustments, and the listing.

`post(repo, postings, automatic=...)` is the only writer of ledger transactions. A group of
postings (one event's) goes into ONE TransactWrite with everything that must hold with it:

    month item      Put  T#{t} / LEDGERMONTH#{YYYY-MM}      attribute_not_exists OR locked = false
    transaction     Put  pk T#{t}#LEDGER#{YYYY-MM}, sk {occurred_at}#{id}
    key guard       Put  pk T#{t}#LEDGERKEY, sk {key}       attribute_not_exists (unique per tenant)
    work-order link Put  pk T#{t}#WO#{id:08d}, sk TX#{id}
    outbox          Put  cost.entry_posted
    projection      Update ADD actual on SummaryRow (month, cost centre, category) and AssetCostRow

A key whose guard exists means the posting was done: automatic postings return the existing
transaction and write nothing; a manual posting with a used key is a 400 field error. A locked
month refuses manual postings (409, nothing written); automatic postings move to the first open
month after it (occurred_at = that month's first instant in the tenant's time zone, the original
date kept in meta). Locks and keys are conditions inside the transaction and nothing is read
before it: a refusal reads what refused it (guards, locks) and the next attempt acts on that, so
a cost is never dropped and never posted twice, and the happy path is one request.
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from climatrak.core.errors import Conflict, DomainError, NotFound
from climatrak.core.events import new_event, new_event_id
from climatrak.core.money import money
from climatrak.core.timeutil import iso_ms, month_of, month_start, next_month, parse_iso, to_ms, utc_now_iso, zone
from climatrak.ledger.items import (
    LedgerKeyGuard,
    LedgerMonthItem,
    TransactionItem,
    WorkOrderTransactionLink,
    ensure_default_cost_center,
)
from climatrak.ledger.models import CATEGORIES, CATEGORY_LABELS
from climatrak.ledger.posting_repository import (
    MonthState,
    PostingRepository,
    TaggedWrite,
    TransactionRefused,
    json_safe,
)
from climatrak.ledger.projection import ProjectionDeltas
from climatrak.ledger.transaction_models import (
    SOURCE_COMMITMENT,
    SOURCE_COST_ENGINE,
    SOURCE_INVENTORY,
    SOURCE_MANUAL,
    TRANSACTION_TYPE_LABELS,
    TRANSACTION_TYPES,
    CostTransaction,
    NewPosting,
    TransactionCreate,
    TransactionPatch,
)
from climatrak.registry.items import AssetItem

COST_ENTRY_POSTED = "cost.entry_posted"
MAX_ATTEMPTS = 12
NOT_FOUND = "Not found."
LOCKED_MONTH = "The month {month} is locked: its transactions cannot be added, changed or deleted."
IMMUTABLE = "Automatic postings cannot be changed; post an adjustment instead."
STALE_WRITE = "This record was changed by someone else; reload it and try again."
BUSY = "The ledger is busy; try again."
DUPLICATE_KEY = "transaction with this idempotency key already exists."
REASON_REQUIRED = "An adjustment requires a reason (meta.reason or description)."
BAD_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Posted:
    """The outcome of one posting: the stored transaction and whether this call created it."""

    transaction: TransactionItem
    created: bool


# ---- the posting service ------------------------------------------------------------------


def post(repo: PostingRepository, postings: Sequence[NewPosting], *, automatic: bool) -> list[Posted]:
    """Post a group of postings atomically (one TransactWrite); returns one Posted per input.

    automatic=True (cost engine, commitment approvals): an existing idempotency key returns the
    posting made earlier; a locked month moves the posting to the first open month after it.
    automatic=False (manual postings): a used key is a 400 field error; a locked month is 409."""
    group = [_normalised(posting) for posting in postings]
    keys = [posting.idempotency_key for posting in group if posting.idempotency_key]
    if len(keys) != len(set(keys)):
        raise ValueError("one posting group cannot use an idempotency key twice")
    # Optimistic: the conditions inside the transaction are the checks. Only a refusal reads
    # what refused it (the key guards, the month locks) to decide the next attempt.
    guards: dict[str, LedgerKeyGuard] = {}
    states: dict[str, MonthState] = {}
    for attempt in range(MAX_ATTEMPTS):
        if guards and not automatic:
            raise DomainError(DUPLICATE_KEY, field="idempotency_key")
        fresh = [posting for posting in group if not posting.idempotency_key or posting.idempotency_key not in guards]
        written: list[TransactionItem] = []
        if fresh:
            placed = [_place(repo, posting, states, automatic) for posting in fresh]
            try:
                written = _write(repo, placed)
            except TransactionRefused as refused:
                _back_off(refused, attempt)
                if any(tag.startswith("key:") for tag in refused.tags):
                    guards = repo.guards(keys)
                if any(tag.startswith("month:") for tag in refused.tags):
                    states = repo.month_states()
                continue
        return _outcomes(repo, group, guards, written)
    raise Conflict(BUSY, code="busy")


def _normalised(posting: NewPosting) -> NewPosting:
    if posting.transaction_type not in TRANSACTION_TYPES:
        raise ValueError(f"unknown transaction type {posting.transaction_type!r}")
    if posting.category not in CATEGORIES:
        raise ValueError(f"unknown category {posting.category!r}")
    return replace(
        posting,
        amount=money(posting.amount),
        occurred_at=iso_ms(to_ms(parse_iso(posting.occurred_at))),
        currency=(posting.currency or "BRL").upper(),
        meta=json_safe(posting.meta or {}),
    )


def _place(
    repo: PostingRepository, posting: NewPosting, states: Mapping[str, MonthState], automatic: bool
) -> tuple[NewPosting, str]:
    """The month a posting goes into: its own, or (automatic) the first open one after it."""
    month = month_of(posting.occurred_at, repo.timezone)
    if not _locked(states, month):
        return posting, month
    if not automatic:
        raise Conflict(LOCKED_MONTH.format(month=month), code="month_locked")
    target = month
    while _locked(states, target):
        target = next_month(target)
    meta = {**posting.meta, "original_occurred_at": posting.occurred_at, "moved_from_locked_month": month}
    occurred_at = iso_ms(to_ms(month_start(target, repo.timezone)))
    return replace(posting, occurred_at=occurred_at, meta=meta), target


def _locked(states: Mapping[str, MonthState], month: str) -> bool:
    state = states.get(month)
    return bool(state and state.locked)


def _write(repo: PostingRepository, placed: Sequence[tuple[NewPosting, str]]) -> list[TransactionItem]:
    now = utc_now_iso()
    items: list[TransactionItem] = []
    deltas = ProjectionDeltas(repo.tenant)
    with repo.transaction() as tagged:
        for month in sorted({month for _, month in placed}):
            repo.month_open(tagged, month)
        for posting, month in placed:
            item = _transaction_item(repo, posting, month, now)
            items.append(item)
            tagged.save("item", item, condition=TransactionItem.pk.does_not_exist())
            if posting.idempotency_key:
                guard = repo.guard_item(posting.idempotency_key, item)
                tagged.save(f"key:{posting.idempotency_key}", guard, condition=LedgerKeyGuard.pk.does_not_exist())
            if posting.work_order_id is not None:
                tagged.save("link", repo.link_item(item))
            _count(deltas, item, Decimal(1))
            tagged.outbox(
                new_event(
                    repo.tenant,
                    COST_ENTRY_POSTED,
                    "ledger_transaction",
                    item.id,
                    _event_data(item),
                    idempotency_key=f"{COST_ENTRY_POSTED}:{item.id}",
                )
            )
        tagged.projection(deltas)
    return items


def _transaction_item(repo: PostingRepository, posting: NewPosting, month: str, now: str) -> TransactionItem:
    transaction_id = new_event_id()  # UUIDv7: ids sort by creation, so sk ties break by it
    return TransactionItem(
        repo.ledger_pk(month),
        repo.keys.transaction_sk(posting.occurred_at, transaction_id),
        id=transaction_id,
        month=month,
        idempotency_key=posting.idempotency_key,
        transaction_type=posting.transaction_type,
        category=posting.category,
        amount=posting.amount,
        currency=posting.currency,
        occurred_at=posting.occurred_at,
        description=posting.description,
        meta=posting.meta,
        cost_center_id=posting.cost_center_id,
        asset_id=posting.asset_id,
        work_order_id=posting.work_order_id,
        work_order_number=posting.work_order_number,
        vendor_id=posting.vendor_id,
        created_at=now,
        updated_at=now,
        created_by=posting.created_by,
        gsi1pk=repo.keys.transaction_index(transaction_id),
        gsi1sk="TX",
    )


def _count(deltas: ProjectionDeltas, item: TransactionItem, sign: Decimal) -> None:
    """The projection's share of one posting (sign -1 takes it back out)."""
    amount = Decimal(item.amount) * sign
    deltas.add(item.month, item.cost_center_id, item.category, actual=amount)
    if item.asset_id is not None:
        deltas.add_asset(item.month, int(item.asset_id), amount)


def _event_data(item: TransactionItem) -> dict[str, Any]:
    meta = _meta(item)
    return {
        "transaction_id": item.id,
        "idempotency_key": item.idempotency_key,
        "transaction_type": item.transaction_type,
        "category": item.category,
        "amount": str(item.amount),
        "currency": item.currency,
        "occurred_at": item.occurred_at,
        "month": item.month,
        "cost_center_id": item.cost_center_id,
        "asset_id": item.asset_id,
        "work_order_id": item.work_order_id,
        "source": meta.get("source"),
    }


def _back_off(refused: TransactionRefused, attempt: int) -> None:
    """Conditions that failed are re-read for the next attempt; DynamoDB's own contention
    (TransactionConflict: another transaction holds the month item or a summary row; never
    raised by moto) gets a jittered exponential pause first."""
    if refused.contention:
        time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))  # noqa: S311 - jitter, not crypto


def _outcomes(
    repo: PostingRepository,
    group: Sequence[NewPosting],
    guards: Mapping[str, LedgerKeyGuard],
    written: Sequence[TransactionItem],
) -> list[Posted]:
    fresh = iter(written)
    existing = repo.by_guards([guards[key] for key in (p.idempotency_key for p in group) if key and key in guards])
    outcomes = []
    for posting in group:
        key = posting.idempotency_key
        if key and key in guards:
            found = existing.get(guards[key].transaction_id)
            if found is None:
                raise RuntimeError(f"idempotency key {key!r} points at a missing posting")
            outcomes.append(Posted(found, created=False))
        else:
            outcomes.append(Posted(next(fresh), created=True))
    return outcomes


# ---- manual postings and adjustments -----------------------------------------------------


def parse_local_datetime(value: str, tz_name: str, field: str = "occurred_at") -> str:
    """`YYYY-MM-DDTHH:mm` (naive = the tenant's local time), a date (local midnight), or full
    ISO with an offset or Z → storage form (UTC ISO with milliseconds and Z)."""
    text = (value or "").strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise DomainError(BAD_DATETIME, field=field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz_name))
    return iso_ms(to_ms(moment))


@dataclass
class _ManualFields:
    transaction_type: str
    category: str
    amount: Decimal
    currency: str
    occurred_at: str
    description: str
    meta: dict[str, Any]
    cost_center_id: str
    asset_id: int | None
    work_order_id: int | None
    vendor_id: str | None
    work_order_number: str | None = None  # looked up when a work order is linked


REFERENCES = frozenset({"cost_center", "asset", "work_order"})


def _validated(
    repo: PostingRepository, fields: _ManualFields, references: frozenset[str] = REFERENCES
) -> _ManualFields:
    """Checks a manual posting's values; `references` names the links to check exist (on
    PATCH only the ones being changed: a row keeps its links even if they were deleted since)."""
    try:
        amount = money(fields.amount)
    except ValueError:
        raise DomainError("A valid number is required.", field="amount") from None
    if amount == 0:
        raise DomainError("Ensure this value is not zero.", field="amount")
    if amount < 0 and fields.transaction_type != "adjustment":
        raise DomainError("Only adjustments may be negative.", field="amount")
    currency = (fields.currency or "BRL").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise DomainError("Enter a 3-letter currency code.", field="currency")
    meta = json_safe(dict(fields.meta or {}))
    meta["source"] = SOURCE_MANUAL
    description = fields.description.strip()
    reason = str(meta.get("reason") or "").strip()
    if fields.transaction_type == "adjustment" and not (reason or description):
        raise DomainError(REASON_REQUIRED, field="description")
    if not description and reason:
        description = reason
    if "cost_center" in references and repo.cost_center(fields.cost_center_id) is None:
        raise DomainError(f'Invalid pk "{fields.cost_center_id}" - object does not exist.', field="cost_center")
    if "asset" in references and fields.asset_id is not None and not repo.assets([fields.asset_id]):
        raise DomainError(f'Invalid pk "{fields.asset_id}" - object does not exist.', field="asset")
    number = fields.work_order_number
    if "work_order" in references:
        number = None if fields.work_order_id is None else repo.work_order_number(fields.work_order_id)
        if fields.work_order_id is not None and number is None:
            raise DomainError(f'Invalid pk "{fields.work_order_id}" - object does not exist.', field="work_order")
    return replace(
        fields, amount=amount, currency=currency, meta=meta, description=description, work_order_number=number
    )


def create_manual(repo: PostingRepository, body: TransactionCreate, user_id: int | None) -> CostTransaction:
    """POST /trakledger/transactions/: a manual posting or adjustment (meta.source = "manual")."""
    if body.work_order is not None and body.transaction_type != "adjustment" and not body.idempotency_key:
        raise DomainError(
            "An idempotency key is required for postings linked to a work order (except adjustments).",
            field="idempotency_key",
        )
    cost_center_id = body.cost_center or ensure_default_cost_center(repo.tenant)
    fields = _validated(
        repo,
        _ManualFields(
            transaction_type=body.transaction_type,
            category=body.category,
            amount=body.amount,
            currency=body.currency,
            occurred_at=parse_local_datetime(body.occurred_at, repo.timezone),
            description=body.description,
            meta=body.meta,
            cost_center_id=cost_center_id,
            asset_id=body.asset,
            work_order_id=body.work_order,
            vendor_id=body.vendor_id,
        ),
    )
    posting = NewPosting(
        transaction_type=fields.transaction_type,
        category=fields.category,
        amount=fields.amount,
        occurred_at=fields.occurred_at,
        cost_center_id=fields.cost_center_id,
        currency=fields.currency,
        description=fields.description,
        meta=fields.meta,
        idempotency_key=body.idempotency_key,
        asset_id=fields.asset_id,
        work_order_id=fields.work_order_id,
        work_order_number=fields.work_order_number,
        vendor_id=fields.vendor_id,
        created_by=user_id or None,
    )
    (posted,) = post(repo, [posting], automatic=False)
    return transaction_views(repo, [posted.transaction])[0]


def _require(repo: PostingRepository, transaction_id: str) -> TransactionItem:
    item = repo.get_transaction(transaction_id)
    if item is None:
        raise NotFound(NOT_FOUND)
    return item


def _require_editable(item: TransactionItem, states: Mapping[str, MonthState]) -> None:
    if _meta(item).get("source") != SOURCE_MANUAL:
        raise Conflict(IMMUTABLE, code="immutable")
    if _locked(states, item.month):
        raise Conflict(LOCKED_MONTH.format(month=item.month), code="month_locked")


def update_manual(repo: PostingRepository, transaction_id: str, patch: TransactionPatch) -> CostTransaction:
    """PATCH: a manual row changes in place or moves (new month / time) in one transaction,
    version-checked, with the projection moved from the old (month, cost centre, category,
    asset) to the new one."""
    item = _require(repo, transaction_id)
    states = repo.month_states()
    _require_editable(item, states)
    changes = patch.model_dump(exclude_unset=True)
    if "cost_center" in changes and not changes["cost_center"]:
        changes["cost_center"] = ensure_default_cost_center(repo.tenant)
    meta = dict(changes["meta"]) if changes.get("meta") is not None else _meta(item)
    fields = _validated(
        repo,
        _ManualFields(
            transaction_type=changes.get("transaction_type") or item.transaction_type,
            category=changes.get("category") or item.category,
            amount=changes["amount"] if changes.get("amount") is not None else Decimal(item.amount),
            currency=changes.get("currency") or item.currency,
            occurred_at=(
                parse_local_datetime(changes["occurred_at"], repo.timezone)
                if changes.get("occurred_at")
                else item.occurred_at
            ),
            description=changes["description"] if changes.get("description") is not None else item.description,
            meta=meta,
            cost_center_id=changes.get("cost_center", item.cost_center_id),
            asset_id=changes.get("asset", item.asset_id),
            work_order_id=changes.get("work_order", item.work_order_id),
            vendor_id=changes.get("vendor_id", item.vendor_id),
            work_order_number=item.work_order_number,
        ),
        REFERENCES & set(changes),
    )
    month = month_of(fields.occurred_at, repo.timezone)
    if _locked(states, month):
        raise Conflict(LOCKED_MONTH.format(month=month), code="month_locked")
    moved = month != item.month or fields.occurred_at != item.occurred_at
    now = utc_now_iso()
    updated = TransactionItem(
        repo.ledger_pk(month),
        repo.keys.transaction_sk(fields.occurred_at, item.id),
        id=item.id,
        month=month,
        idempotency_key=item.idempotency_key,
        transaction_type=fields.transaction_type,
        category=fields.category,
        amount=fields.amount,
        currency=fields.currency,
        occurred_at=fields.occurred_at,
        description=fields.description,
        meta=fields.meta,
        cost_center_id=fields.cost_center_id,
        asset_id=fields.asset_id,
        work_order_id=fields.work_order_id,
        work_order_number=fields.work_order_number,
        vendor_id=fields.vendor_id,
        created_at=item.created_at,
        updated_at=now,
        created_by=item.created_by,
        gsi1pk=item.gsi1pk,
        gsi1sk=item.gsi1sk,
    )
    if not moved:
        updated.version = item.version  # saved in place: version-checked; a move deletes the old one checked
    deltas = ProjectionDeltas(repo.tenant)
    _count(deltas, item, Decimal(-1))
    _count(deltas, updated, Decimal(1))
    with _edit_errors(repo), repo.transaction() as tagged:
        _old_month_open(repo, tagged, item.month)
        if month != item.month:
            repo.month_open(tagged, month)
        if moved:
            tagged.delete("item", item)
            tagged.save("item", updated, condition=TransactionItem.pk.does_not_exist())
            if item.idempotency_key:
                tagged.save("guard", repo.guard_item(item.idempotency_key, updated))
        else:
            tagged.save("item", updated)
        if item.work_order_id is not None and item.work_order_id != updated.work_order_id:
            tagged.delete(
                "link", WorkOrderTransactionLink(repo.keys.work_order(int(item.work_order_id)), f"TX#{item.id}")
            )
        if updated.work_order_id is not None and (moved or item.work_order_id != updated.work_order_id):
            tagged.save("link", repo.link_item(updated))
        tagged.projection(deltas)
    return transaction_views(repo, [updated])[0]


def delete_manual(repo: PostingRepository, transaction_id: str) -> None:
    """DELETE: a manual row leaves the ledger, its key, its link and the projection together."""
    item = _require(repo, transaction_id)
    _require_editable(item, repo.month_states())
    deltas = ProjectionDeltas(repo.tenant)
    _count(deltas, item, Decimal(-1))
    with _edit_errors(repo), repo.transaction() as tagged:
        _old_month_open(repo, tagged, item.month)
        tagged.delete("item", item)
        if item.idempotency_key:
            tagged.delete("guard", LedgerKeyGuard(repo.keys.ledger_keys(), item.idempotency_key))
        if item.work_order_id is not None:
            tagged.delete(
                "link", WorkOrderTransactionLink(repo.keys.work_order(int(item.work_order_id)), f"TX#{item.id}")
            )
        tagged.projection(deltas)


def _old_month_open(repo: PostingRepository, tagged: TaggedWrite, month: str) -> None:
    """The month of a row being changed must be open (absent or unlocked)."""
    tagged.condition_check(
        f"month:{month}",
        LedgerMonthItem,
        repo.pk,
        repo.keys.month(month),
        condition=LedgerMonthItem.pk.does_not_exist() | (LedgerMonthItem.locked == False),  # noqa: E712
    )


@contextmanager
def _edit_errors(repo: PostingRepository) -> Iterator[None]:
    """Map a refused edit: a month locked meanwhile → 409 month_locked; anything else (the
    version moved, a month marker appeared) → 409 stale."""
    try:
        yield
    except TransactionRefused as refused:
        states = repo.month_states()
        for tag in sorted(refused.tags):
            month = tag.removeprefix("month:")
            if tag.startswith("month:") and _locked(states, month):
                raise Conflict(LOCKED_MONTH.format(month=month), code="month_locked") from refused
        raise Conflict(STALE_WRITE) from refused


# ---- reading ------------------------------------------------------------------------------


def _meta(item: TransactionItem) -> dict[str, Any]:
    meta = item.meta
    if meta is None:
        return {}
    return meta.as_dict() if hasattr(meta, "as_dict") else dict(meta)


def get_transaction(repo: PostingRepository, transaction_id: str) -> CostTransaction:
    return transaction_views(repo, [_require(repo, transaction_id)])[0]


def transaction_views(
    repo: PostingRepository, items: Sequence[TransactionItem], states: Mapping[str, MonthState] | None = None
) -> list[CostTransaction]:
    """The API shape of a page of postings: names of cost centres and assets read once per page."""
    if not items:
        return []
    states = repo.month_states() if states is None else states
    cost_centers = repo.cost_centers()
    assets = repo.assets(int(item.asset_id) for item in items if item.asset_id is not None)
    return [_view(item, states, cost_centers, assets) for item in items]


def _view(
    item: TransactionItem,
    states: Mapping[str, MonthState],
    cost_centers: Mapping[str, Any],
    assets: Mapping[int, AssetItem],
) -> CostTransaction:
    meta = _meta(item)
    state = states.get(item.month)
    locked = bool(state and state.locked)
    center = cost_centers.get(item.cost_center_id)
    asset_id = int(item.asset_id) if item.asset_id is not None else None
    asset = assets.get(asset_id) if asset_id is not None else None
    work_order_id = int(item.work_order_id) if item.work_order_id is not None else None
    return CostTransaction(
        id=item.id,
        idempotency_key=item.idempotency_key,
        transaction_type=item.transaction_type,
        transaction_type_display=TRANSACTION_TYPE_LABELS.get(item.transaction_type, item.transaction_type),
        category=item.category,
        category_display=CATEGORY_LABELS.get(item.category, item.category),
        amount=money(item.amount),
        currency=item.currency,
        occurred_at=item.occurred_at,
        description=item.description,
        meta=meta,
        cost_center=item.cost_center_id,
        cost_center_id=item.cost_center_id,
        cost_center_name=center.name if center else None,
        cost_center_code=center.code if center else None,
        asset=asset_id,
        asset_id=asset_id,
        asset_tag=asset.tag if asset else meta.get("asset_tag"),
        asset_name=asset.name if asset else None,
        work_order=work_order_id,
        work_order_id=work_order_id,
        work_order_code=None,
        work_order_number=item.work_order_number or meta.get("work_order_number"),
        vendor_id=item.vendor_id,
        is_locked=locked,
        locked_at=state.locked_at if locked and state else None,
        locked_by=state.locked_by if locked and state else None,
        locked_by_name=None,
        is_editable=meta.get("source") == SOURCE_MANUAL and not locked,
        created_at=item.created_at,
        updated_at=item.updated_at,
        created_by=int(item.created_by) if item.created_by is not None else None,
        created_by_name=None,
    )


# ---- listing: filters, ordering, cursor walk ----------------------------------------------

ORDERABLE = ("occurred_at", "created_at", "updated_at", "amount", "category", "transaction_type")
DEFAULT_ORDERING: tuple[tuple[str, bool], ...] = (("occurred_at", True), ("created_at", True))
Predicate = Callable[[TransactionItem], bool]


@dataclass
class TransactionQuery:
    """A parsed listing request. `low`/`high` bound occurred_at (UTC ISO, high exclusive) and so
    the month partitions walked; predicates apply the other filters to each row."""

    low: str | None
    high: str | None
    predicates: list[Predicate]
    ordering: tuple[tuple[str, bool], ...]
    work_order_id: int | None

    def matches(self, item: TransactionItem) -> bool:
        if self.low and item.occurred_at < self.low:
            return False
        if self.high and item.occurred_at >= self.high:
            return False
        return all(predicate(item) for predicate in self.predicates)

    @property
    def streams(self) -> bool:
        """Served in key order (month partitions, sk) with a cursor: occurred_at ordering,
        ties broken by creation (UUIDv7 ids in the sort key)."""
        if self.work_order_id is not None:
            return False
        first, *rest = self.ordering
        return first[0] == "occurred_at" and (not rest or (rest == [("created_at", first[1])]))


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DomainError("Enter a whole number.", field=name) from None


def _decimal(value: str, name: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise DomainError("Enter a number.", field=name) from None
    if not number.is_finite():
        raise DomainError("Enter a number.", field=name)
    return number


def _choices(value: str, allowed: Iterable[str], name: str) -> set[str]:
    chosen = {part.strip() for part in value.split(",") if part.strip()}
    allowed = set(allowed)
    for choice in sorted(chosen):
        if choice not in allowed:
            raise DomainError(f"Select a valid choice. {choice} is not one of the available choices.", field=name)
    return chosen


def _local_day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise DomainError("Date has wrong format. Use one of these formats instead: YYYY-MM-DD.", field=name) from None


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise DomainError("Must be a valid boolean.", field=name)


def _first(params: Mapping[str, str | None], *names: str) -> tuple[str, str] | None:
    for name in names:
        value = params.get(name)
        if value is not None and value.strip() != "":
            return name, value.strip()
    return None


def _source_category(item: TransactionItem, wanted: str) -> bool:
    """API.md §5.4, decided for our postings: entries = commitment approvals, stock entries (IN)
    and manual postings/adjustments (meta.source "manual"), never labour; operations = labour,
    stock issues (OUT) and every cost-engine posting (a work order's parts and third-party
    costs are operations too)."""
    meta = _meta(item)
    source = meta.get("source")
    movement = str(meta.get("movement_type") or "").upper()
    if wanted == "entries":
        if item.transaction_type == "labor":
            return False
        return source in (SOURCE_COMMITMENT, SOURCE_MANUAL) or (source == SOURCE_INVENTORY and movement == "IN")
    return (
        item.transaction_type == "labor"
        or source == SOURCE_COST_ENGINE
        or (source == SOURCE_INVENTORY and movement == "OUT")
    )


def parse_query(params: Mapping[str, str | None], tz_name: str, states: Mapping[str, MonthState]) -> TransactionQuery:
    """The filters of API.md §5.4 with the frontend's aliases; invalid choices → 400."""
    tz = zone(tz_name)
    lows: list[str] = []
    highs: list[str] = []
    predicates: list[Predicate] = []

    def local_instant(day: date) -> str:
        return iso_ms(to_ms(datetime(day.year, day.month, day.day, tzinfo=tz)))

    if hit := _first(params, "start_date"):
        lows.append(local_instant(_local_day(hit[1], hit[0])))
    if hit := _first(params, "end_date"):
        highs.append(local_instant(_local_day(hit[1], hit[0]) + timedelta(days=1)))
    year = _int(hit[1], hit[0]) if (hit := _first(params, "year")) else None
    if year is not None:
        lows.append(local_instant(date(year, 1, 1)))
        highs.append(local_instant(date(year + 1, 1, 1)))
    if hit := _first(params, "month"):
        name, value = hit
        if value.isdigit() and 1 <= int(value) <= 12:
            number = int(value)
            if year is not None:
                lows.append(local_instant(date(year, number, 1)))
                highs.append(iso_ms(to_ms(month_start(next_month(f"{year:04d}-{number:02d}"), tz_name))))
            else:
                predicates.append(lambda item: int(month_of(item.occurred_at, tz_name)[5:7]) == number)
        elif _MONTH.match(value[:7]):
            lows.append(iso_ms(to_ms(month_start(value[:7], tz_name))))
            highs.append(iso_ms(to_ms(month_start(next_month(value[:7]), tz_name))))
        else:
            raise DomainError("Enter a valid month (YYYY-MM-01 or 1-12).", field=name)
    if hit := _first(params, "cost_center", "cost_center_id"):
        center = hit[1]
        predicates.append(lambda item: item.cost_center_id == center)
    if hit := _first(params, "asset", "asset_id"):
        asset_id = _int(hit[1], hit[0])
        predicates.append(lambda item: item.asset_id is not None and int(item.asset_id) == asset_id)
    work_order_id = _int(hit[1], hit[0]) if (hit := _first(params, "work_order", "work_order_id")) else None
    if hit := _first(params, "category", "category__in"):
        categories = _choices(hit[1], CATEGORIES, hit[0])
        predicates.append(lambda item: item.category in categories)
    if hit := _first(params, "transaction_type", "type", "transaction_type__in", "type__in"):
        types = _choices(hit[1], TRANSACTION_TYPES, hit[0])
        predicates.append(lambda item: item.transaction_type in types)
    if hit := _first(params, "source_category"):
        wanted = hit[1]
        if wanted not in ("entries", "operations"):
            raise DomainError(f"Select a valid choice. {wanted} is not one of the available choices.", field=hit[0])
        predicates.append(lambda item: _source_category(item, wanted))
    if hit := _first(params, "min_amount"):
        minimum = _decimal(hit[1], hit[0])
        predicates.append(lambda item: Decimal(item.amount) >= minimum)
    if hit := _first(params, "max_amount"):
        maximum = _decimal(hit[1], hit[0])
        predicates.append(lambda item: Decimal(item.amount) <= maximum)
    if hit := _first(params, "is_locked"):
        locked = _bool(hit[1], hit[0])
        predicates.append(lambda item: _locked(states, item.month) == locked)
    if hit := _first(params, "vendor_id"):
        vendor = hit[1]
        predicates.append(lambda item: item.vendor_id == vendor)
    if hit := _first(params, "description"):
        needle = hit[1].lower()
        predicates.append(lambda item: needle in (item.description or "").lower())
    if hit := _first(params, "search"):
        term = hit[1].lower()
        predicates.append(lambda item: term in _search_text(item))
    return TransactionQuery(
        low=max(lows) if lows else None,
        high=min(highs) if highs else None,
        predicates=predicates,
        ordering=_ordering(params.get("ordering")),
        work_order_id=work_order_id,
    )


def _search_text(item: TransactionItem) -> str:
    meta = _meta(item)
    parts = [item.description, item.idempotency_key, item.work_order_number, meta.get("reason"), meta.get("invoice")]
    return " ".join(str(part) for part in parts if part).lower()


def _ordering(raw: str | None) -> tuple[tuple[str, bool], ...]:
    """DRF OrderingFilter: comma-separated fields, '-' for descending; unknown fields ignored."""
    fields: list[tuple[str, bool]] = []
    for part in (raw or "").split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.lstrip("-")
        if name in ORDERABLE and name not in (field for field, _ in fields):
            fields.append((name, descending))
    return tuple(fields) or DEFAULT_ORDERING


def _walk_months(query: TransactionQuery, states: Mapping[str, MonthState], tz_name: str) -> list[str]:
    """The month partitions that can hold matching rows: months with postings (their marker
    items) that overlap [low, high)."""
    months = []
    for month in sorted(states):
        if not _MONTH.match(month):
            continue
        if query.high and iso_ms(to_ms(month_start(month, tz_name))) >= query.high:
            continue
        if query.low and iso_ms(to_ms(month_start(next_month(month), tz_name))) <= query.low:
            continue
        months.append(month)
    return months


def _parse_position(position: str) -> tuple[str, str]:
    month, _, sk = position.partition("|")
    if not _MONTH.match(month) or not sk:
        raise NotFound("Invalid cursor.")
    return month, sk


@dataclass
class TransactionListing:
    """What the route paginates: `fetch(position, backwards, limit)` and `count()` for
    `core.http.cursor_paginate`."""

    fetch: Callable[[str | None, bool, int], list[tuple[str, TransactionItem]]]
    count: Callable[[], int]
    states: Mapping[str, MonthState]


def list_transactions(repo: PostingRepository, params: Mapping[str, str | None]) -> TransactionListing:
    states = repo.month_states()
    query = parse_query(params, repo.timezone, states)
    if query.streams:
        return _streaming(repo, query, states)
    return _in_memory(repo, query, states)


def _streaming(
    repo: PostingRepository, query: TransactionQuery, states: Mapping[str, MonthState]
) -> TransactionListing:
    months = _walk_months(query, states, repo.timezone)
    descending = query.ordering[0][1]

    def walk(position: str | None, backwards: bool, limit: int | None) -> list[tuple[str, TransactionItem]]:
        reverse = descending != backwards  # True: newest first
        start_month, start_sk = _parse_position(position) if position else (None, None)
        page_size = max(25, min((limit or 1000), 1000))
        found: list[tuple[str, TransactionItem]] = []
        for month in sorted(months, reverse=reverse):
            if start_month and (month > start_month if reverse else month < start_month):
                continue
            low, high = query.low, query.high
            if month == start_month and start_sk:
                if reverse:
                    high = min(high, start_sk) if high else start_sk
                else:
                    low = max(low, start_sk) if low else start_sk
            for item in repo.query_month(month, low, high, reverse, page_size):
                if month == start_month and item.sk == start_sk:
                    continue
                if query.matches(item):
                    found.append((f"{month}|{item.sk}", item))
                    if limit is not None and len(found) >= limit:
                        return found
        return found

    return TransactionListing(
        fetch=walk,
        count=lambda: len(walk(None, False, None)),
        states=states,
    )


def _in_memory(
    repo: PostingRepository, query: TransactionQuery, states: Mapping[str, MonthState]
) -> TransactionListing:
    """Orderings other than occurred_at, and a work order's postings (read through its link
    partition, consistently): all matching rows sorted, positions are indexes."""
    if query.work_order_id is not None:
        links = repo.work_order_links(query.work_order_id)
        items = repo.batch_transactions((link.ledger_pk, link.ledger_sk) for link in links)
    else:
        items = [
            item
            for month in _walk_months(query, states, repo.timezone)
            for item in repo.query_month(month, query.low, query.high, False, 1000)
        ]
    rows = sorted((item for item in items if query.matches(item)), key=lambda item: item.id)
    for name, descending in reversed(query.ordering):
        rows.sort(key=functools.partial(_sort_value, name=name), reverse=descending)

    def fetch(position: str | None, backwards: bool, limit: int) -> list[tuple[str, TransactionItem]]:
        if position is None:
            index = -1
        else:
            if not position.startswith("#") or not position[1:].isdigit():
                raise NotFound("Invalid cursor.")
            index = int(position[1:])
        indexes = range(index - 1, -1, -1) if backwards else range(index + 1, len(rows))
        return [(f"#{i}", rows[i]) for i in list(indexes)[:limit]]

    return TransactionListing(fetch=fetch, count=lambda: len(rows), states=states)


def _sort_value(item: TransactionItem, name: str) -> Any:
    if name == "amount":
        return Decimal(item.amount)
    if name == "created_at":
        return (item.created_at, item.id)
    return getattr(item, name) or ""
