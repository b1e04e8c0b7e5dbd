"""TrakLedger rules: cost centres, rate cards, budget plans and envelopes, commitments, savings
events and the budget summary (API.md §5.1-5.3, §5.5-5.7).

Plain functions over a tenant-scoped `LedgerRepository`; no boto3 and no HTTP here. Every
change that moves planned, committed or savings money writes its summary-projection deltas in
the same transaction as the change (`ProjectionDeltas`), computed as "what the new state
counts minus what the old state counted", so the summary always equals the rows it counts.
Ids of another tenant are simply not found.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar

from climatrak.core.errors import DomainError, Forbidden, NotFound
from climatrak.core.events import new_event
from climatrak.core.identity import Principal
from climatrak.core.money import ZERO, as_number, money
from climatrak.core.timeutil import iso_ms, month_of, next_month, to_ms, utc_now_iso, zone
from climatrak.ledger.items import (
    BudgetMonthAttribute,
    BudgetPlanItem,
    CommitmentItem,
    CostCenterItem,
    EnvelopeItem,
    LedgerMonthItem,
    RateCardItem,
    SavingsItem,
    SummaryRow,
    default_cost_center_id,
)
from climatrak.ledger.models import (
    CATEGORIES,
    CATEGORY_LABELS,
    COMMITMENT_STATUS_LABELS,
    COMMITMENT_STATUS_OUT,
    COMMITMENT_STATUSES,
    CONFIDENCE_ALIASES,
    CONFIDENCE_LABELS,
    PLAN_STATUS_ALIASES,
    PLAN_STATUS_LABELS,
    SAVINGS_CATEGORY,
    SAVINGS_TYPE_ALIASES,
    SAVINGS_TYPE_LABELS,
    BudgetMonth,
    BudgetMonthIn,
    BudgetPlan,
    BudgetPlanCreate,
    BudgetPlanDetail,
    BudgetPlanPatch,
    BudgetSummary,
    CategorySummary,
    Commitment,
    CommitmentApproved,
    CommitmentCreate,
    CommitmentPatch,
    CommitmentReject,
    CostCenter,
    CostCenterCreate,
    CostCenterPatch,
    Envelope,
    EnvelopeCreate,
    EnvelopePatch,
    MonthSummary,
    RateCard,
    RateCardCreate,
    RateCardPatch,
    SavingsCreate,
    SavingsEvent,
    TopCost,
    TopCosts,
    YearSummary,
)
from climatrak.ledger.projection import ProjectionDeltas
from climatrak.ledger.repository import LedgerRepository
from climatrak.registry.items import AssetItem
from climatrak.registry.repository import RegistryRepository

T = TypeVar("T")

NOT_FOUND = "Not found."
INVALID_TRANSITION = "invalid_transition"
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
COST_CENTER_ORDERINGS = {"code", "name", "created_at", "updated_at", "level"}
RATE_CARD_ORDERINGS = {"role", "role_code", "cost_per_hour", "effective_from", "effective_to", "created_at"}
PLAN_ORDERINGS = {"year", "name", "code", "created_at", "status"}
COMMITMENT_ORDERINGS = {"created_at", "budget_month", "amount", "status", "category", "updated_at"}
SAVINGS_ORDERINGS = {"occurred_at", "savings_amount", "created_at", "event_type", "confidence"}
MIN_REJECTION_REASON = 10
TOP_COSTS_MAX_MONTHS = 36
TOP_COSTS_MAX_LIMIT = 100


# ---- small helpers ---------------------------------------------------------------------------


def _require(item: T | None) -> T:
    if item is None:
        raise NotFound(NOT_FOUND)
    return item


def parse_id(raw: str) -> str:
    """Ledger ids are UUIDs; anything else is simply not found (as DRF's router does)."""
    try:
        return str(uuid.UUID(raw))
    except (ValueError, AttributeError, TypeError):
        raise NotFound(NOT_FOUND) from None


def _reference(raw: str | None, field: str) -> str | None:
    """A UUID reference in a request body: a malformed one is a field error."""
    if raw is None:
        return None
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise DomainError(f'"{raw}" is not a valid UUID.', field=field) from None


def _invalid_pk(raw: str, field: str) -> DomainError:
    return DomainError(f'Invalid pk "{raw}" - object does not exist.', field=field)


def _contains(needle: str, *haystack: str | None) -> bool:
    needle = needle.lower()
    return any(needle in (text or "").lower() for text in haystack)


def _not_null(patch: Any, names: Iterable[str]) -> None:
    for name in names:
        if name in patch.model_fields_set and getattr(patch, name) is None:
            raise DomainError("This field may not be null.", field=name)


def _bool_filter(raw: str | None, name: str) -> bool | None:
    if raw in (None, ""):
        return None
    value = str(raw).strip().lower()
    if value in {"true", "1", "yes"}:
        return True
    if value in {"false", "0", "no"}:
        return False
    raise DomainError("Select a valid choice.", field=name)


def _decimal_filter(raw: str | None, name: str) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        return money(str(raw))
    except ValueError:
        raise DomainError("Enter a number.", field=name) from None


def _date_filter(raw: str | None, name: str) -> date | None:
    if raw in (None, ""):
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        raise DomainError("Enter a valid date.", field=name) from None


def _choice(raw: str, choices: Iterable[str], name: str) -> str:
    if raw not in set(choices):
        raise DomainError(f"Select a valid choice. {raw} is not one of the available choices.", field=name)
    return raw


def _ordered(
    rows: list[T], ordering: str | None, default: str, allowed: set[str], key: Callable[[T, str], Any]
) -> list[T]:
    """DRF-style `ordering=field|-field`; unknown fields fall back to the default."""
    chosen = ordering or default
    descending = chosen.startswith("-")
    name = chosen.lstrip("-")
    if name not in allowed:
        descending = default.startswith("-")
        name = default.lstrip("-")
    return sorted(rows, key=lambda row: key(row, name), reverse=descending)


def _sortable(value: Any) -> Any:
    """None sorts first; strings case-insensitively."""
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.lower())
    return (1, value)


def first_of_month(raw: str, field: str) -> str:
    """`YYYY-MM`, `YYYY-MM-DD` (any day) → `YYYY-MM-01`."""
    text = str(raw).strip()
    try:
        day = date.fromisoformat(f"{text}-01" if len(text) == 7 else text[:10])
    except ValueError:
        raise DomainError("Enter a valid date (YYYY-MM-01).", field=field) from None
    return day.replace(day=1).isoformat()


def month_name(month: str) -> str:
    """`2026-03-01` → `March/2026` (the Django reference's `%B/%Y`)."""
    return f"{MONTH_NAMES[int(month[5:7]) - 1]}/{month[:4]}"


def months_between(start: str, end: str) -> list[str]:
    """Business months `YYYY-MM` from start to end, inclusive."""
    months, current = [], start[:7]
    while current <= end[:7]:
        months.append(current)
        current = next_month(current)
    return months


