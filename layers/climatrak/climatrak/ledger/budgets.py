"""Budget plans and their envelopes (API.md §5.3): a year's plan per currency, and per cost
centre and category an envelope with its months' planned and contingency amounts.

An envelope's months count in the summary's `planned`: every change writes its deltas ("what
the new envelope counts minus what the old one counted") in the same transaction as the
envelope, which also checks that the plan exists and is not locked, that the cost centre exists
and that every month whose budget changes is open.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property

from climatrak.core.errors import DomainError
from climatrak.core.identity import Principal
from climatrak.core.money import ZERO, as_number, money
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.cost_centers import CostCenters, resolve_cost_center
from climatrak.ledger.items import BudgetMonthAttribute, BudgetPlanItem, EnvelopeItem
from climatrak.ledger.models import (
    CATEGORIES,
    CATEGORY_LABELS,
    PLAN_STATUS_ALIASES,
    PLAN_STATUS_LABELS,
    BudgetMonth,
    BudgetMonthIn,
    BudgetPlan,
    BudgetPlanCreate,
    BudgetPlanDetail,
    BudgetPlanPatch,
    Envelope,
    EnvelopeCreate,
    EnvelopePatch,
)
from climatrak.ledger.months import first_of_month, month_name
from climatrak.ledger.parsing import (
    contains,
    invalid_pk,
    not_null,
    optional,
    ordered,
    parse_bool,
    parse_choice,
    reference,
    require,
)
from climatrak.ledger.projection import Counted, ProjectionDeltas
from climatrak.ledger.repository import LedgerRepository
from climatrak.ledger.store import MonthState

PLAN_ORDERINGS = {"year", "name", "code", "created_at", "status"}


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
    def months(self) -> dict[str, MonthState]:
        return self.repo.month_states()

    def envelopes_of(self, plan_id: str) -> list[EnvelopeItem]:
        return [envelope for envelope in self.envelopes if envelope.budget_plan_id == plan_id]


def plan_status(stored: str) -> str:
    return PLAN_STATUS_ALIASES.get(stored, stored)


def planned_total(envelope: EnvelopeItem) -> Decimal:
    """The envelope's planned amount over its twelve months."""
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
        locked_by=lock.locked_by if lock and locked else None,
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
        months_total=as_number(planned_total(envelope)),
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
        total_planned=sum((planned_total(envelope) for envelope in envelopes), ZERO),
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
        parse_choice(wanted, PLAN_STATUS_LABELS, "status")
        rows = [plan for plan in rows if plan_status(plan.status) == wanted]
    search = filters.get("search")
    if search:
        rows = [plan for plan in rows if contains(search, plan.name, plan.code, plan.description)]
    views = [plan_view(plan, budgets) for plan in rows]
    views.sort(key=lambda view: view.name.lower())
    views.sort(key=lambda view: view.year, reverse=True)
    ordering = filters.get("ordering")
    if ordering and ordering.lstrip("-") in PLAN_ORDERINGS:
        views = ordered(views, ordering, "-year", PLAN_ORDERINGS)
    return views


def get_plan(repo: LedgerRepository, plan_id: str) -> BudgetPlanDetail:
    budgets = Budgets(repo)
    return plan_detail_view(require(repo.get_plan(plan_id)), budgets)


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
    plan = require(repo.get_plan(plan_id))
    not_null(body, ("name", "code", "description", "start_date", "end_date", "currency", "status"))
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
    plan = require(repo.get_plan(plan_id))
    if Budgets(repo).envelopes_of(plan.id):
        raise DomainError("This budget plan has envelopes; delete them first.", code="protected")
    repo.delete_plan(plan)


def _planned_contribution(envelope: EnvelopeItem | None) -> Counted:
    """What an envelope counts in the summary's `planned`: its months' planned amounts under
    (month, its cost centre, its category); an inactive envelope counts nothing."""
    if envelope is None or not envelope.is_active:
        return {}
    counted: dict[tuple[str, str, str, str], Decimal] = defaultdict(Decimal)
    for month in envelope.months or []:
        counted[(month.month[:7], envelope.cost_center_id, envelope.category, "planned")] += money(month.planned_amount)
    return counted


def _write_envelope(
    repo: LedgerRepository, plan_id: str, old: EnvelopeItem | None, new: EnvelopeItem | None, cost_center_id: str | None
) -> None:
    """Create (no `old`), change or delete (no `new`) an envelope with its planned deltas; the
    plan, the cost centre named (if any) and every month whose budget changes are checked."""
    deltas = ProjectionDeltas(repo.tenant)
    moved = deltas.move(_planned_contribution(old), _planned_contribution(new))
    repo.write_envelope(
        new,
        deltas,
        plan_id=plan_id,
        cost_center_id=cost_center_id,
        open_months=_changed_months(old, new, moved),
        delete=old if new is None else None,
    )


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
        raise invalid_pk(plan_id, field)
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
        parse_choice(category, CATEGORIES, "category")
        rows = [row for row in rows if row.category == category]
    is_active = optional(parse_bool, filters.get("is_active"), "is_active")
    if is_active is not None:
        rows = [row for row in rows if bool(row.is_active) == is_active]
    search = filters.get("search")
    if search:
        rows = [row for row in rows if contains(search, row.name, row.description)]
    rows.sort(key=lambda row: (row.budget_plan_id, row.category, row.name.lower()))
    return [envelope_view(row, budgets) for row in rows]


def get_envelope(repo: LedgerRepository, envelope_id: str) -> Envelope:
    return envelope_view(require(repo.get_envelope(envelope_id)), Budgets(repo))


def create_envelope(repo: LedgerRepository, body: EnvelopeCreate) -> Envelope:
    plan_id = reference(body.budget_plan, "budget_plan") or ""
    plan = _plan_for_envelope(repo, plan_id, "budget_plan")
    cost_center_id = resolve_cost_center(repo, body.cost_center, "cost_center")
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
    _write_envelope(repo, plan.id, None, envelope, cost_center_id)
    return envelope_view(envelope, Budgets(repo))


def update_envelope(repo: LedgerRepository, envelope_id: str, body: EnvelopePatch) -> Envelope:
    envelope = require(repo.get_envelope(envelope_id))
    not_null(body, ("cost_center", "name", "category", "description", "amount", "currency", "is_active", "months"))
    old = EnvelopeItem.from_raw_data(envelope.serialize())
    plan = _plan_for_envelope(repo, envelope.budget_plan_id, "budget_plan")
    cost_center_id: str | None = None
    if body.cost_center is not None:
        cost_center_id = resolve_cost_center(repo, body.cost_center, "cost_center")
        envelope.cost_center_id = cost_center_id
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
    _write_envelope(repo, plan.id, old, envelope, cost_center_id)
    return envelope_view(envelope, Budgets(repo))


def delete_envelope(repo: LedgerRepository, envelope_id: str) -> None:
    envelope = require(repo.get_envelope(envelope_id))
    _write_envelope(repo, envelope.budget_plan_id, envelope, None, None)
