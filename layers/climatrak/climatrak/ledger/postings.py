"""The ledger: the one posting service, manual postings and adjustments, and their views.

`post(repo, postings, automatic=...)` is the only writer of ledger transactions. A group of
postings (one event's) goes into ONE TransactWrite with everything that must hold with it:

    month item      Put  T#{t} / LEDGERMONTH#{YYYY-MM}      attribute_not_exists OR locked = false
    cost centre     Update T#{t} / CC#{id}  SET in_use      attribute_exists (once per distinct centre)
    transaction     Put  pk T#{t}#LEDGER#{YYYY-MM}, sk {occurred_at}#{id}
    key guard       Put  pk T#{t}#LEDGERKEY, sk {key}       attribute_not_exists (unique per tenant)
    work-order link Put  pk T#{t}#WO#{id:08d}, sk TX#{id}
    outbox          Put  cost.entry_posted
    projection      Update ADD actual on SummaryRow (month, cost centre, category) and AssetCostRow

A key whose guard exists means the posting was done: automatic postings return the existing
transaction and write nothing; a manual posting with a used key is a 400 field error. A locked
month refuses manual postings (409, nothing written); automatic postings move to the first open
month after it (occurred_at = that month's first instant in the tenant's time zone, the original
date kept in meta). A cost centre deleted meanwhile refuses the transaction: a manual posting
gets a 400 field error `cost_center`; automatic postings go to the tenant's default cost centre
with `meta.original_cost_center_id` (a cost is never dropped). Locks, keys and cost centres are
conditions inside the transaction and nothing is read before it: a refusal reads what refused it
(guards, locks) and the next attempt acts on that, so a cost is never dropped and never posted
twice, and the happy path is one request. A caller may add `requires=` preconditions: condition
checks on other items in the same transaction (a commitment's approval posting requires that the
commitment is not cancelled); one that fails writes nothing and raises `PreconditionFailed`.
Listing the ledger lives in transaction_listing.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from climatrak.core.errors import Conflict, DomainError
from climatrak.core.events import add_to_outbox, new_event, new_event_id
from climatrak.core.money import money
from climatrak.core.timeutil import month_of, next_month, parse_iso, utc_now_iso
from climatrak.ledger.cost_centers import CostCenters, resolve_cost_center
from climatrak.ledger.items import LedgerKeyGuard, TransactionItem, ensure_default_cost_center
from climatrak.ledger.models import CATEGORIES, CATEGORY_LABELS
from climatrak.ledger.months import month_start_iso
from climatrak.ledger.parsing import invalid_pk, iso, parse_instant, require
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.projection import ProjectionDeltas
from climatrak.ledger.store import BUSY, STALE_WRITE, MonthState, TransactionRefused, is_locked
from climatrak.ledger.transaction_models import (
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
COST_CENTER_TAG = "cost_center:"
MAX_ATTEMPTS = 12
LOCKED_MONTH = "The month {month} is locked: its transactions cannot be added, changed or deleted."
IMMUTABLE = "Automatic postings cannot be changed; post an adjustment instead."
DUPLICATE_KEY = "transaction with this idempotency key already exists."
REASON_REQUIRED = "An adjustment requires a reason (meta.reason or description)."
REQUIRES_TAG = "requires:"


@dataclass(frozen=True)
class Posted:
    """The outcome of one posting: the stored transaction and whether this call created it."""

    transaction: TransactionItem
    created: bool


@dataclass(frozen=True)
class Precondition:
    """A fact a posting group depends on, checked inside its transaction: a ConditionCheck of
    `condition` on the item (`model`, `hash_key`, `range_key`), which must not be an item the
    group writes. `name` says which fact failed."""

    model: type[Model]
    hash_key: str
    range_key: str
    condition: Condition
    name: str


class PreconditionFailed(Exception):
    """A posting group's precondition did not hold: nothing was written."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(f"posting precondition(s) failed: {sorted(names)}")
        self.names = names


# ---- the posting service ------------------------------------------------------------------


