"""PynamoDB items of TrakSense alerts in the Main table (layout: docs/access-patterns.md, ADR 0010).

The API writes them through PynamoDB; the ingest pipeline's evaluator writes the same items
through the low-level client (the hot path), serialising these models so there is one schema.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from climatrak.core.items import MainItem
from climatrak.core.keys import TenantKeys

THRESHOLD = "threshold"
NO_DATA = "no_data"
RULE_KINDS = (THRESHOLD, NO_DATA)

# derived alert statuses (the API's `status` filter and the status index)
ACTIVE = "active"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
ALERT_STATUSES = (ACTIVE, ACKNOWLEDGED, RESOLVED)

SEVERITIES = ("Critical", "High", "Medium", "Low")

# The one cross-tenant index entry: no-data rules, read by the scheduled checker only.
NO_DATA_WATCH_INDEX_PK = "ALERTS#NODATA"


def rule_sk(rule_id: int) -> str:
    return TenantKeys.entity("RULE", rule_id)


def alert_sk(alert_id: int) -> str:
    return TenantKeys.entity("ALERT", alert_id)


def state_sk(asset_id: int) -> str:
    return TenantKeys.entity("ALERTSTATE", asset_id)


def no_data_watch_sk(rule_id: int) -> str:
    return TenantKeys.entity("NODATAWATCH", rule_id)


def work_order_link_prefix(work_order_id: int) -> str:
    return f"WOALERT#{work_order_id:08d}#"


def work_order_link_sk(work_order_id: int, alert_id: int) -> str:
    return f"{work_order_link_prefix(work_order_id)}{alert_id:08d}"


def alert_status_index_pk(tenant: str, status: str) -> str:
    return f"{TenantKeys(tenant).pk}#ALERTS#{status}"


def alert_status_index_sk(triggered_at: str, alert_id: int) -> str:
    return f"{triggered_at}#{alert_id:08d}"


STATS_SK = "ALERTSTATS"


class RuleParameterAttribute(MapAttribute[str, Any]):
    """One condition of a rule. `device_id` is the device whose sensor `parameter_key` names
    (resolved when the rule is written); the evaluator matches readings of that device only."""

    id = NumberAttribute()
    parameter_key = UnicodeAttribute()
    variable_key = UnicodeAttribute(default="")
    device_id = NumberAttribute(null=True)
    operator = UnicodeAttribute(default=">")
    threshold = NumberAttribute(null=True)  # absent on no-data rules
    unit = UnicodeAttribute(default="")
    duration = NumberAttribute(default=5)  # minutes
    cooldown = NumberAttribute(default=60)  # minutes
    severity = UnicodeAttribute(default="Medium")
    message_template = UnicodeAttribute(default="")
    order = NumberAttribute(default=0)


class AssetRulesIndex(GlobalSecondaryIndex["RuleItem"]):
    """gsi1 `T#{t}#ASSET#{asset:08d}` / `RULE#{id:08d}`: an asset's rules in one query (ingest)."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class RuleItem(MainItem, discriminator="alert_rule"):
    """pk `T#{t}`, sk `RULE#{id:08d}`."""

    id = NumberAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    rule_kind = UnicodeAttribute(default=THRESHOLD)
    asset_id = NumberAttribute()
    # snapshots of the asset's registry names, refreshed on every rule write
    asset_tag = UnicodeAttribute(default="")
    asset_name = UnicodeAttribute(default="")
    site_id = NumberAttribute(null=True)
    parameters = ListAttribute(of=RuleParameterAttribute, default=list)
    actions = ListAttribute[str](default=list)
    create_work_order = BooleanAttribute(default=False)
    enabled = BooleanAttribute(default=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = NumberAttribute(null=True)
    created_by_email = UnicodeAttribute(default="")
    version = VersionAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_asset = AssetRulesIndex()


class AlertsByStatus(GlobalSecondaryIndex["AlertItem"]):
    """gsi1 `T#{t}#ALERTS#{status}` / `{triggered_at}#{id:08d}`: a status's alerts by time."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class AlertItem(MainItem, discriminator="alert"):
    """pk `T#{t}`, sk `ALERT#{id:08d}`. One alert is one episode of one rule parameter: raised
    when its condition has held for `duration`, resolved when it clears (or by hand)."""

    id = NumberAttribute()
    rule_id = NumberAttribute(null=True)
    rule_name = UnicodeAttribute(default="")
    rule_kind = UnicodeAttribute(default=THRESHOLD)
    # the evaluator's state key of the parameter that raised it
    condition_key = UnicodeAttribute(default="")
    asset_id = NumberAttribute(null=True)
    asset_tag = UnicodeAttribute(default="")
    equipment_name = UnicodeAttribute(default="")
    site_id = NumberAttribute(null=True)
    message = UnicodeAttribute(default="")
    severity = UnicodeAttribute(default="Medium")
    parameter_key = UnicodeAttribute(default="")
    parameter_value = NumberAttribute(null=True)
    threshold = NumberAttribute(null=True)
    operator = UnicodeAttribute(default="")
    unit = UnicodeAttribute(default="")
    # the time of the reading that completed the duration (UTC ISO ms)
    triggered_at = UnicodeAttribute()
    actions = ListAttribute[str](default=list)
    create_work_order = BooleanAttribute(default=False)
    acknowledged = BooleanAttribute(default=False)
    acknowledged_at = UnicodeAttribute(null=True)
    acknowledged_by = NumberAttribute(null=True)
    acknowledged_by_email = UnicodeAttribute(null=True)
    resolved = BooleanAttribute(default=False)
    resolved_at = UnicodeAttribute(null=True)
    resolved_by = NumberAttribute(null=True)
    resolved_by_email = UnicodeAttribute(null=True)
    # how it was resolved: "condition_cleared", "manual" or "work_order"
    resolution = UnicodeAttribute(null=True)
    work_order_id = NumberAttribute(null=True)
    work_order_number = UnicodeAttribute(null=True)
    # append-only log lines ("[Reconhecimento] …"); the API joins them with newlines
    notes = ListAttribute[str](default=list)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_status = AlertsByStatus()

    @property
    def status(self) -> str:
        if self.resolved:
            return RESOLVED
        return ACKNOWLEDGED if self.acknowledged else ACTIVE


class AlertStatsItem(MainItem, discriminator="alert_stats"):
    """pk `T#{t}`, sk `ALERTSTATS`: dashboard counters, ADDed in the transaction of every
    alert write (raise, acknowledge, resolve, delete), so they never drift from the alerts."""

    total = NumberAttribute(default=0)
    active = NumberAttribute(default=0)
    acknowledged = NumberAttribute(default=0)
    resolved = NumberAttribute(default=0)
    critical = NumberAttribute(default=0)
    high = NumberAttribute(default=0)
    medium = NumberAttribute(default=0)
    low = NumberAttribute(default=0)


class AlertStateItem(MainItem, discriminator="alert_state"):
    """pk `T#{t}`, sk `ALERTSTATE#{asset:08d}`: the evaluation state of every rule parameter of
    one asset (condition start, open alert, last fired, newest reading evaluated), as JSON.
    Written only when a state changes, conditioned on `state_version` as read, so two batches
    evaluated at once cannot both raise the same alert."""

    states = UnicodeAttribute(default="{}")
    state_version = NumberAttribute(default=0)
    updated_at = UnicodeAttribute(null=True)


class NoDataWatchIndex(GlobalSecondaryIndex["NoDataWatchItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class NoDataWatchItem(MainItem, discriminator="no_data_watch"):
    """pk `T#{t}`, sk `NODATAWATCH#{rule:08d}`; gsi1 `ALERTS#NODATA` / `{tenant}#{rule:08d}`.
    Present while the rule is an enabled no-data rule (written in the rule's own transaction)."""

    tenant = UnicodeAttribute()
    rule_id = NumberAttribute()
    asset_id = NumberAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_watch = NoDataWatchIndex()


class WorkOrderLinkItem(MainItem, discriminator="alert_work_order"):
    """pk `T#{t}`, sk `WOALERT#{wo:08d}#{alert:08d}`: the alerts a work order resolves when it
    is completed (written with the alert's link, in one transaction)."""

    work_order_id = NumberAttribute()
    alert_id = NumberAttribute()
    created_at = UnicodeAttribute()


def notification_sk(alert_id: int, channel: str) -> str:
    return f"ALERTNOTIFY#{alert_id:08d}#{channel}"


class NotificationItem(MainItem, discriminator="alert_notification"):
    """pk `T#{t}`, sk `ALERTNOTIFY#{alert:08d}#{channel}`: one channel's notification of one
    alert, written once (`attribute_not_exists`), so a redelivered event sends nothing twice."""

    alert_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    status = UnicodeAttribute()  # "sent" or "recorded"
    subject = UnicodeAttribute(default="")
    detail = UnicodeAttribute(default="")
    created_at = UnicodeAttribute()
