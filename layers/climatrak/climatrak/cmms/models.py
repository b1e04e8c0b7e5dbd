"""Request and response shapes of the CMMS API (API.md §3.1, §7) and the cost inputs.

Request models validate what the frontend sends (decimals arrive as strings or numbers, empty
strings mean null); response models document what it reads and feed the OpenAPI document.
Decimals are serialised as strings, like DRF's DecimalField; aggregates (stats) are numbers.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field

from climatrak.core.money import DEFAULT_CURRENCY
from climatrak.registry.models import RequestModel

WorkOrderType = Literal["PREVENTIVE", "CORRECTIVE", "PREDICTIVE", "EMERGENCY", "REQUEST"]
WorkOrderStatus = Literal["OPEN", "IN_PROGRESS", "COMPLETED", "CANCELLED"]
Priority = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
WORK_ORDER_TYPES: tuple[str, ...] = get_args(WorkOrderType)
WORK_ORDER_STATUSES: tuple[str, ...] = get_args(WorkOrderStatus)
PRIORITIES: tuple[str, ...] = get_args(Priority)
# ledger category of a work order's costs (API.md §7): emergencies and requests are corrective
CATEGORY_OF_TYPE = {
    "PREVENTIVE": "preventive",
    "PREDICTIVE": "predictive",
    "CORRECTIVE": "corrective",
    "EMERGENCY": "corrective",
    "REQUEST": "corrective",
}
DEFAULT_ASSIGNED_ROLE = "technician"


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# Bounds that keep every item under DynamoDB's 400 KB and every number inside what DynamoDB and
# JavaScript hold exactly (integer ids up to 2**53).
MAX_ID = 2**53
TEXT_MAX = 5_000  # descriptions, execution notes, reasons
SIGNATURE_MAX = 200_000  # the customer's signature as a base64 data URL
DATETIME_MAX = 64

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
LongText = Annotated[str, Field(max_length=TEXT_MAX)]
# A data URL is ASCII: the limit in characters is then a limit in bytes too.
Signature = Annotated[str, Field(max_length=SIGNATURE_MAX, pattern=r"^[\x20-\x7E\t\r\n]*$")]
OptionalDate = Annotated[date | None, BeforeValidator(_blank_to_none)]
# Datetimes are parsed by the logic (naive values are tenant-local time): full ISO or YYYY-MM-DDTHH:mm.
OptionalDateTime = Annotated[Annotated[str, Field(max_length=DATETIME_MAX)] | None, BeforeValidator(_blank_to_none)]
# Constraints sit on the Decimal inside the Optional: pydantic would apply them to null too.
Hours = Annotated[
    Annotated[Decimal, Field(ge=0, max_digits=8, decimal_places=2)] | None, BeforeValidator(_blank_to_none)
]
Rate = Annotated[
    Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None, BeforeValidator(_blank_to_none)
]


# ---- work orders -----------------------------------------------------------------------------


class WorkOrderFields(RequestModel):
    """Writable fields shared by create and patch (all optional here)."""

    status: WorkOrderStatus | None = None
    scheduled_date: OptionalDate = None
    assigned_to: Id | None = None
    assigned_to_name: str | None = Field(default=None, max_length=200)
    # The assignee's labour role (a rate-card role) for costing; default "technician".
    assigned_role: str | None = Field(default=None, max_length=100)
    execution_description: LongText | None = None
    estimated_hours: Hours = None
    actual_hours: Hours = None
    started_at: OptionalDateTime = None
    completed_at: OptionalDateTime = None
    signature: Signature | None = None
    signed_by: str | None = Field(default=None, max_length=200)
    signed_at: OptionalDateTime = None
    cancellation_reason: LongText | None = None


class WorkOrderCreate(WorkOrderFields):
    asset: Id
    type: WorkOrderType = "CORRECTIVE"
    priority: Priority = "MEDIUM"
    description: LongText = ""


class WorkOrderPatch(WorkOrderFields):
    asset: Id | None = None
    type: WorkOrderType | None = None
    priority: Priority | None = None
    description: LongText | None = None
    # Optimistic concurrency: the `version` the client edited; a different stored version is a
    # 409 stale_version. Absent = no check (the If-Match header does the same).
    version: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None


class StartWorkOrder(RequestModel):
    assigned_to: Id | None = None
    assigned_to_name: str | None = Field(default=None, max_length=200)
    assigned_role: str | None = Field(default=None, max_length=100)


class CompleteWorkOrder(RequestModel):
    execution_description: LongText | None = None
    actual_hours: Hours = None
    # accepted and not stored yet (checklists are another module)
    checklist_responses: list[Any] | None = None


class CancelWorkOrder(RequestModel):
    reason: LongText | None = None


class WorkOrderListItem(BaseModel):
    id: int
    number: str
    asset: int
    asset_tag: str
    asset_name: str
    site_name: str
    type: str
    status: str
    priority: str
    description: str
    scheduled_date: str | None
    completed_at: str | None
    assigned_to: int | None
    assigned_to_name: str | None
    is_overdue: bool
    created_at: str
    updated_at: str
    # the item's version (bumped by every write to the work order and its cost inputs); send it
    # back as `version` or `If-Match: "<version>"` to refuse overwriting someone else's change
    version: int


class WorkOrder(WorkOrderListItem):
    execution_description: str | None
    started_at: str | None
    created_by: int | None
    created_by_name: str
    assigned_role: str
    estimated_hours: Decimal | None
    actual_hours: Decimal | None
    checklist_template: int | None
    checklist_template_name: str | None
    checklist_template_items: list[dict[str, Any]] | None
    checklist_responses: list[dict[str, Any]]
    photos: list[dict[str, Any]]
    items: list[dict[str, Any]]
    request: int | None
    maintenance_plan: int | None
    cancellation_reason: str | None
    signature: str | None
    signed_by: str | None
    signed_at: str | None


class WorkOrderStats(BaseModel):
    total: int
    open: int
    in_progress: int
    completed: int
    cancelled: int
    overdue: int
    by_type: dict[str, int]
    by_priority: dict[str, int]


class PostCostsResult(BaseModel):
    success: bool
    work_order_id: int
    work_order_number: str
    auto_created_entries: list[str]
    transactions_created: int
    transactions: list[str]
    events_published: int
    skipped: int
    errors: list[str]


# ---- cost inputs -----------------------------------------------------------------------------


class TimeEntryCreate(RequestModel):
    work_order: Id
    role: str = Field(min_length=1, max_length=100)
    role_code: str | None = Field(default=None, max_length=50)
    hours: Decimal = Field(gt=0, max_digits=8, decimal_places=2)
    work_date: date
    hourly_rate: Rate = None
    technician: Id | None = None
    description: LongText = ""


class TimeEntryPatch(RequestModel):
    work_order: Id | None = None
    role: str | None = Field(default=None, min_length=1, max_length=100)
    role_code: str | None = Field(default=None, max_length=50)
    hours: Annotated[Decimal, Field(gt=0, max_digits=8, decimal_places=2)] | None = None
    work_date: date | None = None
    hourly_rate: Rate = None
    technician: Id | None = None
    description: LongText | None = None


class TimeEntry(BaseModel):
    id: str
    work_order: int
    role: str
    role_code: str | None
    hours: Decimal
    work_date: str
    hourly_rate: Decimal | None
    technician: int | None
    description: str
    total_cost: Decimal | None
    created_at: str
    updated_at: str


class PartUsageCreate(RequestModel):
    work_order: Id
    part_name: str = Field(min_length=1, max_length=200)
    part_number: str = Field(default="", max_length=100)
    inventory_item: Id | None = None
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=3)
    unit: str = Field(default="UN", min_length=1, max_length=20)
    unit_cost: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


class PartUsagePatch(RequestModel):
    work_order: Id | None = None
    part_name: str | None = Field(default=None, min_length=1, max_length=200)
    part_number: str | None = Field(default=None, max_length=100)
    inventory_item: Id | None = None
    quantity: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3)] | None = None
    unit: str | None = Field(default=None, min_length=1, max_length=20)
    unit_cost: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None


class PartUsage(BaseModel):
    id: str
    work_order: int
    part_name: str
    part_number: str
    inventory_item: int | None
    quantity: Decimal
    unit: str
    unit_cost: Decimal
    total_cost: Decimal
    created_at: str
    updated_at: str


Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class ExternalCostCreate(RequestModel):
    work_order: Id
    cost_type: str = Field(min_length=1, max_length=50)
    supplier_name: str = Field(min_length=1, max_length=200)
    description: LongText = ""
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: Currency = DEFAULT_CURRENCY
    invoice_number: str | None = Field(default=None, max_length=100)
    invoice_date: OptionalDate = None


class ExternalCostPatch(RequestModel):
    work_order: Id | None = None
    cost_type: str | None = Field(default=None, min_length=1, max_length=50)
    supplier_name: str | None = Field(default=None, min_length=1, max_length=200)
    description: LongText | None = None
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = None
    currency: Currency | None = None
    invoice_number: str | None = Field(default=None, max_length=100)
    invoice_date: OptionalDate = None


class ExternalCost(BaseModel):
    id: str
    work_order: int
    cost_type: str
    supplier_name: str
    description: str
    amount: Decimal
    currency: str
    invoice_number: str | None
    invoice_date: str | None
    created_at: str
    updated_at: str
