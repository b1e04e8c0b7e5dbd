"""The cost engine: a closed work order's labour, parts and third-party costs become ledger
postings exactly once (issue 3 §4); an approved commitment becomes one posting, and cancelling
it after approval reverses that posting (docs/decisions/0008).

    labor       = Σ hours x (the entry's hourly_rate, else the rate card in force for the role
                  on the work order's completion date in the tenant's time zone)
    parts       = Σ quantity x unit_cost
    third_party = Σ amount

Each line is rounded to cents first (the `total_cost` the CMMS shows for it) and the posting is
the sum of its lines, so the breakdown kept in meta always adds up to the posting. Kinds whose
total is zero are skipped. A labour line with hours but neither a rate nor a rate card raises
`MissingRateCard` naming the roles, before anything is written: the event fails visibly (the
failed-events API) instead of posting a zero cost.

The (up to) three postings of one work order go into ONE transaction — all or nothing — and
each carries its own key (`wo:{id}:labor|parts|third_party`), so a redelivered event, a second
consumer racing the first, or CMMS's `post-costs` action after the event all end with one set
of postings: the keys' guards are conditions inside that transaction (see `postings.post`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from climatrak.core.config import Settings
from climatrak.core.errors import DomainError
from climatrak.core.money import ZERO, money
from climatrak.core.timeutil import parse_iso, zone
from climatrak.ledger.items import CommitmentItem, RateCardItem, TransactionItem, ensure_default_cost_center
from climatrak.ledger.models import CATEGORIES, blank_to_none
from climatrak.ledger.months import month_start_iso, parse_month
from climatrak.ledger.parsing import iso
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.postings import Precondition, PreconditionFailed, post
from climatrak.ledger.rate_cards import card_in_force
from climatrak.ledger.transaction_models import SOURCE_COMMITMENT, SOURCE_COST_ENGINE, NewPosting

KINDS = ("labor", "parts", "third_party")
KIND_DESCRIPTIONS = {"labor": "Mão de obra", "parts": "Peças", "third_party": "Serviços de terceiros"}
# Work order type → ledger category (emergencies and requests are corrective work).
TYPE_CATEGORIES = {
    "PREVENTIVE": "preventive",
    "PREDICTIVE": "predictive",
    "CORRECTIVE": "corrective",
    "EMERGENCY": "corrective",
    "REQUEST": "corrective",
}


class MissingRateCard(DomainError):
    """A labour line has hours but neither an hourly rate nor a rate card in force."""

    code = "missing_rate_card"

    def __init__(self, roles: list[str], work_order_id: int, on: date) -> None:
        names = ", ".join(roles)
        super().__init__(
            f"No rate card in force on {on.isoformat()} for role(s) {names} "
            f"(work order {work_order_id}): create one, then retry the event."
        )
        self.roles = roles
        self.work_order_id = work_order_id


class CostPostingResult(BaseModel):
    """What one cost-engine run did: postings created now (and their ids), kinds skipped
    (zero amount, or already posted earlier), and non-fatal notes."""

    transactions_created: int = 0
    transaction_ids: list[str] = Field(default_factory=list)
    skipped: int = 0
    errors: list[str] = Field(default_factory=list)


# ---- the work_order.closed payload (shared contract with CMMS) ---------------------------------


OptionalDecimal = Annotated[Decimal | None, BeforeValidator(blank_to_none)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LaborLine(_Payload):
    time_entry_id: Any = None
    role: str = ""
    role_code: str | None = None
    hours: Decimal = ZERO
    hourly_rate: OptionalDecimal = None
    technician_id: Any = None
    work_date: str | None = None


class PartLine(_Payload):
    part_usage_id: Any = None
    part_name: str = ""
    part_number: str | None = ""
    quantity: Decimal = ZERO
    unit: str | None = ""
    unit_cost: Decimal = ZERO


class ThirdPartyLine(_Payload):
    external_cost_id: Any = None
    cost_type: str | None = ""
    supplier_name: str | None = ""
    description: str | None = ""
    amount: Decimal = ZERO
    currency: str | None = "BRL"
    invoice_number: str | None = None


class WorkOrderClosed(_Payload):
    work_order_id: int
    work_order_number: str = ""
    asset_id: int | None = None
    asset_tag: str | None = ""
    cost_center_id: str | None = None
    work_order_type: str = ""
    category: str = ""
    completed_at: str
    labor: list[LaborLine] = Field(default_factory=list)
    parts: list[PartLine] = Field(default_factory=list)
    third_party: list[ThirdPartyLine] = Field(default_factory=list)


class CommitmentApprovedData(_Payload):
    commitment_id: str
    cost_center_id: str | None = None
    category: str = "other"
    amount: Decimal
    currency: str | None = "BRL"
    budget_month: str
    description: str | None = ""
    vendor_name: str | None = ""
    work_order_id: int | None = None


class CommitmentCancelledData(_Payload):
    commitment_id: str
    reason: str | None = None
    was_approved: bool = True


def _invalid(event: str, problems: str) -> DomainError:
    return DomainError(f"invalid {event} payload: {problems}", code="invalid_event")


def _parse(model: type[_Payload], data: dict[str, Any], event: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise _invalid(event, problems) from None


def _instant(value: str, field: str, event: str) -> str:
    """An ISO instant of a payload (naive = UTC) in storage form."""
    try:
        return iso(parse_iso(value))
    except ValueError:
        raise _invalid(event, f"{field} {value!r}") from None


def work_order_category(category: str, work_order_type: str) -> str:
    """The ledger category of a work order: the payload's category when it is one of ours,
    else from the type; emergency (and request) count as corrective."""
    chosen = (category or "").strip().lower()
    if chosen in ("emergency", "request"):
        return "corrective"
    if chosen in CATEGORIES:
        return chosen
    return TYPE_CATEGORIES.get((work_order_type or "").strip().upper(), "corrective")


# ---- the engine -----------------------------------------------------------------------------------


def _labor(event: WorkOrderClosed, cards: Sequence[RateCardItem], on: date) -> tuple[Decimal, dict[str, Any]]:
    """The labour total and its meta (per-role breakdown, total hours); `cards` are the
    tenant's rate cards (read only when a line has no rate of its own)."""
    missing: list[str] = []
    roles: dict[str, dict[str, Any]] = {}
    total_hours = Decimal(0)
    total = ZERO
    for line in event.labor:
        if line.hours <= 0:
            continue
        rate_card_id = None
        if line.hourly_rate is not None:
            rate, source = line.hourly_rate, "entry"
        else:
            card = card_in_force(cards, line.role, line.role_code, on)
            if card is None:
                label = line.role_code or line.role or "(no role)"
                if label not in missing:
                    missing.append(label)
                continue
            rate, source, rate_card_id = Decimal(card.cost_per_hour), "rate_card", card.id
        amount = money(line.hours * rate)
        role = roles.setdefault(
            (line.role or line.role_code or "").strip(),
            {
                "role": line.role,
                "role_code": line.role_code,
                "hours": Decimal(0),
                "amount": ZERO,
                "rates": [],
            },
        )
        role["hours"] += line.hours
        role["amount"] += amount
        role["rates"].append(
            {
                "time_entry_id": line.time_entry_id,
                "hours": str(line.hours),
                "hourly_rate": str(money(rate)),
                "rate_source": source,
                "rate_card_id": rate_card_id,
                "amount": str(amount),
            }
        )
        total_hours += line.hours
        total += amount
    if missing:
        raise MissingRateCard(missing, event.work_order_id, on)
    breakdown = [
        {
            "role": role["role"],
            "role_code": role["role_code"],
            "hours": str(role["hours"]),
            "amount": str(role["amount"]),
            "lines": role["rates"],
        }
        for role in roles.values()
    ]
    return total, {"total_hours": str(total_hours), "by_role": breakdown, "rate_date": on.isoformat()}


