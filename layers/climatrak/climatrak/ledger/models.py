"""Request and response shapes of TrakLedger's reference data, budgets, commitments, savings
and budget summary (API.md §5.1-5.3, §5.5-5.7) and the vocabularies of §7.

Request models accept what the frontend sends (numbers or decimal strings, its alias names,
"" for cleared optional references); response models are what it reads. Model money fields
serialise as strings ("1250.00"), hand-built aggregates (summaries, top costs) as JSON numbers.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

# ---- vocabularies (API.md §7, TrakLedger) ------------------------------------------------------

CATEGORY_LABELS: dict[str, str] = {
    "preventive": "Manutenção Preventiva",
    "corrective": "Manutenção Corretiva",
    "predictive": "Manutenção Preditiva",
    "improvement": "Melhorias",
    "contracts": "Contratos",
    "parts": "Peças e Materiais",
    "energy": "Energia",
    "other": "Outros",
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_LABELS)
Category = Literal["preventive", "corrective", "predictive", "improvement", "contracts", "parts", "energy", "other"]

# Budget plans: stored and emitted in the frontend's vocabulary; the Django names are accepted.
PLAN_STATUS_LABELS: dict[str, str] = {"draft": "Rascunho", "approved": "Aprovado", "locked": "Fechado"}
PLAN_STATUS_ALIASES: dict[str, str] = {"active": "approved", "closed": "locked"}

# Commitments: stored in the Django vocabulary (the real state), emitted in the frontend's.
COMMITMENT_STATUSES: tuple[str, ...] = ("draft", "submitted", "approved", "rejected", "cancelled", "realized")
COMMITMENT_STATUS_OUT: dict[str, str] = {"rejected": "cancelled", "realized": "converted"}
COMMITMENT_STATUS_LABELS: dict[str, str] = {
    "draft": "Rascunho",
    "submitted": "Submetido",
    "approved": "Aprovado",
    "rejected": "Rejeitado",
    "cancelled": "Cancelado",
    "realized": "Realizado",
}

# Savings: stored and emitted in the frontend's vocabulary; Django values map onto it.
SAVINGS_TYPE_LABELS: dict[str, str] = {
    "avoided_failure": "Falha Evitada",
    "energy_saving": "Economia de Energia",
    "lifespan_extension": "Extensão de Vida Útil",
    "other": "Outros",
}
SAVINGS_TYPE_ALIASES: dict[str, str] = {
    "energy_savings": "energy_saving",
    "optimized_maintenance": "other",
    "early_detection": "other",
    "reduced_downtime": "other",
}
CONFIDENCE_LABELS: dict[str, str] = {"high": "Alta", "med": "Média", "low": "Baixa"}
CONFIDENCE_ALIASES: dict[str, str] = {"medium": "med"}
# The summary category a savings event counts under, unless the request names one: what the
# saving avoided (a failure → corrective work, energy → the energy bill, a longer life →
# preventive care).
SAVINGS_CATEGORY: dict[str, str] = {
    "avoided_failure": "corrective",
    "energy_saving": "energy",
    "lifespan_extension": "preventive",
    "other": "other",
}


def blank_to_none(value: Any) -> Any:
    """Request values: "" (a cleared optional field of the frontend's forms) means absent."""
    return None if isinstance(value, str) and not value.strip() else value


OptionalDate = Annotated[date | None, BeforeValidator(blank_to_none)]
OptionalInt = Annotated[int | None, BeforeValidator(blank_to_none)]
OptionalText = Annotated[str | None, BeforeValidator(blank_to_none)]
Money = Annotated[Decimal, Field(max_digits=15, decimal_places=2, allow_inf_nan=False)]
NonNegativeMoney = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=2, allow_inf_nan=False)]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=2, allow_inf_nan=False)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


