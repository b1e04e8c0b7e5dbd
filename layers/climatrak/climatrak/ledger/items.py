"""PynamoDB items of TrakLedger in the Main table (layout: docs/access-patterns.md).

Months are business months (`YYYY-MM`) in the tenant's time zone. Money attributes are
DecimalAttribute (exact), two places.
"""

from __future__ import annotations

import uuid
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from climatrak.core.items import DecimalAttribute, MainItem, condition_failed
from climatrak.core.keys import TenantKeys
from climatrak.core.money import DEFAULT_CURRENCY, ZERO
from climatrak.core.timeutil import utc_now_iso

DEFAULT_COST_CENTER_CODE = "GERAL"
_DEFAULT_COST_CENTER_NAMESPACE = uuid.UUID("7f0c7a8e-2f7b-4c1e-9a4e-3d1c6f0b9a55")


# ---- reference data: pk T#{t} ---------------------------------------------------------------


class CostCenterItem(MainItem, discriminator="cost_center"):
    """sk `CC#{id}`.

    `in_use` and `children_count` are kept by DynamoDB, not by edits (they never move `version`;
    edits write only the editable attributes, so they never overwrite them): every transaction
    that makes something reference the cost centre (a posting, an envelope, a commitment, a
    savings event) sets `in_use` with `attribute_exists(pk)` as its condition, and a child's
    create / re-parent / delete ADDs ±1 to its parent's `children_count` in the same
    transaction. Deleting a cost centre is conditioned on both (ADR 0008)."""

    id = UnicodeAttribute()
    code = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    parent_id = UnicodeAttribute(null=True)
    tags = ListAttribute[str](default=list)
    is_active = BooleanAttribute(default=True)
    is_default = BooleanAttribute(default=False)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = NumberAttribute(null=True)
    # set once something ever referenced it; never cleared (only deleting the item removes it)
    in_use = BooleanAttribute(null=True)
    # direct children; absent on cost centres that never had one
    children_count = NumberAttribute(null=True)
    version = VersionAttribute()


class CostCenterCodeGuard(MainItem, discriminator="cost_center_code"):
    """sk `CCCODE#{code}`: exists while a cost centre holds `code` (uniqueness per tenant)."""

    cost_center_id = UnicodeAttribute()