def _parts(event: WorkOrderClosed) -> tuple[Decimal, dict[str, Any]]:
    lines = []
    total = ZERO
    for line in event.parts:
        amount = money(line.quantity * line.unit_cost)
        total += amount
        lines.append(
            {
                "part_usage_id": line.part_usage_id,
                "part_name": line.part_name,
                "part_number": line.part_number,
                "quantity": str(line.quantity),
                "unit": line.unit,
                "unit_cost": str(line.unit_cost),
                "amount": str(amount),
            }
        )
    return total, {"lines": lines}


def _third_party(event: WorkOrderClosed) -> tuple[Decimal, dict[str, Any], str, list[str]]:
    lines = []
    total = ZERO
    currencies = {(line.currency or "BRL").upper() for line in event.third_party if line.amount}
    for line in event.third_party:
        amount = money(line.amount)
        total += amount
        lines.append(
            {
                "external_cost_id": line.external_cost_id,
                "cost_type": line.cost_type,
                "supplier_name": line.supplier_name,
                "description": line.description,
                "amount": str(amount),
                "currency": (line.currency or "BRL").upper(),
                "invoice_number": line.invoice_number,
            }
        )
    notes = []
    currency = next(iter(currencies)) if len(currencies) == 1 else "BRL"
    if len(currencies) > 1:
        notes.append(f"third-party costs of work order {event.work_order_id} in {sorted(currencies)} summed as BRL")
    return total, {"lines": lines}, currency, notes


