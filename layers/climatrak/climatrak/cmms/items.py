"""PynamoDB items of the CMMS (TrakNor) in the Main table (layout: docs/access-patterns.md).

Work orders live in the tenant partition (`T#{t}` / `WO#{id:08d}`); a work order's cost inputs
live in the work order's own partition (`T#{t}#WO#{id:08d}`), next to the ledger's posting links,
so one consistent query reads all of them. gsi1 finds a cost input by id and lists a tenant's
inputs of one kind.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from climatrak.core.items import DecimalAttribute, MainItem
from climatrak.core.money import DEFAULT_CURRENCY


class WorkOrderItem(MainItem, discriminator="work_order"):
    """pk `T#{t}`, sk `WO#{id:08d}`.

    `inputs_version` is bumped (ADD 1) by every create, patch and delete of one of the work
    order's cost inputs, inside that write's transaction; completion is conditioned on the value
    it read, so an input written while a completion is in flight makes the completion fail
    instead of silently missing a cost. The `*_count` attributes cap a work order's inputs of
    each kind (repository.MAX_INPUTS_PER_KIND), which bounds the `work_order.closed` event."""

    id = NumberAttribute()
    number = UnicodeAttribute()
    asset_id = NumberAttribute()
    # snapshots of the asset's registry names (the views prefer the live registry values)
    asset_tag = UnicodeAttribute(default="")
    asset_name = UnicodeAttribute(default="")
    wo_type = UnicodeAttribute(attr_name="type")
    status = UnicodeAttribute(default="OPEN")
    priority = UnicodeAttribute(default="MEDIUM")
    description = UnicodeAttribute(default="")
    execution_description = UnicodeAttribute(null=True)
    scheduled_date = UnicodeAttribute(null=True)  # YYYY-MM-DD
    started_at = UnicodeAttribute(null=True)
    completed_at = UnicodeAttribute(null=True)
    assigned_to = NumberAttribute(null=True)
    assigned_to_name = UnicodeAttribute(null=True)
    # the assignee's labour role (rate-card role) for costing the auto time entry
    assigned_role = UnicodeAttribute(default="technician")
    created_by = NumberAttribute(null=True)
    created_by_name = UnicodeAttribute(default="")
    estimated_hours = DecimalAttribute(null=True)
    actual_hours = DecimalAttribute(null=True)
    cancellation_reason = UnicodeAttribute(null=True)
    signature = UnicodeAttribute(null=True)
    signed_by = UnicodeAttribute(null=True)
    signed_at = UnicodeAttribute(null=True)
    # fixed at completion: the cost centre the work order's costs go to
    cost_center_id = UnicodeAttribute(null=True)
    inputs_version = NumberAttribute(default=0)
    # how many inputs of each kind it has (ADD ±1 with each create/delete, capped by a condition)
    time_entries_count = NumberAttribute(default=0)
    part_usages_count = NumberAttribute(default=0)
    external_costs_count = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class CostInputIndex(GlobalSecondaryIndex["CostInputItem"]):
    """gsi1: `gsi1pk = T#{t}#COSTINPUT#{TIME|PART|EXTERNAL}`, `gsi1sk = {uuid}` — one input by
    id (`gsi1sk = id`) or all of a tenant's inputs of one kind."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class CostInputItem(MainItem):
    """Common attributes of the three cost inputs: pk `T#{t}#WO#{id:08d}`, sk `{KIND}#{uuid}`.

    Not stored itself (no discriminator value): querying it returns its three subclasses only."""

    id = UnicodeAttribute()
    work_order_id = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = NumberAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_input = CostInputIndex()
    version = VersionAttribute()


class TimeEntryItem(CostInputItem, discriminator="time_entry"):
    """sk `TIME#{uuid}`: labour hours of one role; costed by its rate, else the rate card."""

    role = UnicodeAttribute()
    role_code = UnicodeAttribute(null=True)
    hours = DecimalAttribute()
    work_date = UnicodeAttribute()  # YYYY-MM-DD
    hourly_rate = DecimalAttribute(null=True)
    technician = NumberAttribute(null=True)
    description = UnicodeAttribute(default="")
    # recorded by completion from `actual_hours` (no time entry existed)
    auto_created = BooleanAttribute(default=False)


class PartUsageItem(CostInputItem, discriminator="part_usage"):
    """sk `PART#{uuid}`."""

    part_name = UnicodeAttribute()
    part_number = UnicodeAttribute(default="")
    inventory_item = NumberAttribute(null=True)
    quantity = DecimalAttribute()
    unit = UnicodeAttribute()
    unit_cost = DecimalAttribute()


class ExternalCostItem(CostInputItem, discriminator="external_cost"):
    """sk `EXTERNAL#{uuid}`: a third-party cost (contractor, rental, service)."""

    cost_type = UnicodeAttribute()
    supplier_name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    amount = DecimalAttribute()
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
    invoice_number = UnicodeAttribute(null=True)
    invoice_date = UnicodeAttribute(null=True)  # YYYY-MM-DD
