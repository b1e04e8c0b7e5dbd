"""What every alert write carries besides the alert: its event and its dashboard counter deltas.

One definition for the API (PynamoDB transactions) and the evaluator (low-level transactions).
"""

from __future__ import annotations

from typing import Any

from climatrak.alerts.items import ACKNOWLEDGED, ACTIVE, RESOLVED, AlertItem
from climatrak.core.events import EventEnvelope, new_event

RAISED = "alert.raised"
ACKNOWLEDGED_EVENT = "alert.acknowledged"
RESOLVED_EVENT = "alert.resolved"

# how an alert was resolved (AlertItem.resolution)
CONDITION_CLEARED = "condition_cleared"
MANUAL = "manual"
BY_WORK_ORDER = "work_order"

STATS_ATTRIBUTES = ("total", ACTIVE, ACKNOWLEDGED, RESOLVED, "critical", "high", "medium", "low")


def stats_deltas(before: str | None, after: str | None, severity: str) -> dict[str, int]:
    """Counter changes of an alert moving from status `before` to `after` (None: absent), e.g.
    raise = (None, active), acknowledge = (active, acknowledged), delete = (status, None)."""
    deltas: dict[str, int] = {}
    if before == after:
        return deltas
    if before is not None:
        deltas[before] = deltas.get(before, 0) - 1
    if after is not None:
        deltas[after] = deltas.get(after, 0) + 1
    if before is None or after is None:
        change = 1 if before is None else -1
        deltas["total"] = change
        deltas[severity.casefold()] = change
    return deltas


def raised_event(tenant: str, alert: AlertItem) -> EventEnvelope:
    data: dict[str, Any] = {
        "alert_id": int(alert.id),
        "rule_id": int(alert.rule_id) if alert.rule_id is not None else None,
        "rule_name": alert.rule_name,
        "rule_kind": alert.rule_kind,
        "asset_id": int(alert.asset_id) if alert.asset_id is not None else None,
        "asset_tag": alert.asset_tag,
        "equipment_name": alert.equipment_name,
        "site_id": int(alert.site_id) if alert.site_id is not None else None,
        "parameter_key": alert.parameter_key,
        "parameter_value": alert.parameter_value,
        "threshold": alert.threshold,
        "operator": alert.operator,
        "unit": alert.unit,
        "severity": alert.severity,
        "message": alert.message,
        "triggered_at": alert.triggered_at,
        "actions": list(alert.actions or []),
        "create_work_order": bool(alert.create_work_order),
    }
    return new_event(tenant, RAISED, "alert", int(alert.id), data, idempotency_key=f"{RAISED}:{int(alert.id)}")


def acknowledged_event(tenant: str, alert: AlertItem) -> EventEnvelope:
    data = {
        "alert_id": int(alert.id),
        "rule_id": int(alert.rule_id) if alert.rule_id is not None else None,
        "asset_tag": alert.asset_tag,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_by_email": alert.acknowledged_by_email,
    }
    return new_event(
        tenant,
        ACKNOWLEDGED_EVENT,
        "alert",
        int(alert.id),
        data,
        idempotency_key=f"{ACKNOWLEDGED_EVENT}:{int(alert.id)}",
    )


def resolved_event(tenant: str, alert: AlertItem) -> EventEnvelope:
    data = {
        "alert_id": int(alert.id),
        "rule_id": int(alert.rule_id) if alert.rule_id is not None else None,
        "asset_tag": alert.asset_tag,
        "resolved_at": alert.resolved_at,
        "resolved_by": alert.resolved_by,
        "resolved_by_email": alert.resolved_by_email,
        "resolution": alert.resolution,
        "work_order_id": alert.work_order_id,
    }
    return new_event(
        tenant, RESOLVED_EVENT, "alert", int(alert.id), data, idempotency_key=f"{RESOLVED_EVENT}:{int(alert.id)}"
    )