def post_work_order_costs(settings: Settings, tenant: str, data: dict[str, Any]) -> CostPostingResult:
    """`work_order.closed` → up to three postings (labour, parts, third party), idempotent."""
    event: WorkOrderClosed = _parse(WorkOrderClosed, data, "work_order.closed")
    repo = PostingRepository(tenant, settings)
    completed_at = _instant(event.completed_at, "completed_at", "work_order.closed")
    on = parse_iso(completed_at).astimezone(zone(repo.timezone)).date()
    needs_cards = any(line.hours > 0 and line.hourly_rate is None for line in event.labor)
    labor_total, labor_meta = _labor(event, repo.list_rate_cards() if needs_cards else [], on)
    parts_total, parts_meta = _parts(event)
    third_total, third_meta, third_currency, notes = _third_party(event)
    common = {
        "source": SOURCE_COST_ENGINE,
        "work_order_id": event.work_order_id,
        "work_order_number": event.work_order_number,
        "work_order_type": event.work_order_type,
        "asset_tag": event.asset_tag,
        "completed_at": completed_at,
    }
    category = work_order_category(event.category, event.work_order_type)
    cost_center_id = event.cost_center_id or ensure_default_cost_center(tenant)
    amounts = {
        "labor": (labor_total, labor_meta, "BRL"),
        "parts": (parts_total, parts_meta, "BRL"),
        "third_party": (third_total, third_meta, third_currency),
    }
    label = event.work_order_number or f"#{event.work_order_id}"
    postings = [
        NewPosting(
            transaction_type=kind,
            category=category,
            amount=amount,
            occurred_at=completed_at,
            cost_center_id=cost_center_id,
            currency=currency,
            description=f"{KIND_DESCRIPTIONS[kind]} — OS {label}",
            meta={**common, **meta},
            idempotency_key=f"wo:{event.work_order_id}:{kind}",
            asset_id=event.asset_id,
            work_order_id=event.work_order_id,
            work_order_number=event.work_order_number or None,
        )
        for kind, (amount, meta, currency) in amounts.items()
        if amount != 0
    ]
    if not postings:
        return CostPostingResult(skipped=len(KINDS), errors=notes)
    outcomes = post(repo, postings, automatic=True)
    created = [outcome.transaction.id for outcome in outcomes if outcome.created]
    return CostPostingResult(
        transactions_created=len(created),
        transaction_ids=created,
        skipped=len(KINDS) - len(created),
        errors=notes,
    )


def commitment_key(commitment_id: str) -> str:
    """The idempotency key of a commitment's approval posting."""
    return f"commitment:{commitment_id}"


def reversal_key(commitment_id: str) -> str:
    """The idempotency key of the adjustment that reverses it when the commitment is cancelled."""
    return f"{commitment_key(commitment_id)}:reversal"


def _not_cancelled(repo: PostingRepository, commitment_id: str) -> Precondition:
    """Inside the approval posting's transaction: the commitment is not cancelled (an absent
    commitment item, e.g. a replayed payload of a commitment that never existed here, passes).
    Cancelling writes the status and then emits `commitment.cancelled`, so an approval posting
    either commits before the cancellation (and is reversed) or is refused (and never exists)."""
    return Precondition(
        CommitmentItem,
        repo.pk,
        repo.keys.commitment(commitment_id),
        CommitmentItem.pk.does_not_exist() | (CommitmentItem.status != "cancelled"),
        "commitment_not_cancelled",
    )


