"""Request and response shapes of the alerts API (API.md §4.6, §4.7, §7 "Monitor / IoT").

Rules arrive in two forms: `parameters: [...]` (multi-parameter) or the legacy single-parameter
fields at the top level; the logic turns both into a list of `RuleParameterWrite`. Thresholds
and readings are JSON numbers (API.md §1.9), severities TitleCase on the way out.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field

from climatrak.alerts.conditions import normalise_severity
from climatrak.registry.models import RequestModel

Operator = Literal[">", ">=", "<", "<=", "==", "!="]
RuleKind = Literal["threshold", "no_data"]
SeverityName = Literal["Critical", "High", "Medium", "Low"]
Action = Literal["EMAIL", "IN_APP", "SMS", "WHATSAPP"]
ACTIONS: tuple[str, ...] = get_args(Action)
DEFAULT_ACTIONS = ("IN_APP",)

MAX_ID = 2**53
MAX_PARAMETERS = 20
# Minutes. A month: the Telemetry table keeps 30 days, nothing longer can be evaluated.
MAX_MINUTES = 30 * 24 * 60
NAME_MAX = 200
TEXT_MAX = 5_000
TEMPLATE_MAX = 1_000


def _severity(value: Any) -> Any:
    """`CRITICAL` or `critical` → `Critical`; anything else is left for the Literal to refuse."""
    if isinstance(value, str):
        return normalise_severity(value) or value
    return value


def _null_to_blank(value: Any) -> Any:
    return "" if value is None else value


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Severity = Annotated[SeverityName, BeforeValidator(_severity)]
# A JSON number (strict: "25" is refused, as the contract says), never NaN or infinite.
Threshold = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-1e15, le=1e15)]
Duration = Annotated[int, Field(ge=1, le=MAX_MINUTES)]
Cooldown = Annotated[int, Field(ge=0, le=MAX_MINUTES)]
ShortText = Annotated[str, BeforeValidator(_null_to_blank), Field(max_length=NAME_MAX)]
Template = Annotated[str, BeforeValidator(_null_to_blank), Field(max_length=TEMPLATE_MAX)]
Unit = Annotated[str, BeforeValidator(_null_to_blank), Field(max_length=50)]
Description = Annotated[str, BeforeValidator(_null_to_blank), Field(max_length=TEXT_MAX)]


# ---- rules: requests -------------------------------------------------------------------------


class RuleParameterWrite(RequestModel):
    """One condition. `threshold` is required on threshold rules (checked with the rule's kind);
    `device` is the frontend's device id: accepted, not stored (the device is resolved from the
    sensor; it only breaks a tie when two devices of the asset have a sensor of that tag)."""

    parameter_key: str = Field(min_length=1, max_length=NAME_MAX)
    variable_key: ShortText = ""
    operator: Operator = ">"
    threshold: Threshold | None = None
    unit: Unit = ""
    duration: Duration = 5
    cooldown: Cooldown = 60
    severity: Severity = "Medium"
    message_template: Template = ""
    device: int | str | None = None


class RuleFields(RequestModel):
    """What create, PUT and PATCH share. The legacy single-parameter fields are used when
    `parameters` is absent; `actions` are validated by the logic (a field error `actions`)."""

    description: Description | None = None
    parameters: list[RuleParameterWrite] | None = Field(default=None, max_length=MAX_PARAMETERS)
    actions: list[str] | None = Field(default=None, max_length=len(ACTIONS) * 2)
    enabled: bool | None = None
    kind: RuleKind | None = None
    create_work_order: bool | None = None
    # legacy single-parameter form (a mirror of parameters[0])
    parameter_key: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    variable_key: ShortText | None = None
    operator: Operator | None = None
    threshold: Threshold | None = None
    unit: Unit | None = None
    duration: Duration | None = None
    cooldown: Cooldown | None = None
    severity: Severity | None = None
    message_template: Template | None = None


class RuleWrite(RuleFields):
    """POST and PUT: a whole rule (either form of parameters)."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    equipment: Id


class RulePatch(RuleFields):
    """PATCH: any subset; `parameters` present replaces them all, legacy fields change the first."""

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    equipment: Id | None = None


# ---- rules: responses ------------------------------------------------------------------------


class RuleParameter(BaseModel):
    id: int
    parameter_key: str
    variable_key: str
    operator: str
    threshold: float | None
    unit: str
    duration: int
    cooldown: int
    severity: str
    message_template: str
    order: int
    # the device whose sensor `parameter_key` is (resolved when the rule is written; read-only)
    device: int | None


class Rule(BaseModel):
    id: int
    name: str
    description: str
    equipment: int
    equipment_name: str
    equipment_tag: str
    parameters: list[RuleParameter]
    # legacy single-parameter fields: a mirror of parameters[0]
    parameter_key: str
    variable_key: str
    operator: str
    threshold: float | None
    unit: str
    duration: int
    severity: str
    actions: list[str]
    enabled: bool
    created_at: str
    updated_at: str
    created_by: int | None
    created_by_email: str
    condition_display: str
    # extras: the rule's kind, its work-order action and parameters[0].cooldown
    kind: str
    create_work_order: bool
    cooldown: int


class RuleToggleResult(BaseModel):
    status: Literal["enabled", "disabled"]
    rule: Rule


class RuleStatistics(BaseModel):
    total: int
    enabled: int
    disabled: int
    # every severity twice: TitleCase (the reference backend) and UPPER (the frontend's type)
    by_severity: dict[str, int]


# ---- alerts ----------------------------------------------------------------------------------


class AlertNotes(RequestModel):
    notes: str | None = Field(default=None, max_length=TEXT_MAX)


class LinkWorkOrder(RequestModel):
    # checked by the logic so that a bad value is a 400 `{error}` as the contract says
    work_order_id: Annotated[Any, Field(description="The work order's id (an integer).")] = None


class Alert(BaseModel):
    id: int
    rule: int | None
    rule_name: str
    equipment_name: str
    message: str
    severity: str
    severity_display: str
    asset_tag: str
    parameter_key: str
    parameter_value: float | None
    threshold: float | None
    triggered_at: str
    acknowledged: bool
    acknowledged_at: str | None
    acknowledged_by: int | None
    acknowledged_by_email: str | None
    resolved: bool
    resolved_at: str | None
    resolved_by: int | None
    resolved_by_email: str | None
    work_order: int | None
    work_order_number: str | None
    notes: str
    is_active: bool
    # extras
    status: str
    asset: int | None
    site: int | None
    resolution: str | None
    kind: str
    unit: str
    operator: str


class AlertActionResult(BaseModel):
    status: Literal["acknowledged", "resolved"]
    alert: Alert


class LinkResult(BaseModel):
    status: Literal["linked"]
    alert: Alert
    work_order_number: str


class AlertStatistics(BaseModel):
    total: int
    active: int
    acknowledged: int
    resolved: int
    # UPPER keys here (API.md §4.6)
    by_severity: dict[str, int]
