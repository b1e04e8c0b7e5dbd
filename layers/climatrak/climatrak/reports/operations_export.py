"""Work orders and alerts in the lake, for analysts: each daily run writes the tenant's work
orders as they stand (a snapshot per business day) and the alerts raised that day."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from climatrak.alerts.items import ALERT_STATUSES, AlertItem, alert_status_index_pk
from climatrak.cmms.repository import CmmsRepository
from climatrak.core.config import Settings
from climatrak.core.resources import ALERTS_TABLE, WORK_ORDERS_TABLE, LakeTableSpec
from climatrak.core.timeutil import iso_ms, parse_iso
from climatrak.reports.lake_objects import arrow_schema, write_rows


def _instant(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None


def _write(s3: Any, bucket: str, table: LakeTableSpec, tenant: str, day: str, rows: list[dict[str, Any]]) -> str:
    key = f"{table.prefix}/tenant={tenant}/dt={day}/part-0000.parquet"
    return write_rows(s3, bucket, key, rows, arrow_schema(table))


def export_work_orders(settings: Settings, s3: Any, tenant: str, day: str) -> int:
    orders = CmmsRepository(tenant, settings).list_work_orders()
    rows = [
        {
            "id": int(order.id),
            "number": str(order.number),
            "asset_id": int(order.asset_id),
            "asset_tag": order.asset_tag or None,
            "type": str(order.wo_type),
            "status": str(order.status),
            "priority": str(order.priority),
            "scheduled_date": order.scheduled_date,
            "created_at": _instant(order.created_at),
            "started_at": _instant(order.started_at),
            "completed_at": _instant(order.completed_at),
            "cost_center_id": order.cost_center_id,
        }
        for order in sorted(orders, key=lambda order: int(order.id))
    ]
    _write(s3, settings.lake_bucket, WORK_ORDERS_TABLE, tenant, day, rows)
    return len(rows)


def export_alerts(settings: Settings, s3: Any, tenant: str, day: str, start_ms: int, end_ms: int) -> int:
    """The alerts raised in [start, end): a range of each status's index (keyed by triggered_at)."""
    low, high = iso_ms(start_ms), iso_ms(end_ms)
    alerts: list[AlertItem] = []
    for status in ALERT_STATUSES:
        alerts.extend(
            AlertItem.by_status.query(
                alert_status_index_pk(tenant, status), AlertItem.gsi1sk.between(low, f"{high[:-1]}")
            )
        )
    rows = [
        {
            "id": int(alert.id),
            "rule_id": int(alert.rule_id) if alert.rule_id is not None else None,
            "asset_tag": alert.asset_tag or None,
            "site_id": int(alert.site_id) if alert.site_id is not None else None,
            "severity": str(alert.severity),
            "parameter_key": str(alert.parameter_key),
            "parameter_value": alert.parameter_value,
            "threshold": alert.threshold,
            "message": str(alert.message),
            "triggered_at": _instant(alert.triggered_at),
            "acknowledged_at": _instant(alert.acknowledged_at),
            "resolved_at": _instant(alert.resolved_at),
            "resolution": alert.resolution,
            "work_order_id": int(alert.work_order_id) if alert.work_order_id is not None else None,
        }
        for alert in sorted(alerts, key=lambda alert: int(alert.id))
        if low <= str(alert.triggered_at) < high
    ]
    _write(s3, settings.lake_bucket, ALERTS_TABLE, tenant, day, rows)
    return len(rows)