def _alias(*names: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


class RequestModel(BaseModel):
    # Unknown keys are ignored, as DRF serializers do; aliases and field names both accepted.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# ---- cost centres (§5.1) ------------------------------------------------------------------------


class CostCenterCreate(RequestModel):
    code: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    parent_id: OptionalText = _alias("parent_id", "parent")
    tags: list[str] = Field(default_factory=list)
    is_active: bool = True


class CostCenterPatch(RequestModel):
    code: str | None = Field(default=None, min_length=1, max_length=50)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    parent_id: OptionalText = _alias("parent_id", "parent")
    tags: list[str] | None = None
    is_active: bool | None = None


class CostCenter(BaseModel):
    id: str
    code: str
    name: str
    description: str
    parent_id: str | None
    parent_name: str | None
    level: int
    full_path: str
    children_count: int
    tags: list[str]
    is_active: bool
    is_default: bool
    created_at: str
    updated_at: str
    created_by: int | None


# ---- rate cards (§5.2) --------------------------------------------------------------------------


class RateCardCreate(RequestModel):
    role: str = Field(min_length=1, max_length=100)
    role_code: str = Field(default="", max_length=50)
    description: str = ""
    cost_per_hour: NonNegativeMoney
    currency: Currency = "BRL"
    effective_from: date
    effective_to: OptionalDate = None
    is_active: bool = True


class RateCardPatch(RequestModel):
    role: str | None = Field(default=None, min_length=1, max_length=100)
    role_code: str | None = Field(default=None, max_length=50)
    description: str | None = None
    cost_per_hour: NonNegativeMoney | None = None
    currency: Currency | None = None
    effective_from: date | None = None
    effective_to: OptionalDate = None
    is_active: bool | None = None


class RateCard(BaseModel):
    id: str
    role: str
    role_code: str
    description: str
    cost_per_hour: Decimal
    currency: str
    effective_from: str
    effective_to: str | None
    is_current: bool
    is_active: bool
    created_at: str
    updated_at: str
    created_by: int | None


# ---- budget plans, envelopes and months (§5.3) --------------------------------------------------

PlanStatusIn = Literal["draft", "approved", "locked", "active", "closed"]


class BudgetPlanCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    code: str = Field(default="", max_length=50)
    description: str = ""
    year: int = Field(ge=2000, le=2100)
    start_date: OptionalDate = None
    end_date: OptionalDate = None
    currency: Currency = "BRL"
    status: PlanStatusIn = "draft"


class BudgetPlanPatch(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=50)
    description: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    currency: Currency | None = None
    status: PlanStatusIn | None = None


class BudgetMonthIn(RequestModel):
    month: str = Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    planned_amount: NonNegativeMoney = Decimal("0")
    contingency_amount: NonNegativeMoney = Decimal("0")


class EnvelopeCreate(RequestModel):
    budget_plan: str = Field(validation_alias=AliasChoices("budget_plan", "budget_plan_id"))
    cost_center: str = Field(validation_alias=AliasChoices("cost_center", "cost_center_id"))
    name: str = Field(min_length=1, max_length=200)
    category: Category = "other"
    description: str = ""
    amount: NonNegativeMoney = Decimal("0")
    currency: Currency = "BRL"
    is_active: bool = True
    months: list[BudgetMonthIn] | None = None


class EnvelopePatch(RequestModel):
    cost_center: str | None = _alias("cost_center", "cost_center_id")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    category: Category | None = None
    description: str | None = None
    amount: NonNegativeMoney | None = None
    currency: Currency | None = None
    is_active: bool | None = None
    months: list[BudgetMonthIn] | None = None


class BudgetMonth(BaseModel):
    id: str
    envelope: str
    month: str
    month_name: str
    planned_amount: Decimal
    contingency_amount: Decimal
    is_locked: bool
    locked_at: str | None
    locked_by: int | None
    locked_by_name: str | None
    created_at: str
    updated_at: str


class Envelope(BaseModel):
    id: str
    name: str
    description: str
    budget_plan: str
    budget_plan_name: str | None
    cost_center: str
    cost_center_name: str | None
    cost_center_code: str | None
    category: str
    category_display: str
    amount: Decimal
    currency: str
    months_total: float | int
    is_active: bool
    months: list[BudgetMonth]
    created_at: str
    updated_at: str


class BudgetPlan(BaseModel):
    id: str
    code: str
    name: str
    description: str
    year: int
    start_date: str
    end_date: str
    total_planned: Decimal
    currency: str
    status: str
    status_display: str
    envelopes_count: int
    created_at: str
    updated_at: str
    created_by: int | None
    created_by_name: str | None


class BudgetPlanDetail(BudgetPlan):
    envelopes: list[Envelope]


# ---- commitments (§5.5) -------------------------------------------------------------------------


class CommitmentCreate(RequestModel):
    cost_center: str = Field(validation_alias=AliasChoices("cost_center", "cost_center_id"))
    category: Category = "other"
    amount: PositiveMoney
    currency: Currency = "BRL"
    budget_month: str = Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    description: str = ""
    vendor_name: str = Field(default="", max_length=200)
    work_order: OptionalInt = _alias("work_order", "work_order_id")
    due_date: OptionalDate = None
    notes: str = ""
    attachments: list[str] = Field(default_factory=list)
    submit: bool = False


class CommitmentPatch(RequestModel):
    """The frontend passes its own input shape; `status` and `vendor_id` are not editable here
    (status changes go through the submit/approve/reject/cancel actions)."""

    cost_center: OptionalText = _alias("cost_center", "cost_center_id")
    category: Category | None = None
    amount: PositiveMoney | None = None
    currency: Currency | None = None
    budget_month: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    description: str | None = None
    vendor_name: str | None = Field(default=None, max_length=200)
    work_order: OptionalInt = _alias("work_order", "work_order_id")
    due_date: OptionalDate = None
    notes: str | None = None
    attachments: list[str] | None = None


class CommitmentReject(RequestModel):
    reason: str = Field(default="", validation_alias=AliasChoices("reason", "rejection_reason"))


class CommitmentCancel(RequestModel):
    """Optional body of `cancel`: the reason goes on an approved commitment's reversal."""

    reason: str | None = Field(default=None, max_length=2000)


class Commitment(BaseModel):
    id: str
    cost_center: str
    cost_center_id: str
    cost_center_name: str | None
    cost_center_code: str | None
    budget_month: str
    amount: Decimal
    currency: str
    category: str
    category_display: str
    status: str
    status_display: str
    description: str
    vendor_name: str
    work_order: int | None
    work_order_id: int | None
    work_order_number: str | None
    due_date: str | None
    notes: str
    attachments: list[str]
    approved_by: int | None
    approved_by_name: str | None
    approved_at: str | None
    rejection_reason: str
    created_at: str
    updated_at: str
    created_by: int | None
    created_by_name: str | None


class CommitmentApproved(Commitment):
    event_id: str | None


# ---- savings events (§5.6) ----------------------------------------------------------------------

SavingsTypeIn = Literal[
    "avoided_failure",
    "energy_saving",
    "lifespan_extension",
    "other",
    "energy_savings",
    "optimized_maintenance",
    "early_detection",
    "reduced_downtime",
]
ConfidenceIn = Literal["high", "med", "low", "medium"]


class SavingsCreate(RequestModel):
    event_type: SavingsTypeIn
    occurred_at: str = Field(min_length=10)
    savings_amount: PositiveMoney
    currency: Currency = "BRL"
    confidence: ConfidenceIn = "med"
    cost_center: OptionalText = _alias("cost_center_id", "cost_center")
    # the summary category it counts under; by default derived from event_type (SAVINGS_CATEGORY)
    category: Category | None = None
    asset: OptionalInt = _alias("asset_id", "asset")
    work_order: OptionalInt = _alias("work_order_id", "work_order")
    alert: OptionalInt = _alias("alert_id", "alert")
    baseline_ref: dict[str, Any] | None = None
    description: str = Field(default="", validation_alias=AliasChoices("explanation", "description"))
    calculation_method: str = ""
    evidence_links: dict[str, str] | None = None
    evidence: dict[str, Any] | None = None


class SavingsEvent(BaseModel):
    id: str
    event_type: str
    event_type_display: str
    savings_amount: Decimal
    currency: str
    confidence: str
    confidence_display: str
    occurred_at: str
    description: str
    explanation: str
    calculation_method: str
    category: str
    cost_center: str
    cost_center_id: str
    cost_center_name: str | None
    cost_center_code: str | None
    asset: int | None
    asset_id: int | None
    asset_name: str | None
    work_order: int | None
    work_order_id: int | None
    work_order_number: str | None
    alert: int | None
    alert_id: int | None
    alert_message: str | None
    baseline_ref: dict[str, Any] | None
    evidence: dict[str, Any]
    evidence_links: dict[str, Any]
    created_at: str
    updated_at: str
    created_by: int | None
    created_by_name: str | None


# ---- budget summary (§5.7) and top costs --------------------------------------------------------

Number = float | int


class CategorySummary(BaseModel):
    category: str
    category_display: str
    planned: Number
    committed: Number
    committed_approved: Number
    committed_pending: Number
    actual: Number
    savings: Number
    variance: Number


class BudgetSummary(BaseModel):
    month: str
    cost_center_id: str | None
    cost_center_name: str | None
    planned: Number
    committed: Number
    committed_approved: Number
    committed_pending: Number
    actual: Number
    savings: Number
    variance: Number
    variance_percent: Number
    by_category: list[CategorySummary]


class MonthSummary(BaseModel):
    month: str
    month_name: str
    planned: Number
    committed: Number
    actual: Number
    savings: Number
    variance: Number


class YearSummary(BaseModel):
    year: int
    cost_center_id: str | None
    cost_center_name: str | None
    planned: Number
    committed: Number
    actual: Number
    savings: Number
    variance: Number
    variance_percent: Number
    by_month: list[MonthSummary]


class TopCost(BaseModel):
    asset_id: int | None = None
    asset_tag: str | None = None
    asset_name: str | None = None
    category: str | None = None
    category_display: str | None = None
    actual: Number


class TopCosts(BaseModel):
    by: Literal["asset", "category"]
    start: str
    end: str
    results: list[TopCost]