def post(
    repo: PostingRepository,
    postings: Sequence[NewPosting],
    *,
    automatic: bool,
    requires: Sequence[Precondition] = (),
) -> list[Posted]:
    """Post a group of postings atomically (one TransactWrite); returns one Posted per input.

    automatic=True (cost engine, commitment approvals): an existing idempotency key returns the
    posting made earlier; a locked month moves the posting to the first open month after it.
    automatic=False (manual postings): a used key is a 400 field error; a locked month is 409.
    `requires`: conditions checked in the same transaction; if one fails, nothing is written and
    PreconditionFailed names it (checked only when something is still to be written: postings
    whose keys exist are returned as they are)."""
    group = [_normalised(posting) for posting in postings]
    keys = [posting.idempotency_key for posting in group if posting.idempotency_key]
    if len(keys) != len(set(keys)):
        raise ValueError("one posting group cannot use an idempotency key twice")
    # Optimistic: the conditions inside the transaction are the checks. Only a refusal reads
    # what refused it (the key guards, the month locks) to decide the next attempt.
    guards: dict[str, LedgerKeyGuard] = {}
    states: dict[str, MonthState] = {}
    for _ in range(MAX_ATTEMPTS):
        if guards and not automatic:
            raise DomainError(DUPLICATE_KEY, field="idempotency_key")
        fresh = [posting for posting in group if not posting.idempotency_key or posting.idempotency_key not in guards]
        written: list[TransactionItem] = []
        if fresh:
            placed = [_place(repo, posting, states, automatic) for posting in fresh]
            try:
                written = _write(repo, placed, *requires)
            except TransactionRefused as refused:
                failed = {tag.removeprefix(REQUIRES_TAG) for tag in refused.tags if tag.startswith(REQUIRES_TAG)}
                if failed:
                    raise PreconditionFailed(failed) from refused
                missing = {tag.removeprefix(COST_CENTER_TAG) for tag in refused.tags if tag.startswith(COST_CENTER_TAG)}
                if missing and not automatic:
                    raise invalid_pk(sorted(missing)[0], "cost_center") from refused
                if missing:
                    group = _to_default_cost_center(repo, group, missing)
                if any(tag.startswith("key:") for tag in refused.tags):
                    guards = repo.guards(keys)
                if any(tag.startswith("month:") for tag in refused.tags):
                    states = repo.month_states()
                continue
        return _outcomes(repo, group, guards, written)
    raise Conflict(BUSY, code="busy")


def _to_default_cost_center(repo: PostingRepository, group: list[NewPosting], missing: set[str]) -> list[NewPosting]:
    """Automatic postings whose cost centre is gone go to the tenant's default one (created on
    first need; it cannot be deleted), keeping the one they named in meta."""
    default = ensure_default_cost_center(repo.tenant)
    return [
        replace(
            posting,
            cost_center_id=default,
            meta={**posting.meta, "original_cost_center_id": posting.cost_center_id},
        )
        if posting.cost_center_id in missing and posting.cost_center_id != default
        else posting
        for posting in group
    ]


def _normalised(posting: NewPosting) -> NewPosting:
    if posting.transaction_type not in TRANSACTION_TYPES:
        raise ValueError(f"unknown transaction type {posting.transaction_type!r}")
    if posting.category not in CATEGORIES:
        raise ValueError(f"unknown category {posting.category!r}")
    return replace(
        posting,
        amount=money(posting.amount),
        occurred_at=iso(parse_iso(posting.occurred_at)),
        currency=(posting.currency or "BRL").upper(),
        meta=json_safe(posting.meta or {}),
    )


def _place(
    repo: PostingRepository, posting: NewPosting, states: Mapping[str, MonthState], automatic: bool
) -> tuple[NewPosting, str]:
    """The month a posting goes into: its own, or (automatic) the first open one after it."""
    month = month_of(posting.occurred_at, repo.timezone)
    if not is_locked(states, month):
        return posting, month
    if not automatic:
        raise Conflict(LOCKED_MONTH.format(month=month), code="month_locked")
    target = month
    while is_locked(states, target):
        target = next_month(target)
    meta = {**posting.meta, "original_occurred_at": posting.occurred_at, "moved_from_locked_month": month}
    return replace(posting, occurred_at=month_start_iso(target, repo.timezone), meta=meta), target