class RateCardItem(MainItem, discriminator="rate_card"):
    """sk `RATECARD#{id}`. The card in force for a role on a date: effective_from <= date <=
    effective_to (open-ended when null), active; the latest effective_from wins."""

    id = UnicodeAttribute()
    role = UnicodeAttribute()
    role_code = UnicodeAttribute(default="")
    description = UnicodeAttribute(default="")
    cost_per_hour = DecimalAttribute()
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
    effective_from = UnicodeAttribute()  # YYYY-MM-DD
    effective_to = UnicodeAttribute(null=True)
    is_active = BooleanAttribute(default=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = NumberAttribute(null=True)
    version = VersionAttribute()


class BudgetPlanItem(MainItem, discriminator="budget_plan"):
    """sk `PLAN#{id}`."""

    id = UnicodeAttribute()
    code = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    year = NumberAttribute()
    start_date = UnicodeAttribute()
    end_date = UnicodeAttribute()
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
    status = UnicodeAttribute(default="draft")
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = NumberAttribute(null=True)
    version = VersionAttribute()


class BudgetMonthAttribute(MapAttribute[str, Any]):
    id = UnicodeAttribute()
    month = UnicodeAttribute()  # YYYY-MM-01
    planned_amount = DecimalAttribute()
    contingency_amount = DecimalAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class EnvelopeItem(MainItem, discriminator="budget_envelope"):
    """sk `ENVELOPE#{id}`; its 12 months live inside (replaced together, version-checked)."""

    id = UnicodeAttribute()
    budget_plan_id = UnicodeAttribute()
    cost_center_id = UnicodeAttribute()
    category = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    amount = DecimalAttribute(default=lambda: ZERO)
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
    is_active = BooleanAttribute(default=True)
    months = ListAttribute[BudgetMonthAttribute](of=BudgetMonthAttribute, default=list)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class CommitmentItem(MainItem, discriminator="commitment"):
    """sk `COMMIT#{id}`. Status (stored): draft, submitted, approved, rejected, cancelled, realized."""

    id = UnicodeAttribute()
    cost_center_id = UnicodeAttribute()
    budget_month = UnicodeAttribute()  # YYYY-MM-01
    amount = DecimalAttribute()
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
    category = UnicodeAttribute()
    status = UnicodeAttribute(default="draft")
    description = UnicodeAttribute(default="")
    vendor_name = UnicodeAttribute(default="")
    work_order_id = NumberAttribute(null=True)
    due_date = UnicodeAttribute(null=True)
    notes = UnicodeAttribute(default="")
    attachments = ListAttribute[str](default=list)
    approved_by = NumberAttribute(null=True)
    approved_at = UnicodeAttribute(null=True)
    rejection_reason = UnicodeAttribute(default="")
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = NumberAttribute(null=True)
    version = VersionAttribute()


class SavingsItem(MainItem, discriminator="savings_event"):
    """sk `SAVINGS#{id}`. event_type and confidence stored in the frontend's vocabulary."""

    id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    savings_amount = DecimalAttribute()
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
    confidence = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    calculation_method = UnicodeAttribute(default="")
    cost_center_id = UnicodeAttribute()
    # the summary category its amount counts under (SummaryRow.savings)
    category = UnicodeAttribute(default="other")
    asset_id = NumberAttribute(null=True)
    work_order_id = NumberAttribute(null=True)
    alert_id = NumberAttribute(null=True)
    baseline_ref = MapAttribute[str, Any](null=True)
    evidence = MapAttribute[str, Any](default=dict)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = NumberAttribute(null=True)


class LedgerMonthItem(MainItem, discriminator="ledger_month"):
    """sk `LEDGERMONTH#{YYYY-MM}`; absent means open. Postings ConditionCheck it."""

    month = UnicodeAttribute()
    locked = BooleanAttribute(default=False)
    locked_at = UnicodeAttribute(null=True)
    locked_by = NumberAttribute(null=True)
    updated_at = UnicodeAttribute()


# ---- the ledger -------------------------------------------------------------------------------


class TransactionById(GlobalSecondaryIndex["TransactionItem"]):
    """gsi1: `T#{t}#TX#{id}` / `TX` — one posting by id (eventually consistent; re-read the item)."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class TransactionItem(MainItem, discriminator="ledger_transaction"):
    """pk `T#{t}#LEDGER#{YYYY-MM}`, sk `{occurred_at}#{id}` (a month's postings in time order);
    gsi1 `T#{t}#TX#{id}` / `TX` finds one by id."""

    id = UnicodeAttribute()
    month = UnicodeAttribute()
    idempotency_key = UnicodeAttribute(null=True)
    transaction_type = UnicodeAttribute()
    category = UnicodeAttribute()
    amount = DecimalAttribute()
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
    occurred_at = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    meta = MapAttribute[str, Any](default=dict)
    cost_center_id = UnicodeAttribute()
    asset_id = NumberAttribute(null=True)
    work_order_id = NumberAttribute(null=True)
    work_order_number = UnicodeAttribute(null=True)  # denormalised at posting time
    vendor_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = NumberAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    version = VersionAttribute()
    by_id = TransactionById()

    def meta_dict(self) -> dict[str, Any]:
        """`meta` as a plain dict (a MapAttribute when read back, a dict when just built)."""
        meta = self.meta
        if meta is None:
            return {}
        return meta.as_dict() if hasattr(meta, "as_dict") else dict(meta)


class LedgerKeyGuard(MainItem, discriminator="ledger_key"):
    """pk `T#{t}#LEDGERKEY`, sk = idempotency key. Its conditional creation makes a key post once."""

    transaction_id = UnicodeAttribute()
    month = UnicodeAttribute()
    ledger_sk = UnicodeAttribute(null=True)  # the posting's sk: a consistent read finds it


class WorkOrderTransactionLink(MainItem, discriminator="work_order_transaction"):
    """pk `T#{t}#WO#{id:08d}`, sk `TX#{transaction id}`: a work order's postings, read consistently."""

    transaction_id = UnicodeAttribute()
    ledger_pk = UnicodeAttribute()
    ledger_sk = UnicodeAttribute()


# ---- the summary projection: pk T#{t}#SUMMARY#{YYYY-MM} --------------------------------------


class SummaryRow(MainItem, discriminator="summary_row"):
    """sk `CC#{cost_center_id}#CAT#{category}`: counters updated in the same transaction as the
    change they count, so a month's summary is one query at any ledger size."""

    cost_center_id = UnicodeAttribute()
    category = UnicodeAttribute()
    planned = DecimalAttribute(default=lambda: ZERO)
    committed_approved = DecimalAttribute(default=lambda: ZERO)
    committed_pending = DecimalAttribute(default=lambda: ZERO)
    actual = DecimalAttribute(default=lambda: ZERO)
    savings = DecimalAttribute(default=lambda: ZERO)


class AssetCostRow(MainItem, discriminator="asset_cost"):
    """sk `ASSET#{asset_id:08d}`: the month's actual cost of one asset (top-N by asset)."""

    asset_id = NumberAttribute()
    actual = DecimalAttribute(default=lambda: ZERO)


# ---- keys -------------------------------------------------------------------------------------


class LedgerKeys:
    """The ledger's keys; all start with the tenant (TenantKeys)."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.pk = TenantKeys(tenant).pk

    @staticmethod
    def cost_center(cost_center_id: str) -> str:
        return f"CC#{cost_center_id}"

    @staticmethod
    def cost_center_code(code: str) -> str:
        return f"CCCODE#{code}"

    @staticmethod
    def rate_card(rate_card_id: str) -> str:
        return f"RATECARD#{rate_card_id}"

    @staticmethod
    def budget_plan(plan_id: str) -> str:
        return f"PLAN#{plan_id}"

    @staticmethod
    def envelope(envelope_id: str) -> str:
        return f"ENVELOPE#{envelope_id}"

    @staticmethod
    def commitment(commitment_id: str) -> str:
        return f"COMMIT#{commitment_id}"

    @staticmethod
    def savings(savings_id: str) -> str:
        return f"SAVINGS#{savings_id}"

    @staticmethod
    def month(month: str) -> str:
        return f"LEDGERMONTH#{month[:7]}"

    def ledger(self, month: str) -> str:
        return f"{self.pk}#LEDGER#{month[:7]}"

    @staticmethod
    def transaction_sk(occurred_at: str, transaction_id: str) -> str:
        return f"{occurred_at}#{transaction_id}"

    def transaction_index(self, transaction_id: str) -> str:
        return f"{self.pk}#TX#{transaction_id}"

    def ledger_keys(self) -> str:
        return f"{self.pk}#LEDGERKEY"

    def work_order(self, work_order_id: int) -> str:
        return f"{self.pk}#WO#{work_order_id:08d}"

    def summary(self, month: str) -> str:
        return f"{self.pk}#SUMMARY#{month[:7]}"

    @staticmethod
    def summary_row(cost_center_id: str, category: str) -> str:
        return f"CC#{cost_center_id}#CAT#{category}"

    @staticmethod
    def asset_cost(asset_id: int) -> str:
        return f"ASSET#{asset_id:08d}"


def default_cost_center_id(tenant: str) -> str:
    """Deterministic, so every writer agrees on it without a read."""
    return str(uuid.uuid5(_DEFAULT_COST_CENTER_NAMESPACE, tenant))


def ensure_default_cost_center(tenant: str) -> str:
    """The tenant's catch-all cost centre (code GERAL), created on first need; returns its id.

    Idempotent and race-safe: both items are created only if absent. Call `bind_main_table` first
    (every repository does)."""
    keys = LedgerKeys(tenant)
    cost_center_id = default_cost_center_id(tenant)
    now = utc_now_iso()
    item = CostCenterItem(
        keys.pk,
        keys.cost_center(cost_center_id),
        id=cost_center_id,
        code=DEFAULT_COST_CENTER_CODE,
        name="Geral",
        description="Default cost centre: costs of assets without one of their own.",
        is_default=True,
        created_at=now,
        updated_at=now,
    )
    try:
        item.save(condition=CostCenterItem.pk.does_not_exist())
    except PutError as error:
        if not condition_failed(error):
            raise
        return cost_center_id
    guard = CostCenterCodeGuard(keys.pk, keys.cost_center_code(DEFAULT_COST_CENTER_CODE), cost_center_id=cost_center_id)
    try:
        guard.save(condition=CostCenterCodeGuard.pk.does_not_exist())
    except PutError as error:
        if not condition_failed(error):
            raise
    return cost_center_id
