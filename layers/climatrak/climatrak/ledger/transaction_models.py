"""Ledger postings: the posting service's input, the API's request and response shapes
(API.md §5.4) and the vocabularies of §7.

Money is Decimal (two places); model fields serialise as strings like DRF ("1250.00").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field

# One category vocabulary, one request base and one blank-means-absent rule for every ledger body.
from climatrak.ledger.models import Category, OptionalInt, OptionalText, RequestModel

TransactionType = Literal["labor", "parts", "third_party", "energy", "adjustment", "other"]
TRANSACTION_TYPES: tuple[str, ...] = ("labor", "parts", "third_party", "energy", "adjustment", "other")
TRANSACTION_TYPE_LABELS = {
    "labor": "Mão de Obra",
    "parts": "Peças",
    "third_party": "Terceiros",
    "energy": "Energia",
    "adjustment": "Ajuste",
    "other": "Outros",
}
CURRENCIES = ("BRL", "USD", "EUR")

# meta.source of each kind of posting (API.md §5.4 `source_category`).
SOURCE_MANUAL = "manual"
SOURCE_COST_ENGINE = "cost_engine"
SOURCE_COMMITMENT = "commitment"
SOURCE_INVENTORY = "inventory_movement"
SOURCE_ENERGY = "energy_engine"  # the daily report's energy postings


@dataclass
class NewPosting:
    """One posting for `postings.post`. `occurred_at` is an instant in UTC ISO form
    (`...Z`); the business month is derived from it in the tenant's time zone."""

    transaction_type: str
    category: str
    amount: Decimal
    occurred_at: str
    cost_center_id: str
    currency: str = "BRL"
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    asset_id: int | None = None
    work_order_id: int | None = None
    work_order_number: str | None = None
    vendor_id: str | None = None
    created_by: int | None = None


class TransactionCreate(RequestModel):
    """A manual posting or adjustment (the Ledger page's form)."""

    transaction_type: TransactionType = "adjustment"
    category: Category = "other"
    amount: Decimal = Field(max_digits=16, decimal_places=6)
    currency: str = Field(default="BRL", min_length=3, max_length=3)
    occurred_at: str = Field(min_length=10)
    description: str = Field(default="", max_length=2000)
    meta: dict[str, Any] = Field(default_factory=dict)
    cost_center: OptionalText = Field(default=None, validation_alias=AliasChoices("cost_center", "cost_center_id"))
    asset: OptionalInt = Field(default=None, validation_alias=AliasChoices("asset", "asset_id"))
    work_order: OptionalInt = Field(default=None, validation_alias=AliasChoices("work_order", "work_order_id"))
    vendor_id: OptionalText = None
    idempotency_key: OptionalText = Field(default=None, max_length=200)


class TransactionPatch(RequestModel):
    """Changes to a manual posting (fields absent from the body are kept)."""

    transaction_type: TransactionType | None = None
    category: Category | None = None
    amount: Decimal | None = Field(default=None, max_digits=16, decimal_places=6)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    occurred_at: str | None = Field(default=None, min_length=10)
    description: str | None = Field(default=None, max_length=2000)
    meta: dict[str, Any] | None = None
    cost_center: OptionalText = Field(default=None, validation_alias=AliasChoices("cost_center", "cost_center_id"))
    asset: OptionalInt = Field(default=None, validation_alias=AliasChoices("asset", "asset_id"))
    work_order: OptionalInt = Field(default=None, validation_alias=AliasChoices("work_order", "work_order_id"))
    vendor_id: OptionalText = None


class CostTransaction(BaseModel):
    """API.md §5.4 CostTransaction, with the frontend's additions (`*_id`, names, number)."""

    id: str
    idempotency_key: str | None
    transaction_type: str
    transaction_type_display: str
    category: str
    category_display: str
    amount: Decimal
    currency: str
    occurred_at: str
    description: str
    meta: dict[str, Any]
    cost_center: str
    cost_center_id: str
    cost_center_name: str | None
    cost_center_code: str | None
    asset: int | None
    asset_id: int | None
    asset_tag: str | None
    asset_name: str | None
    work_order: int | None
    work_order_id: int | None
    work_order_code: str | None
    work_order_number: str | None
    vendor_id: str | None
    is_locked: bool
    locked_at: str | None
    locked_by: int | None
    locked_by_name: str | None
    is_editable: bool
    created_at: str
    updated_at: str
    created_by: int | None
    created_by_name: str | None


class MonthLockRequest(RequestModel):
    month: str = Field(min_length=7, max_length=10, description="YYYY-MM-01 (YYYY-MM accepted)")


class MonthLockState(BaseModel):
    month: str  # YYYY-MM-01
    is_locked: bool
    locked_at: str | None
    locked_by: int | None
    updated_at: str | None