def _write(
    repo: PostingRepository, placed: Sequence[tuple[NewPosting, str]], *requires: Precondition
) -> list[TransactionItem]:
    now = utc_now_iso()
    items: list[TransactionItem] = []
    deltas = ProjectionDeltas(repo.tenant)
    with repo.transaction() as tw:
        for required in requires:
            tw.condition_check(
                required.model,
                required.hash_key,
                required.range_key,
                condition=required.condition,
                tag=f"{REQUIRES_TAG}{required.name}",
            )
        for month in sorted({month for _, month in placed}):
            repo.month_open(tw, month)
        for cost_center_id in sorted({posting.cost_center_id for posting, _ in placed}):
            repo.use_cost_center(tw, cost_center_id, f"{COST_CENTER_TAG}{cost_center_id}")
        for posting, month in placed:
            item = _transaction_item(repo, posting, month, now)
            items.append(item)
            tw.save(item, condition=TransactionItem.pk.does_not_exist(), tag="item")
            if posting.idempotency_key:
                guard = repo.guard_item(posting.idempotency_key, item)
                tw.save(guard, condition=LedgerKeyGuard.pk.does_not_exist(), tag=f"key:{posting.idempotency_key}")
            if posting.work_order_id is not None:
                tw.save(repo.link_item(item), tag="link")
            _count(deltas, item, Decimal(1))
            add_to_outbox(
                tw,
                new_event(
                    repo.tenant,
                    COST_ENTRY_POSTED,
                    "ledger_transaction",
                    item.id,
                    _event_data(item),
                    idempotency_key=f"{COST_ENTRY_POSTED}:{item.id}",
                ),
            )
        deltas.write(tw)
    return items


def _transaction_item(
    repo: PostingRepository,
    posting: NewPosting,
    month: str,
    now: str,
    *,
    transaction_id: str | None = None,
    created_at: str | None = None,
) -> TransactionItem:
    """The stored posting (a new one, or the new version of `transaction_id` made at `created_at`)."""
    transaction_id = transaction_id or new_event_id()  # UUIDv7: ids sort by creation, so sk ties break by it
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
        created_at=created_at or now,
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
        "source": item.meta_dict().get("source"),
    }


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