def parse_moment(raw: str, tz_name: str, field: str) -> str:
    """Accept `YYYY-MM-DD` (local midnight), `YYYY-MM-DDTHH:mm[:ss]` (tenant local time, the
    finance forms' datetime-local) or full ISO with an offset or Z; store UTC ISO with ms."""
    text = str(raw).strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise DomainError("Enter a valid date/time.", field=field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz_name))
    return iso_ms(to_ms(moment.astimezone(UTC)))


def local_today(tz_name: str) -> date:
    return datetime.now(zone(tz_name)).date()


def _local_midnight_iso(day: date, tz_name: str) -> str:
    return iso_ms(to_ms(datetime(day.year, day.month, day.day, tzinfo=zone(tz_name))))


# ---- cost centres (§5.1) ---------------------------------------------------------------------


@dataclass
class CostCenters:
    """A tenant's cost centres, loaded once per request (hierarchy walks happen in memory)."""

    items: dict[str, CostCenterItem]

    @classmethod
    def load(cls, repo: LedgerRepository) -> CostCenters:
        return cls({item.id: item for item in repo.list_cost_centers()})

    @cached_property
    def children(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = defaultdict(list)
        for item in self.items.values():
            if item.parent_id:
                grouped[item.parent_id].append(item.id)
        return grouped

    def chain(self, cost_center_id: str) -> list[CostCenterItem]:
        """The cost centre and its ancestors, nearest first (stops on a broken or cyclic chain)."""
        chain: list[CostCenterItem] = []
        seen: set[str] = set()
        current: str | None = cost_center_id
        while current and current in self.items and current not in seen:
            seen.add(current)
            chain.append(self.items[current])
            current = self.items[current].parent_id
        return chain

    def descendants(self, cost_center_id: str) -> set[str]:
        """The cost centre and everything below it."""
        found, pending = {cost_center_id}, [cost_center_id]
        while pending:
            for child in self.children.get(pending.pop(), []):
                if child not in found:
                    found.add(child)
                    pending.append(child)
        return found

    def name(self, cost_center_id: str | None) -> str | None:
        item = self.items.get(cost_center_id or "")
        return item.name if item else None

    def code(self, cost_center_id: str | None) -> str | None:
        item = self.items.get(cost_center_id or "")
        return item.code if item else None


def cost_center_view(item: CostCenterItem, centers: CostCenters) -> CostCenter:
    chain = centers.chain(item.id)
    return CostCenter(
        id=item.id,
        code=item.code,
        name=item.name,
        description=item.description,
        parent_id=item.parent_id,
        parent_name=centers.name(item.parent_id),
        level=len(chain) - 1,
        full_path=" > ".join(node.name for node in reversed(chain)),
        children_count=len(centers.children.get(item.id, [])),
        tags=list(item.tags or []),
        is_active=bool(item.is_active),
        is_default=bool(item.is_default),
        created_at=item.created_at,
        updated_at=item.updated_at,
        created_by=int(item.created_by) if item.created_by is not None else None,
    )


def list_cost_centers(repo: LedgerRepository, filters: Mapping[str, str | None]) -> list[CostCenter]:
    centers = CostCenters.load(repo)
    rows = list(centers.items.values())
    for name in ("code", "name"):
        wanted = filters.get(name)
        if wanted:
            rows = [row for row in rows if wanted.lower() in getattr(row, name).lower()]
    parent = filters.get("parent") or filters.get("parent_id")
    if parent:
        rows = [row for row in rows if row.parent_id == parent]
    is_root = _bool_filter(filters.get("is_root"), "is_root")
    if is_root is not None:
        rows = [row for row in rows if (row.parent_id is None) == is_root]
    is_active = _bool_filter(filters.get("is_active"), "is_active")
    if is_active is not None:
        rows = [row for row in rows if bool(row.is_active) == is_active]
    tag = filters.get("has_tag")
    if tag:
        rows = [row for row in rows if tag in (row.tags or [])]
    search = filters.get("search")
    if search:
        rows = [row for row in rows if _contains(search, row.code, row.name, row.description)]
    views = [cost_center_view(row, centers) for row in rows]
    views.sort(key=lambda view: view.name.lower())
    return _ordered(
        views, filters.get("ordering"), "code", COST_CENTER_ORDERINGS, lambda v, k: _sortable(getattr(v, k))
    )


def get_cost_center(repo: LedgerRepository, cost_center_id: str) -> CostCenter:
    item = _require(repo.get_cost_center(cost_center_id))
    return cost_center_view(item, CostCenters.load(repo))


def create_cost_center(repo: LedgerRepository, caller: Principal, body: CostCenterCreate) -> CostCenter:
    parent_id = _reference(body.parent_id, "parent_id")
    parent = repo.get_cost_center(parent_id) if parent_id else None
    if parent_id and parent is None:
        raise _invalid_pk(parent_id, "parent_id")
    if not body.code.strip():
        raise DomainError("This field may not be blank.", field="code")
    now = utc_now_iso()
    item = CostCenterItem(
        id=str(uuid.uuid4()),
        code=body.code.strip(),
        name=body.name.strip(),
        description=body.description,
        parent_id=parent_id,
        tags=list(body.tags),
        is_active=body.is_active,
        is_default=False,
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    repo.create_cost_center(item, parent)
    return cost_center_view(item, CostCenters.load(repo))


def update_cost_center(repo: LedgerRepository, cost_center_id: str, body: CostCenterPatch) -> CostCenter:
    item = _require(repo.get_cost_center(cost_center_id))
    _not_null(body, ("code", "name", "description", "tags", "is_active"))
    centers = CostCenters.load(repo)
    previous_code = item.code
    ancestors: list[CostCenterItem] = []
    if "parent_id" in body.model_fields_set:
        parent_id = _reference(body.parent_id, "parent_id")
        if parent_id and parent_id != item.parent_id:
            parent = repo.get_cost_center(parent_id)
            if parent is None:
                raise _invalid_pk(parent_id, "parent_id")
            centers.items[parent.id] = parent
            if parent_id in centers.descendants(item.id):
                raise DomainError("A cost center cannot be placed under itself or its descendants.", field="parent_id")
            ancestors = centers.chain(parent_id)
        item.parent_id = parent_id
    if body.code is not None:
        if not body.code.strip():
            raise DomainError("This field may not be blank.", field="code")
        item.code = body.code.strip()
    if body.name is not None:
        item.name = body.name.strip()
    if body.description is not None:
        item.description = body.description
    if body.tags is not None:
        item.tags = list(body.tags)
    if body.is_active is not None:
        item.is_active = body.is_active
    item.updated_at = utc_now_iso()
    repo.save_cost_center(item, previous_code, ancestors)
    centers.items[item.id] = item
    centers.__dict__.pop("children", None)
    return cost_center_view(item, centers)


def delete_cost_center(repo: LedgerRepository, cost_center_id: str) -> None:
    item = _require(repo.get_cost_center(cost_center_id))
    if item.is_default or item.id == default_cost_center_id(repo.tenant):
        raise DomainError("The default cost center cannot be deleted.", code="protected")
    centers = CostCenters.load(repo)
    if centers.children.get(item.id):
        raise DomainError("This cost center has child cost centers; move or delete them first.", code="protected")
    if repo.cost_center_in_use(item.id):
        raise DomainError(
            "This cost center is used by budget envelopes, commitments or savings events.", code="protected"
        )
    repo.delete_cost_center(item)


# ---- rate cards (§5.2) -----------------------------------------------------------------------


def _in_force(card: RateCardItem, on: date) -> bool:
    iso = on.isoformat()
    return card.effective_from <= iso and (card.effective_to is None or card.effective_to >= iso)


def rate_card_view(card: RateCardItem, today: date) -> RateCard:
    return RateCard(
        id=card.id,
        role=card.role,
        role_code=card.role_code or "",
        description=card.description,
        cost_per_hour=money(card.cost_per_hour),
        currency=card.currency,
        effective_from=card.effective_from,
        effective_to=card.effective_to,
        is_current=bool(card.is_active) and _in_force(card, today),
        is_active=bool(card.is_active),
        created_at=card.created_at,
        updated_at=card.updated_at,
        created_by=int(card.created_by) if card.created_by is not None else None,
    )


def rate_in_force(repo: LedgerRepository, role: str, role_code: str | None, on: date) -> RateCardItem | None:
    """The rate card that prices `role`'s hours on `on` (the cost engine's lookup).

    Active cards whose period contains `on`; matched on `role_code` when one is given (case-
    insensitive), otherwise, or when no card carries that code, on the role name (a card's
    name or code equal to `role`, case-insensitive). The latest `effective_from` wins; periods
    of one role never overlap (create/update refuse it), so the answer is unambiguous."""
    cards = [card for card in repo.list_rate_cards() if card.is_active and _in_force(card, on)]
    matches: list[RateCardItem] = []
    if role_code and role_code.strip():
        code = role_code.strip().casefold()
        matches = [card for card in cards if (card.role_code or "").casefold() == code]
    if not matches and role and role.strip():
        name = role.strip().casefold()
        matches = [card for card in cards if card.role.casefold() == name or (card.role_code or "").casefold() == name]
    return max(matches, key=lambda card: (card.effective_from, card.created_at), default=None)


def _same_role(a: RateCardItem, b: RateCardItem) -> bool:
    if a.role.strip().casefold() == b.role.strip().casefold():
        return True
    code_a, code_b = (a.role_code or "").strip().casefold(), (b.role_code or "").strip().casefold()
    return bool(code_a) and code_a == code_b


def _periods_overlap(a: RateCardItem, b: RateCardItem) -> bool:
    far = "9999-12-31"
    return a.effective_from <= (b.effective_to or far) and b.effective_from <= (a.effective_to or far)


def _check_rate_card(card: RateCardItem, others: Iterable[RateCardItem]) -> None:
    if card.effective_to is not None and card.effective_to < card.effective_from:
        raise DomainError("The end date must be on or after the start date.", field="effective_to")
    if not card.is_active:
        return
    for other in others:
        if other.id != card.id and other.is_active and _same_role(card, other) and _periods_overlap(card, other):
            until = other.effective_to or "open-ended"
            raise DomainError(
                f"Another active rate card for this role is in force from {other.effective_from} to {until}; "
                "periods of one role cannot overlap (end the other one first).",
                field="effective_from",
            )


def list_rate_cards(repo: LedgerRepository, filters: Mapping[str, str | None]) -> list[RateCard]:
    rows = repo.list_rate_cards()
    today = local_today(repo.timezone)
    role = filters.get("role")
    if role:
        rows = [row for row in rows if role.lower() in row.role.lower()]
    role_code = filters.get("role_code")
    if role_code:
        rows = [row for row in rows if (row.role_code or "").lower() == role_code.lower()]
    is_active = _bool_filter(filters.get("is_active"), "is_active")
    if is_active is not None:
        rows = [row for row in rows if bool(row.is_active) == is_active]
    is_current = _bool_filter(filters.get("is_current"), "is_current")
    if is_current is not None:
        rows = [row for row in rows if (bool(row.is_active) and _in_force(row, today)) == is_current]
    on = _date_filter(filters.get("effective_date"), "effective_date")
    if on is not None:
        rows = [row for row in rows if _in_force(row, on)]
    low = _decimal_filter(filters.get("min_cost"), "min_cost")
    if low is not None:
        rows = [row for row in rows if row.cost_per_hour >= low]
    high = _decimal_filter(filters.get("max_cost"), "max_cost")
    if high is not None:
        rows = [row for row in rows if row.cost_per_hour <= high]
    views = [rate_card_view(row, today) for row in rows]
    # Django's default: role, then the newest period first.
    views.sort(key=lambda view: view.effective_from, reverse=True)
    views.sort(key=lambda view: view.role.lower())
    ordering = filters.get("ordering")
    if ordering and ordering.lstrip("-") in RATE_CARD_ORDERINGS:
        views = _ordered(views, ordering, "role", RATE_CARD_ORDERINGS, lambda v, k: _sortable(getattr(v, k)))
    return views


def get_rate_card(repo: LedgerRepository, rate_card_id: str) -> RateCard:
    return rate_card_view(_require(repo.get_rate_card(rate_card_id)), local_today(repo.timezone))


def create_rate_card(repo: LedgerRepository, caller: Principal, body: RateCardCreate) -> RateCard:
    seq = repo.rate_card_set_seq()
    now = utc_now_iso()
    card = RateCardItem(
        id=str(uuid.uuid4()),
        role=body.role.strip(),
        role_code=body.role_code.strip(),
        description=body.description,
        cost_per_hour=money(body.cost_per_hour),
        currency=body.currency,
        effective_from=body.effective_from.isoformat(),
        effective_to=body.effective_to.isoformat() if body.effective_to else None,
        is_active=body.is_active,
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    _check_rate_card(card, repo.list_rate_cards())
    repo.save_rate_card(card, seq)
    return rate_card_view(card, local_today(repo.timezone))


def update_rate_card(repo: LedgerRepository, rate_card_id: str, body: RateCardPatch) -> RateCard:
    seq = repo.rate_card_set_seq()
    card = _require(repo.get_rate_card(rate_card_id))
    _not_null(body, ("role", "role_code", "description", "cost_per_hour", "currency", "effective_from", "is_active"))
    changes = body.model_dump(exclude_unset=True)
    for name in ("role", "role_code"):
        if name in changes:
            setattr(card, name, changes[name].strip())
    if "description" in changes:
        card.description = changes["description"]
    if "cost_per_hour" in changes:
        card.cost_per_hour = money(changes["cost_per_hour"])
    if "currency" in changes:
        card.currency = changes["currency"]
    if "effective_from" in changes:
        card.effective_from = changes["effective_from"].isoformat()
    if "effective_to" in changes:
        card.effective_to = changes["effective_to"].isoformat() if changes["effective_to"] else None
    if "is_active" in changes:
        card.is_active = changes["is_active"]
    card.updated_at = utc_now_iso()
    _check_rate_card(card, repo.list_rate_cards())
    repo.save_rate_card(card, seq)
    return rate_card_view(card, local_today(repo.timezone))


def delete_rate_card(repo: LedgerRepository, rate_card_id: str) -> None:
    """Postings keep the rate they were priced with (in their meta), so a card is never
    referenced by id and can go."""
    seq = repo.rate_card_set_seq()
    repo.delete_rate_card(_require(repo.get_rate_card(rate_card_id)), seq)


# ---- budget plans and envelopes (§5.3) -------------------------------------------------------


@dataclass
class Budgets:
    """Plans, envelopes, cost centres and month locks of a tenant, loaded once per request."""

    repo: LedgerRepository

    @cached_property
    def plans(self) -> dict[str, BudgetPlanItem]:
        return {plan.id: plan for plan in self.repo.list_plans()}

    @cached_property
    def envelopes(self) -> list[EnvelopeItem]:
        return self.repo.list_envelopes()

    @cached_property
    def centers(self) -> CostCenters:
        return CostCenters.load(self.repo)

    @cached_property
    def months(self) -> dict[str, LedgerMonthItem]:
        return self.repo.ledger_months()

    def envelopes_of(self, plan_id: str) -> list[EnvelopeItem]:
        return [envelope for envelope in self.envelopes if envelope.budget_plan_id == plan_id]


def plan_status(stored: str) -> str:
    return PLAN_STATUS_ALIASES.get(stored, stored)


def _planned_total(envelope: EnvelopeItem) -> Decimal:
    return sum((money(month.planned_amount) for month in envelope.months or []), ZERO)


def budget_month_view(envelope: EnvelopeItem, month: BudgetMonthAttribute, budgets: Budgets) -> BudgetMonth:
    lock = budgets.months.get(month.month[:7])
    locked = bool(lock and lock.locked)
    return BudgetMonth(
        id=month.id,
        envelope=envelope.id,
        month=month.month,
        month_name=month_name(month.month),
        planned_amount=money(month.planned_amount),
        contingency_amount=money(month.contingency_amount),
        is_locked=locked,
        locked_at=lock.locked_at if lock and locked else None,
        locked_by=int(lock.locked_by) if lock and locked and lock.locked_by is not None else None,
        locked_by_name=None,
        created_at=month.created_at,
        updated_at=month.updated_at,
    )


def envelope_view(envelope: EnvelopeItem, budgets: Budgets) -> Envelope:
    plan = budgets.plans.get(envelope.budget_plan_id)
    months = sorted(envelope.months or [], key=lambda month: month.month)
    return Envelope(
        id=envelope.id,
        name=envelope.name,
        description=envelope.description,
        budget_plan=envelope.budget_plan_id,
        budget_plan_name=plan.name if plan else None,
        cost_center=envelope.cost_center_id,
        cost_center_name=budgets.centers.name(envelope.cost_center_id),
        cost_center_code=budgets.centers.code(envelope.cost_center_id),
        category=envelope.category,
        category_display=CATEGORY_LABELS.get(envelope.category, envelope.category),
        amount=money(envelope.amount),
        currency=envelope.currency,
        months_total=as_number(_planned_total(envelope)),
        is_active=bool(envelope.is_active),
        months=[budget_month_view(envelope, month, budgets) for month in months],
        created_at=envelope.created_at,
        updated_at=envelope.updated_at,
    )


def plan_view(plan: BudgetPlanItem, budgets: Budgets) -> BudgetPlan:
    envelopes = budgets.envelopes_of(plan.id)
    status = plan_status(plan.status)
    return BudgetPlan(
        id=plan.id,
        code=plan.code,
        name=plan.name,
        description=plan.description,
        year=int(plan.year),
        start_date=plan.start_date,
        end_date=plan.end_date,
        total_planned=sum((_planned_total(envelope) for envelope in envelopes), ZERO),
        currency=plan.currency,
        status=status,
        status_display=PLAN_STATUS_LABELS.get(status, status),
        envelopes_count=len(envelopes),
        created_at=plan.created_at,
        updated_at=plan.updated_at,
        created_by=int(plan.created_by) if plan.created_by is not None else None,
        created_by_name=None,
    )


def plan_detail_view(plan: BudgetPlanItem, budgets: Budgets) -> BudgetPlanDetail:
    envelopes = sorted(budgets.envelopes_of(plan.id), key=lambda e: (e.category, e.name.lower()))
    return BudgetPlanDetail(
        **plan_view(plan, budgets).model_dump(),
        envelopes=[envelope_view(envelope, budgets) for envelope in envelopes],
    )


def list_plans(repo: LedgerRepository, filters: Mapping[str, str | None]) -> list[BudgetPlan]:
    budgets = Budgets(repo)
    rows = list(budgets.plans.values())
    year = filters.get("year")
    if year:
        rows = [plan for plan in rows if str(int(plan.year)) == year.strip()]
    status = filters.get("status")
    if status:
        wanted = plan_status(status)
        _choice(wanted, PLAN_STATUS_LABELS, "status")
        rows = [plan for plan in rows if plan_status(plan.status) == wanted]
    search = filters.get("search")
    if search:
        rows = [plan for plan in rows if _contains(search, plan.name, plan.code, plan.description)]
    views = [plan_view(plan, budgets) for plan in rows]
    views.sort(key=lambda view: view.name.lower())
    views.sort(key=lambda view: view.year, reverse=True)
    ordering = filters.get("ordering")
    if ordering and ordering.lstrip("-") in PLAN_ORDERINGS:
        views = _ordered(views, ordering, "-year", PLAN_ORDERINGS, lambda v, k: _sortable(getattr(v, k)))
    return views


def get_plan(repo: LedgerRepository, plan_id: str) -> BudgetPlanDetail:
    budgets = Budgets(repo)
    return plan_detail_view(_require(repo.get_plan(plan_id)), budgets)


def _plan_dates(year: int, start: date | None, end: date | None) -> tuple[str, str]:
    first, last = start or date(year, 1, 1), end or date(year, 12, 31)
    if last < first:
        raise DomainError("The end date must be on or after the start date.", field="end_date")
    return first.isoformat(), last.isoformat()


def create_plan(repo: LedgerRepository, caller: Principal, body: BudgetPlanCreate) -> BudgetPlan:
    start, end = _plan_dates(body.year, body.start_date, body.end_date)
    now = utc_now_iso()
    plan = BudgetPlanItem(
        id=str(uuid.uuid4()),
        code=body.code.strip() or f"BUDGET-{body.year}-{random.randrange(10**6):06d}",  # noqa: S311 - a label
        name=body.name.strip(),
        description=body.description,
        year=body.year,
        start_date=start,
        end_date=end,
        currency=body.currency,
        status=plan_status(body.status),
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    repo.save_plan(plan)
    return plan_view(plan, Budgets(repo))


def update_plan(repo: LedgerRepository, plan_id: str, body: BudgetPlanPatch) -> BudgetPlan:
    plan = _require(repo.get_plan(plan_id))
    _not_null(body, ("name", "code", "description", "start_date", "end_date", "currency", "status"))
    if body.name is not None:
        plan.name = body.name.strip()
    if body.code is not None:
        plan.code = body.code.strip() or plan.code
    if body.description is not None:
        plan.description = body.description
    if body.currency is not None:
        plan.currency = body.currency
    if body.status is not None:
        plan.status = plan_status(body.status)
    if body.start_date is not None or body.end_date is not None:
        start = body.start_date or date.fromisoformat(plan.start_date)
        end = body.end_date or date.fromisoformat(plan.end_date)
        plan.start_date, plan.end_date = _plan_dates(int(plan.year), start, end)
    plan.updated_at = utc_now_iso()
    repo.save_plan(plan)
    return plan_view(plan, Budgets(repo))


def delete_plan(repo: LedgerRepository, plan_id: str) -> None:
    plan = _require(repo.get_plan(plan_id))
    if Budgets(repo).envelopes_of(plan.id):
        raise DomainError("This budget plan has envelopes; delete them first.", code="protected")
    repo.delete_plan(plan)


def _planned_contribution(envelope: EnvelopeItem | None) -> dict[tuple[str, str, str], Decimal]:
    """What an envelope counts in the summary's `planned`: its months' planned amounts under
    (month, its cost centre, its category); an inactive envelope counts nothing."""
    if envelope is None or not envelope.is_active:
        return {}
    counted: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for month in envelope.months or []:
        counted[(month.month[:7], envelope.cost_center_id, envelope.category)] += money(month.planned_amount)
    return counted


def _planned_deltas(
    repo: LedgerRepository, old: EnvelopeItem | None, new: EnvelopeItem | None
) -> tuple[ProjectionDeltas, set[str]]:
    """(deltas new - old, the months they move)."""
    before, after = _planned_contribution(old), _planned_contribution(new)
    deltas = ProjectionDeltas(repo.tenant)
    moved: set[str] = set()
    for key in set(before) | set(after):
        delta = after.get(key, ZERO) - before.get(key, ZERO)
        if delta:
            month, cost_center_id, category = key
            deltas.add(month, cost_center_id, category, planned=delta)
            moved.add(month)
    return deltas, moved


def _month_values(envelope: EnvelopeItem | None) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        month.month[:7]: (money(month.planned_amount), money(month.contingency_amount))
        for month in (envelope.months if envelope else None) or []
    }


def _months_from(
    plan: BudgetPlanItem, rows: list[BudgetMonthIn], existing: list[BudgetMonthAttribute], now: str
) -> list[BudgetMonthAttribute]:
    """Replace all months (the contract's PATCH semantics), keeping the ids of months kept."""
    kept = {month.month[:7]: month for month in existing}
    first, last = plan.start_date[:7], plan.end_date[:7]
    months: list[BudgetMonthAttribute] = []
    seen: set[str] = set()
    for row in rows:
        month = first_of_month(row.month, "months")
        if month[:7] in seen:
            raise DomainError(f"The month {month} appears twice.", field="months")
        if not first <= month[:7] <= last:
            raise DomainError(f"The month {month} is outside the budget plan's period.", field="months")
        seen.add(month[:7])
        previous = kept.get(month[:7])
        planned, contingency = money(row.planned_amount), money(row.contingency_amount)
        unchanged = previous is not None and (money(previous.planned_amount), money(previous.contingency_amount)) == (
            planned,
            contingency,
        )
        months.append(
            BudgetMonthAttribute(
                id=previous.id if previous else str(uuid.uuid4()),
                month=month,
                planned_amount=planned,
                contingency_amount=contingency,
                created_at=previous.created_at if previous else now,
                updated_at=previous.updated_at if previous and unchanged else now,
            )
        )
    return sorted(months, key=lambda month: month.month)


def _changed_months(old: EnvelopeItem | None, new: EnvelopeItem | None, moved: set[str]) -> list[str]:
    """Months whose budget changes: they must be open (a locked month's budget is frozen)."""
    before, after = _month_values(old), _month_values(new)
    changed = {month for month in set(before) | set(after) if before.get(month) != after.get(month)}
    return sorted(changed | moved)


def _plan_for_envelope(repo: LedgerRepository, plan_id: str, field: str) -> BudgetPlanItem:
    plan = repo.get_plan(plan_id)
    if plan is None:
        raise _invalid_pk(plan_id, field)
    return plan


def list_envelopes(repo: LedgerRepository, filters: Mapping[str, str | None]) -> list[Envelope]:
    budgets = Budgets(repo)
    rows = list(budgets.envelopes)
    plan = filters.get("budget_plan_id") or filters.get("budget_plan")
    if plan:
        rows = [row for row in rows if row.budget_plan_id == plan]
    cost_center = filters.get("cost_center_id") or filters.get("cost_center")
    if cost_center:
        rows = [row for row in rows if row.cost_center_id == cost_center]
    category = filters.get("category")
    if category:
        _choice(category, CATEGORIES, "category")
        rows = [row for row in rows if row.category == category]
    is_active = _bool_filter(filters.get("is_active"), "is_active")
    if is_active is not None:
        rows = [row for row in rows if bool(row.is_active) == is_active]
    search = filters.get("search")
    if search:
        rows = [row for row in rows if _contains(search, row.name, row.description)]
    rows.sort(key=lambda row: (row.budget_plan_id, row.category, row.name.lower()))
    return [envelope_view(row, budgets) for row in rows]


def get_envelope(repo: LedgerRepository, envelope_id: str) -> Envelope:
    return envelope_view(_require(repo.get_envelope(envelope_id)), Budgets(repo))


def create_envelope(repo: LedgerRepository, body: EnvelopeCreate) -> Envelope:
    plan_id = _reference(body.budget_plan, "budget_plan") or ""
    cost_center_id = _reference(body.cost_center, "cost_center") or ""
    plan = _plan_for_envelope(repo, plan_id, "budget_plan")
    if repo.get_cost_center(cost_center_id) is None:
        raise _invalid_pk(cost_center_id, "cost_center")
    now = utc_now_iso()
    envelope = EnvelopeItem(
        id=str(uuid.uuid4()),
        budget_plan_id=plan.id,
        cost_center_id=cost_center_id,
        category=body.category,
        name=body.name.strip(),
        description=body.description,
        amount=money(body.amount),
        currency=body.currency,
        is_active=body.is_active,
        months=_months_from(plan, body.months or [], [], now),
        created_at=now,
        updated_at=now,
    )
    deltas, moved = _planned_deltas(repo, None, envelope)
    repo.write_envelope(
        envelope,
        deltas,
        plan_id=plan.id,
        cost_center_id=cost_center_id,
        open_months=_changed_months(None, envelope, moved),
    )
    return envelope_view(envelope, Budgets(repo))


def update_envelope(repo: LedgerRepository, envelope_id: str, body: EnvelopePatch) -> Envelope:
    envelope = _require(repo.get_envelope(envelope_id))
    _not_null(body, ("cost_center", "name", "category", "description", "amount", "currency", "is_active", "months"))
    old = EnvelopeItem.from_raw_data(envelope.serialize())
    plan = _plan_for_envelope(repo, envelope.budget_plan_id, "budget_plan")
    cost_center_id: str | None = None
    if body.cost_center is not None:
        cost_center_id = _reference(body.cost_center, "cost_center")
        if cost_center_id and repo.get_cost_center(cost_center_id) is None:
            raise _invalid_pk(cost_center_id, "cost_center")
        envelope.cost_center_id = cost_center_id or envelope.cost_center_id
    now = utc_now_iso()
    if body.name is not None:
        envelope.name = body.name.strip()
    if body.category is not None:
        envelope.category = body.category
    if body.description is not None:
        envelope.description = body.description
    if body.amount is not None:
        envelope.amount = money(body.amount)
    if body.currency is not None:
        envelope.currency = body.currency
    if body.is_active is not None:
        envelope.is_active = body.is_active
    if body.months is not None:
        envelope.months = _months_from(plan, body.months, list(old.months or []), now)
    envelope.updated_at = now
    deltas, moved = _planned_deltas(repo, old, envelope)
    repo.write_envelope(
        envelope,
        deltas,
        plan_id=plan.id,
        cost_center_id=cost_center_id,
        open_months=_changed_months(old, envelope, moved),
    )
    return envelope_view(envelope, Budgets(repo))


def delete_envelope(repo: LedgerRepository, envelope_id: str) -> None:
    envelope = _require(repo.get_envelope(envelope_id))
    deltas, moved = _planned_deltas(repo, envelope, None)
    repo.write_envelope(
        None,
        deltas,
        plan_id=envelope.budget_plan_id,
        cost_center_id=None,
        open_months=_changed_months(envelope, None, moved),
        delete=envelope,
    )


# ---- commitments (§5.5) ----------------------------------------------------------------------


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


def _commitment_contribution(item: CommitmentItem | None) -> dict[tuple[str, str, str, str], Decimal]:
    """What a commitment counts: submitted → committed_pending, approved → committed_approved,
    under (its budget month, cost centre, category); other states count nothing."""
    counter = {"submitted": "committed_pending", "approved": "committed_approved"}.get(item.status if item else "")
    if item is None or counter is None:
        return {}
    return {(item.budget_month[:7], item.cost_center_id, item.category, counter): money(item.amount)}


def _commitment_deltas(repo: LedgerRepository, old: CommitmentItem | None, new: CommitmentItem) -> ProjectionDeltas:
    before, after = _commitment_contribution(old), _commitment_contribution(new)
    deltas = ProjectionDeltas(repo.tenant)
    for key in set(before) | set(after):
        delta = after.get(key, ZERO) - before.get(key, ZERO)
        if delta:
            month, cost_center_id, category, counter = key
            deltas.add(month, cost_center_id, category, **{counter: delta})
    return deltas


def _status_filter(raw: str) -> set[str]:
    """A status filter value (frontend or Django vocabulary) → stored statuses."""
    if raw == "cancelled":
        return {"cancelled", "rejected"}
    if raw == "converted":
        return {"realized"}
    return {_choice(raw, COMMITMENT_STATUSES, "status")}


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
        _choice(category, CATEGORIES, "category")
        rows = [row for row in rows if row.category == category]
    work_order = filters.get("work_order") or filters.get("work_order_id")
    if work_order:
        rows = [row for row in rows if row.work_order_id is not None and str(int(row.work_order_id)) == work_order]
    year = filters.get("year")
    if year:
        rows = [row for row in rows if row.budget_month[:4] == year.strip()]
    low = _decimal_filter(filters.get("min_amount"), "min_amount")
    if low is not None:
        rows = [row for row in rows if row.amount >= low]
    high = _decimal_filter(filters.get("max_amount"), "max_amount")
    if high is not None:
        rows = [row for row in rows if row.amount <= high]
    search = filters.get("search")
    if search:
        rows = [row for row in rows if _contains(search, row.description, row.vendor_name, row.notes)]
    centers = CostCenters.load(repo)
    views = [commitment_view(row, centers) for row in rows]
    return _ordered(
        views, filters.get("ordering"), "-created_at", COMMITMENT_ORDERINGS, lambda v, k: _sortable(getattr(v, k))
    )


def get_commitment(repo: LedgerRepository, commitment_id: str) -> Commitment:
    return commitment_view(_require(repo.get_commitment(commitment_id)), CostCenters.load(repo))


def _cost_center_of(repo: LedgerRepository, raw: str, field: str) -> str:
    cost_center_id = _reference(raw, field) or ""
    if repo.get_cost_center(cost_center_id) is None:
        raise _invalid_pk(cost_center_id, field)
    return cost_center_id


def create_commitment(repo: LedgerRepository, caller: Principal, body: CommitmentCreate) -> Commitment:
    cost_center_id = _cost_center_of(repo, body.cost_center, "cost_center")
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
    item = _require(repo.get_commitment(commitment_id))
    if item.status != "draft":
        raise Forbidden("Only draft commitments can be edited.", code="not_editable")
    _not_null(body, ("category", "amount", "currency", "budget_month", "description", "vendor_name", "notes"))
    old = CommitmentItem.from_raw_data(item.serialize())
    cost_center_id: str | None = None
    if body.cost_center is not None:
        cost_center_id = _cost_center_of(repo, body.cost_center, "cost_center")
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
    item = _require(repo.get_commitment(commitment_id))
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


def cancel_commitment(repo: LedgerRepository, commitment_id: str) -> Commitment:
    old, item = _transition(
        repo,
        commitment_id,
        {"draft", "submitted", "approved"},
        "cancelled",
        "Only draft, submitted or approved commitments can be cancelled.",
    )
    repo.write_commitment(item, expected_status=old.status, deltas=_commitment_deltas(repo, old, item))
    return commitment_view(item, CostCenters.load(repo))


# ---- savings events (§5.6) -------------------------------------------------------------------


def savings_type(raw: str) -> str:
    return SAVINGS_TYPE_ALIASES.get(raw, raw)


def savings_confidence(raw: str) -> str:
    return CONFIDENCE_ALIASES.get(raw, raw)


def savings_view(item: SavingsItem, centers: CostCenters, assets: Mapping[int, AssetItem]) -> SavingsEvent:
    asset_id = int(item.asset_id) if item.asset_id is not None else None
    work_order = int(item.work_order_id) if item.work_order_id is not None else None
    alert = int(item.alert_id) if item.alert_id is not None else None
    evidence = dict(item.evidence.as_dict() if item.evidence else {})
    links = evidence.get("links")
    event_type = savings_type(item.event_type)
    confidence = savings_confidence(item.confidence)
    asset = assets.get(asset_id) if asset_id is not None else None
    return SavingsEvent(
        id=item.id,
        event_type=event_type,
        event_type_display=SAVINGS_TYPE_LABELS.get(event_type, event_type),
        savings_amount=money(item.savings_amount),
        currency=item.currency,
        confidence=confidence,
        confidence_display=CONFIDENCE_LABELS.get(confidence, confidence),
        occurred_at=item.occurred_at,
        description=item.description,
        explanation=item.description,
        calculation_method=item.calculation_method,
        category=item.category,
        cost_center=item.cost_center_id,
        cost_center_id=item.cost_center_id,
        cost_center_name=centers.name(item.cost_center_id),
        cost_center_code=centers.code(item.cost_center_id),
        asset=asset_id,
        asset_id=asset_id,
        asset_name=asset.name if asset else None,
        work_order=work_order,
        work_order_id=work_order,
        work_order_number=None,
        alert=alert,
        alert_id=alert,
        alert_message=None,
        baseline_ref=item.baseline_ref.as_dict() if item.baseline_ref is not None else None,
        evidence=evidence,
        evidence_links=dict(links) if isinstance(links, dict) else {},
        created_at=item.created_at,
        updated_at=item.updated_at,
        created_by=int(item.created_by) if item.created_by is not None else None,
        created_by_name=None,
    )


def _assets_of(repo: LedgerRepository, asset_ids: Iterable[float | None]) -> dict[int, AssetItem]:
    wanted = {int(asset_id) for asset_id in asset_ids if asset_id is not None}
    if not wanted:
        return {}
    registry = RegistryRepository(repo.tenant, repo.settings)
    if len(wanted) <= 3:
        found = (registry.get_asset(asset_id) for asset_id in wanted)
        return {int(asset.id): asset for asset in found if asset is not None}
    return {int(asset.id): asset for asset in registry.list_assets() if int(asset.id) in wanted}


def list_savings(repo: LedgerRepository, filters: Mapping[str, str | None]) -> list[SavingsEvent]:
    rows = repo.list_savings()
    tz = repo.timezone
    start = _date_filter(filters.get("from") or filters.get("start_date"), "from")
    if start is not None:
        floor = _local_midnight_iso(start, tz)
        rows = [row for row in rows if row.occurred_at >= floor]
    end = _date_filter(filters.get("to") or filters.get("end_date"), "to")
    if end is not None:
        ceiling = _local_midnight_iso(end + timedelta(days=1), tz)
        rows = [row for row in rows if row.occurred_at < ceiling]
    cost_center = filters.get("cost_center_id") or filters.get("cost_center")
    if cost_center:
        rows = [row for row in rows if row.cost_center_id == cost_center]
    event_type = filters.get("event_type")
    if event_type:
        wanted = _choice(savings_type(event_type), SAVINGS_TYPE_LABELS, "event_type")
        rows = [row for row in rows if savings_type(row.event_type) == wanted]
    confidence = filters.get("confidence")
    if confidence:
        level = _choice(savings_confidence(confidence), CONFIDENCE_LABELS, "confidence")
        rows = [row for row in rows if savings_confidence(row.confidence) == level]
    asset = filters.get("asset_id") or filters.get("asset")
    if asset:
        rows = [row for row in rows if row.asset_id is not None and str(int(row.asset_id)) == asset]
    work_order = filters.get("work_order_id") or filters.get("work_order")
    if work_order:
        rows = [row for row in rows if row.work_order_id is not None and str(int(row.work_order_id)) == work_order]
    search = filters.get("search")
    if search:
        rows = [row for row in rows if _contains(search, row.description, row.calculation_method)]
    rows = _ordered(
        rows,
        filters.get("ordering"),
        "-occurred_at",
        SAVINGS_ORDERINGS,
        lambda row, key: _sortable(getattr(row, key)),
    )
    centers = CostCenters.load(repo)
    assets = _assets_of(repo, (row.asset_id for row in rows))
    return [savings_view(row, centers, assets) for row in rows]


def get_savings(repo: LedgerRepository, savings_id: str) -> SavingsEvent:
    item = _require(repo.get_savings(savings_id))
    return savings_view(item, CostCenters.load(repo), _assets_of(repo, [item.asset_id]))


def create_savings(repo: LedgerRepository, caller: Principal, body: SavingsCreate) -> SavingsEvent:
    """Record a savings event; its amount counts in the summary's `savings` for the month of
    `occurred_at` (tenant time zone), under its cost centre (the tenant's default when none is
    given) and its category (given, else derived from the event type: SAVINGS_CATEGORY)."""
    tz = repo.timezone
    event_type = savings_type(body.event_type)
    if body.cost_center:
        cost_center_id = _cost_center_of(repo, body.cost_center, "cost_center_id")
    else:
        cost_center_id = _require(repo.get_cost_center(default_cost_center_id(repo.tenant))).id
    if body.asset is not None and RegistryRepository(repo.tenant, repo.settings).get_asset(body.asset) is None:
        raise _invalid_pk(str(body.asset), "asset_id")
    evidence: dict[str, Any] = dict(body.evidence or {})
    if body.evidence_links:
        evidence["links"] = dict(body.evidence_links)
    now = utc_now_iso()
    item = SavingsItem(
        id=str(uuid.uuid4()),
        event_type=event_type,
        savings_amount=money(body.savings_amount),
        currency=body.currency,
        confidence=savings_confidence(body.confidence),
        occurred_at=parse_moment(body.occurred_at, tz, "occurred_at"),
        description=body.description,
        calculation_method=body.calculation_method,
        cost_center_id=cost_center_id,
        category=body.category or SAVINGS_CATEGORY.get(event_type, "other"),
        asset_id=body.asset,
        work_order_id=body.work_order,
        alert_id=body.alert,
        baseline_ref=body.baseline_ref,
        evidence=evidence,
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    month = month_of(item.occurred_at, tz)
    deltas = ProjectionDeltas(repo.tenant).add(month, cost_center_id, item.category, savings=money(item.savings_amount))
    event = new_event(
        repo.tenant,
        "savings.event_posted",
        "savings_event",
        item.id,
        {
            "savings_event_id": item.id,
            "event_type": item.event_type,
            "savings_amount": str(money(item.savings_amount)),
            "currency": item.currency,
            "confidence": item.confidence,
            "occurred_at": item.occurred_at,
            "month": month,
            "cost_center_id": cost_center_id,
            "category": item.category,
            "asset_id": item.asset_id,
            "work_order_id": item.work_order_id,
            "alert_id": item.alert_id,
        },
        idempotency_key=f"savings.event_posted:{item.id}",
    )
    repo.create_savings(item, deltas, event)
    return savings_view(item, CostCenters.load(repo), _assets_of(repo, [item.asset_id]))


# ---- budget summary (§5.7) and top costs -----------------------------------------------------


@dataclass
class Totals:
    planned: Decimal = ZERO
    committed_approved: Decimal = ZERO
    committed_pending: Decimal = ZERO
    actual: Decimal = ZERO
    savings: Decimal = ZERO

    def add(self, row: SummaryRow) -> None:
        self.planned += row.planned or ZERO
        self.committed_approved += row.committed_approved or ZERO
        self.committed_pending += row.committed_pending or ZERO
        self.actual += row.actual or ZERO
        self.savings += row.savings or ZERO

    def merge(self, other: Totals) -> None:
        for name in ("planned", "committed_approved", "committed_pending", "actual", "savings"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def committed(self) -> Decimal:
        return self.committed_approved + self.committed_pending

    @property
    def variance(self) -> Decimal:
        return self.planned - self.actual

    @property
    def variance_percent(self) -> Decimal:
        return money(self.variance / self.planned * 100) if self.planned else ZERO


def _summary_scope(repo: LedgerRepository, raw: str | None) -> tuple[CostCenterItem | None, set[str] | None]:
    """The cost centre asked for and the ids it covers (itself and its descendants)."""
    if not raw:
        return None, None
    cost_center_id = _reference(raw, "cost_center") or ""
    centers = CostCenters.load(repo)
    item = _require(centers.items.get(cost_center_id))
    return item, centers.descendants(cost_center_id)


def _month_totals(repo: LedgerRepository, month: str, scope: set[str] | None) -> tuple[Totals, dict[str, Totals]]:
    total, by_category = Totals(), defaultdict[str, Totals](Totals)
    for row in repo.summary_rows(month):
        if scope is not None and row.cost_center_id not in scope:
            continue
        total.add(row)
        by_category[row.category].add(row)
    return total, by_category


def _summary_month(raw: str | None) -> str:
    if not raw:
        raise DomainError("The month parameter is required (YYYY-MM-01).", code="invalid_month")
    try:
        return first_of_month(raw, "month")
    except DomainError:
        raise DomainError(f'"{raw}" is not a valid month (YYYY-MM-01).', code="invalid_month") from None


def budget_summary(repo: LedgerRepository, month_raw: str | None, cost_center_raw: str | None = None) -> BudgetSummary:
    """planned, committed and actual of a month, from the projection only: one query of
    `T#{t}#SUMMARY#{YYYY-MM}` (plus the cost-centre list when one is asked for)."""
    month = _summary_month(month_raw)
    center, scope = _summary_scope(repo, cost_center_raw)
    total, by_category = _month_totals(repo, month, scope)
    order = {category: index for index, category in enumerate(CATEGORIES)}
    categories = [
        CategorySummary(
            category=category,
            category_display=CATEGORY_LABELS.get(category, category),
            planned=as_number(totals.planned),
            committed=as_number(totals.committed),
            committed_approved=as_number(totals.committed_approved),
            committed_pending=as_number(totals.committed_pending),
            actual=as_number(totals.actual),
            savings=as_number(totals.savings),
            variance=as_number(totals.variance),
        )
        for category, totals in sorted(by_category.items(), key=lambda pair: order.get(pair[0], len(order)))
        if totals.planned or totals.committed or totals.actual
    ]
    return BudgetSummary(
        month=month,
        cost_center_id=center.id if center else None,
        cost_center_name=center.name if center else None,
        planned=as_number(total.planned),
        committed=as_number(total.committed),
        committed_approved=as_number(total.committed_approved),
        committed_pending=as_number(total.committed_pending),
        actual=as_number(total.actual),
        savings=as_number(total.savings),
        variance=as_number(total.variance),
        variance_percent=as_number(total.variance_percent),
        by_category=categories,
    )


def year_summary(repo: LedgerRepository, year_raw: str | None, cost_center_raw: str | None = None) -> YearSummary:
    """The year month by month: 12 queries of the projection."""
    if not year_raw or not year_raw.strip().isdigit() or not 2000 <= int(year_raw) <= 2100:
        raise DomainError("The year parameter is required (YYYY).", code="invalid_year")
    year = int(year_raw)
    center, scope = _summary_scope(repo, cost_center_raw)
    total, months = Totals(), []
    for number in range(1, 13):
        month = f"{year:04d}-{number:02d}-01"
        totals, _ = _month_totals(repo, month, scope)
        total.merge(totals)
        months.append(
            MonthSummary(
                month=month,
                month_name=month_name(month),
                planned=as_number(totals.planned),
                committed=as_number(totals.committed),
                actual=as_number(totals.actual),
                savings=as_number(totals.savings),
                variance=as_number(totals.variance),
            )
        )
    return YearSummary(
        year=year,
        cost_center_id=center.id if center else None,
        cost_center_name=center.name if center else None,
        planned=as_number(total.planned),
        committed=as_number(total.committed),
        actual=as_number(total.actual),
        savings=as_number(total.savings),
        variance=as_number(total.variance),
        variance_percent=as_number(total.variance_percent),
        by_month=months,
    )


def top_costs(repo: LedgerRepository, filters: Mapping[str, str | None]) -> TopCosts:
    """The largest actual costs of a period (months start..end, inclusive) by asset or by
    category, from the projection's rows (one query per month)."""
    by = (filters.get("by") or "asset").strip()
    _choice(by, ("asset", "category"), "by")
    if not filters.get("start") or not filters.get("end"):
        raise DomainError("The start and end parameters are required (YYYY-MM-01).", code="invalid_period")
    start = first_of_month(filters["start"] or "", "start")
    end = first_of_month(filters["end"] or "", "end")
    months = months_between(start, end)
    if not months:
        raise DomainError("The end month must not be before the start month.", field="end")
    if len(months) > TOP_COSTS_MAX_MONTHS:
        raise DomainError(f"A period of at most {TOP_COSTS_MAX_MONTHS} months.", field="end")
    limit_raw = filters.get("limit") or "10"
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= TOP_COSTS_MAX_LIMIT:
        raise DomainError(f"Ensure this value is between 1 and {TOP_COSTS_MAX_LIMIT}.", field="limit")
    limit = int(limit_raw)
    if by == "category":
        per_category: dict[str, Decimal] = defaultdict(Decimal)
        for month in months:
            for row in repo.summary_rows(month):
                per_category[row.category] += row.actual or ZERO
        ranked = sorted(((c, v) for c, v in per_category.items() if v), key=lambda pair: (-pair[1], pair[0]))[:limit]
        results = [
            TopCost(
                category=category, category_display=CATEGORY_LABELS.get(category, category), actual=as_number(value)
            )
            for category, value in ranked
        ]
        return TopCosts(by="category", start=start, end=end, results=results)
    per_asset: dict[int, Decimal] = defaultdict(Decimal)
    for month in months:
        for asset_row in repo.asset_cost_rows(month):
            per_asset[int(asset_row.asset_id)] += asset_row.actual or ZERO
    top = sorted(((a, v) for a, v in per_asset.items() if v), key=lambda pair: (-pair[1], pair[0]))[:limit]
    registry = RegistryRepository(repo.tenant, repo.settings)
    rows = []
    for asset_id, value in top:
        asset = registry.get_asset(asset_id)
        rows.append(
            TopCost(
                asset_id=asset_id,
                asset_tag=asset.tag if asset else None,
                asset_name=asset.name if asset else None,
                actual=as_number(value),
            )
        )
    return TopCosts(by="asset", start=start, end=end, results=rows)


def summary_totals(repo: LedgerRepository, month: str) -> dict[str, Decimal]:
    """Exact (Decimal) totals of a month's projection: for tests, the bench and the demo."""
    total, _ = _month_totals(repo, month, None)
    return {
        "planned": total.planned,
        "committed_approved": total.committed_approved,
        "committed_pending": total.committed_pending,
        "actual": total.actual,
        "savings": total.savings,
    }