def _result(created: TransactionItem | None) -> CostPostingResult:
    if created is None:
        return CostPostingResult(skipped=1)
    return CostPostingResult(transactions_created=1, transaction_ids=[created.id])


def post_commitment(settings: Settings, tenant: str, data: dict[str, Any]) -> CostPostingResult:
    """`commitment.approved` → one posting (key `commitment:{id}`, type other, meta.source
    commitment) on the first instant of the budget month in the tenant's time zone — unless the
    commitment was cancelled first (checked inside the posting's transaction): then nothing."""
    event: CommitmentApprovedData = _parse(CommitmentApprovedData, data, "commitment.approved")
    repo = PostingRepository(tenant, settings)
    amount = money(event.amount)
    if amount == 0:
        return CostPostingResult(skipped=1)
    try:
        month = parse_month(event.budget_month, "budget_month", any_day=True)
    except DomainError:
        raise _invalid("commitment.approved", f"budget_month {event.budget_month!r}") from None
    category = event.category if event.category in CATEGORIES else "other"
    meta = {
        "source": SOURCE_COMMITMENT,
        "commitment_id": event.commitment_id,
        "vendor_name": event.vendor_name or "",
        "budget_month": f"{month}-01",
    }
    description = (event.description or "").strip() or f"Compromisso {event.vendor_name or event.commitment_id}"
    posting = NewPosting(
        transaction_type="other",
        category=category,
        amount=amount,
        occurred_at=month_start_iso(month, repo.timezone),
        cost_center_id=event.cost_center_id or ensure_default_cost_center(tenant),
        currency=(event.currency or "BRL").upper(),
        description=description,
        meta=meta,
        idempotency_key=commitment_key(event.commitment_id),
        work_order_id=event.work_order_id,
    )
    try:
        (outcome,) = post(repo, [posting], automatic=True, requires=[_not_cancelled(repo, event.commitment_id)])
    except PreconditionFailed:
        note = f"commitment {event.commitment_id} was cancelled before its approval was posted: nothing posted"
        return CostPostingResult(skipped=1, errors=[note])
    return _result(outcome.transaction if outcome.created else None)


def reverse_commitment(settings: Settings, tenant: str, data: dict[str, Any]) -> CostPostingResult:
    """`commitment.cancelled` (of an approved commitment) → an `adjustment` of minus the approval
    posting (key `commitment:{id}:reversal`, meta.source commitment, meta.reverses = its id), on
    the approval posting's date, cost centre and category, so the month's actual returns to what
    it was. Posted only if the approval posting exists; if it does not, it never will (its
    transaction requires the commitment not to be cancelled, and it is cancelled by now), so a
    cancellation processed before its approval nets to zero as well."""
    event: CommitmentCancelledData = _parse(CommitmentCancelledData, data, "commitment.cancelled")
    repo = PostingRepository(tenant, settings)
    key = commitment_key(event.commitment_id)
    guard = repo.guards([key]).get(key)
    if guard is None:
        return CostPostingResult(skipped=1, errors=[f"commitment {event.commitment_id} has no approval posting"])
    approval = repo.by_guard(guard)
    if approval is None:
        raise RuntimeError(f"idempotency key {key!r} points at a missing posting")
    if approval.meta_dict().get("source") != SOURCE_COMMITMENT:
        note = f"the posting with key {key!r} is not a commitment approval: not reversed"
        return CostPostingResult(skipped=1, errors=[note])
    meta: dict[str, Any] = {
        "source": SOURCE_COMMITMENT,
        "reason": "commitment cancelled",
        "reverses": approval.id,
        "commitment_id": event.commitment_id,
    }
    if event.reason:
        meta["cancellation_reason"] = event.reason
    posting = NewPosting(
        transaction_type="adjustment",
        category=approval.category,
        amount=-money(approval.amount),
        occurred_at=approval.occurred_at,
        cost_center_id=approval.cost_center_id,
        currency=approval.currency,
        description=f"Estorno — {approval.description}",
        meta=meta,
        idempotency_key=reversal_key(event.commitment_id),
        asset_id=int(approval.asset_id) if approval.asset_id is not None else None,
        work_order_id=int(approval.work_order_id) if approval.work_order_id is not None else None,
        work_order_number=approval.work_order_number,
    )
    (outcome,) = post(repo, [posting], automatic=True)
    return _result(outcome.transaction if outcome.created else None)