def json_safe(value: Any) -> Any:
    """Meta values as DynamoDB stores them without surprises: str/int/bool/None, lists, maps;
    Decimals and floats become strings (money is never a float)."""
    if isinstance(value, dict):
        return {str(name): json_safe(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


# ---- manual postings and adjustments -----------------------------------------------------

REFERENCES = frozenset({"cost_center", "asset", "work_order"})


def _validated(repo: PostingRepository, posting: NewPosting, references: frozenset[str] = REFERENCES) -> NewPosting:
    """Checks a manual posting's values; `references` names the links to resolve and check (on
    PATCH only the ones being changed: a row keeps its links even if they were deleted since)."""
    try:
        amount = money(posting.amount)
    except ValueError:
        raise DomainError("A valid number is required.", field="amount") from None
    if amount == 0:
        raise DomainError("Ensure this value is not zero.", field="amount")
    if amount < 0 and posting.transaction_type != "adjustment":
        raise DomainError("Only adjustments may be negative.", field="amount")
    currency = (posting.currency or "BRL").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise DomainError("Enter a 3-letter currency code.", field="currency")
    meta = json_safe(dict(posting.meta or {}))
    meta["source"] = SOURCE_MANUAL
    description = posting.description.strip()
    reason = str(meta.get("reason") or "").strip()
    if posting.transaction_type == "adjustment" and not (reason or description):
        raise DomainError(REASON_REQUIRED, field="description")
    if not description and reason:
        description = reason
    cost_center_id = posting.cost_center_id
    if "cost_center" in references:
        cost_center_id = resolve_cost_center(repo, cost_center_id, "cost_center", default=True)
    if "asset" in references and posting.asset_id is not None and not repo.assets([posting.asset_id]):
        raise invalid_pk(posting.asset_id, "asset")
    number = posting.work_order_number
    if "work_order" in references:
        number = None if posting.work_order_id is None else repo.work_order_number(posting.work_order_id)
        if posting.work_order_id is not None and number is None:
            raise invalid_pk(posting.work_order_id, "work_order")
    return replace(
        posting,
        amount=amount,
        currency=currency,
        meta=meta,
        description=description,
        cost_center_id=cost_center_id,
        work_order_number=number,
    )


def create_manual(repo: PostingRepository, body: TransactionCreate, user_id: int | None) -> CostTransaction:
    """POST /trakledger/transactions/: a manual posting or adjustment (meta.source = "manual")."""
    if body.work_order is not None and body.transaction_type != "adjustment" and not body.idempotency_key:
        raise DomainError(
            "An idempotency key is required for postings linked to a work order (except adjustments).",
            field="idempotency_key",
        )
    posting = _validated(
        repo,
        NewPosting(
            transaction_type=body.transaction_type,
            category=body.category,
            amount=body.amount,
            occurred_at=parse_instant(body.occurred_at, repo.timezone, "occurred_at"),
            cost_center_id=body.cost_center or "",
            currency=body.currency,
            description=body.description,
            meta=body.meta,
            idempotency_key=body.idempotency_key,
            asset_id=body.asset,
            work_order_id=body.work_order,
            vendor_id=body.vendor_id,
            created_by=user_id or None,
        ),
    )
    (posted,) = post(repo, [posting], automatic=False)
    return transaction_views(repo, [posted.transaction])[0]


def _require_editable(item: TransactionItem, states: Mapping[str, MonthState]) -> None:
    if item.meta_dict().get("source") != SOURCE_MANUAL:
        raise Conflict(IMMUTABLE, code="immutable")
    if is_locked(states, item.month):
        raise Conflict(LOCKED_MONTH.format(month=item.month), code="month_locked")


def update_manual(repo: PostingRepository, transaction_id: str, patch: TransactionPatch) -> CostTransaction:
    """PATCH: a manual row changes in place or moves (new month / time) in one transaction,
    version-checked, with the projection moved from the old (month, cost centre, category,
    asset) to the new one."""
    item = require(repo.get_transaction(transaction_id))
    states = repo.month_states()
    _require_editable(item, states)
    changes = patch.model_dump(exclude_unset=True)
    posting = _validated(
        repo,
        NewPosting(
            transaction_type=changes.get("transaction_type") or item.transaction_type,
            category=changes.get("category") or item.category,
            amount=changes["amount"] if changes.get("amount") is not None else Decimal(item.amount),
            occurred_at=(
                parse_instant(changes["occurred_at"], repo.timezone, "occurred_at")
                if changes.get("occurred_at")
                else item.occurred_at
            ),
            cost_center_id=changes.get("cost_center", item.cost_center_id) or "",
            currency=changes.get("currency") or item.currency,
            description=changes["description"] if changes.get("description") is not None else item.description,
            meta=dict(changes["meta"]) if changes.get("meta") is not None else item.meta_dict(),
            idempotency_key=item.idempotency_key,
            asset_id=changes.get("asset", item.asset_id),
            work_order_id=changes.get("work_order", item.work_order_id),
            work_order_number=item.work_order_number,
            vendor_id=changes.get("vendor_id", item.vendor_id),
            created_by=int(item.created_by) if item.created_by is not None else None,
        ),
        REFERENCES & set(changes),
    )
    month = month_of(posting.occurred_at, repo.timezone)
    if is_locked(states, month):
        raise Conflict(LOCKED_MONTH.format(month=month), code="month_locked")
    moved = month != item.month or posting.occurred_at != item.occurred_at
    updated = _transaction_item(repo, posting, month, utc_now_iso(), transaction_id=item.id, created_at=item.created_at)
    if not moved:
        updated.version = item.version  # saved in place: version-checked; a move deletes the old one checked
    deltas = ProjectionDeltas(repo.tenant)
    _count(deltas, item, Decimal(-1))
    _count(deltas, updated, Decimal(1))
    with _edit_errors(repo), repo.transaction() as tw:
        repo.check_month_open(tw, item.month)
        if month != item.month:
            repo.month_open(tw, month)
        if updated.cost_center_id != item.cost_center_id:
            repo.use_cost_center(tw, updated.cost_center_id, f"{COST_CENTER_TAG}{updated.cost_center_id}")
        if moved:
            tw.delete(item, tag="item")
            tw.save(updated, condition=TransactionItem.pk.does_not_exist(), tag="item")
            if item.idempotency_key:
                tw.save(repo.guard_item(item.idempotency_key, updated), tag="guard")
        else:
            tw.save(updated, tag="item")
        if item.work_order_id is not None and item.work_order_id != updated.work_order_id:
            repo.unlink(tw, item.work_order_id, item.id)
        if updated.work_order_id is not None and (moved or item.work_order_id != updated.work_order_id):
            tw.save(repo.link_item(updated), tag="link")
        deltas.write(tw)
    return transaction_views(repo, [updated])[0]


def delete_manual(repo: PostingRepository, transaction_id: str) -> None:
    """DELETE: a manual row leaves the ledger, its key, its link and the projection together."""
    item = require(repo.get_transaction(transaction_id))
    _require_editable(item, repo.month_states())
    deltas = ProjectionDeltas(repo.tenant)
    _count(deltas, item, Decimal(-1))
    with _edit_errors(repo), repo.transaction() as tw:
        repo.check_month_open(tw, item.month)
        tw.delete(item, tag="item")
        if item.idempotency_key:
            tw.delete(LedgerKeyGuard(repo.keys.ledger_keys(), item.idempotency_key), tag="guard")
        if item.work_order_id is not None:
            repo.unlink(tw, item.work_order_id, item.id)
        deltas.write(tw)


@contextmanager
def _edit_errors(repo: PostingRepository) -> Iterator[None]:
    """Map a refused edit: the new cost centre deleted meanwhile → 400 `cost_center`; a month
    locked meanwhile → 409 month_locked; anything else (the
    version moved, a month marker appeared) → 409 stale."""
    try:
        yield
    except TransactionRefused as refused:
        for tag in refused.tags:
            if tag.startswith(COST_CENTER_TAG):
                raise invalid_pk(tag.removeprefix(COST_CENTER_TAG), "cost_center") from refused
        states = repo.month_states()
        for tag in sorted(refused.tags):
            month = tag.removeprefix("month:")
            if tag.startswith("month:") and is_locked(states, month):
                raise Conflict(LOCKED_MONTH.format(month=month), code="month_locked") from refused
        raise Conflict(STALE_WRITE) from refused


# ---- reading ------------------------------------------------------------------------------


def get_transaction(repo: PostingRepository, transaction_id: str) -> CostTransaction:
    return transaction_views(repo, [require(repo.get_transaction(transaction_id))])[0]


def transaction_views(
    repo: PostingRepository, items: Sequence[TransactionItem], states: Mapping[str, MonthState] | None = None
) -> list[CostTransaction]:
    """The API shape of a page of postings: names of cost centres and assets read once per page."""
    if not items:
        return []
    states = repo.month_states() if states is None else states
    centers = CostCenters.load(repo)
    assets = repo.assets(item.asset_id for item in items)
    return [_view(item, states, centers, assets) for item in items]


def _view(
    item: TransactionItem,
    states: Mapping[str, MonthState],
    centers: CostCenters,
    assets: Mapping[int, AssetItem],
) -> CostTransaction:
    meta = item.meta_dict()
    state = states.get(item.month)
    locked = bool(state and state.locked)
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
        cost_center_name=centers.name(item.cost_center_id),
        cost_center_code=centers.code(item.cost_center_id),
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
