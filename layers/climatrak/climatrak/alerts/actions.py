"""What alerts do to work orders (the `alert_actions` consumer).

- `alert.raised` of a rule with "create work order": a corrective work order of the alert's
  asset, its message as description, linked to the alert — once per alert (episode): the work
  order, the alert's link and the link item are one transaction conditioned on the alert's
  version, so a redelivery or a concurrent duplicate finds the alert linked and does nothing.
- `work_order.closed`: the alerts linked to the work order are resolved.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from climatrak.alerts import logic
from climatrak.alerts.items import AlertItem
from climatrak.alerts.records import BY_WORK_ORDER
from climatrak.alerts.repository import AlertRepository
from climatrak.cmms.logic import Lookup, new_work_order
from climatrak.cmms.repository import CmmsRepository
from climatrak.core.config import Settings
from climatrak.core.errors import DomainError, NotFound
from climatrak.core.items import condition_failed, transaction_connection
from climatrak.core.timeutil import utc_now_iso

logger = Logger(service="alert_actions")

CREATED_BY_NAME = "ClimaTrak Alertas"
PRIORITY_OF_SEVERITY = {"Critical": "CRITICAL", "High": "HIGH", "Medium": "MEDIUM", "Low": "LOW"}
MAX_ATTEMPTS = 3


def open_work_order(settings: Settings, tenant: str, data: dict[str, Any]) -> dict[str, Any]:
    """The alert's corrective work order, if its rule asks for one and it has none yet."""
    alerts = AlertRepository(tenant, settings)
    cmms = CmmsRepository(tenant, settings)
    alert_id = int(data["alert_id"])
    for _ in range(MAX_ATTEMPTS):
        alert = alerts.get_alert(alert_id)
        skipped = _why_not(alert)
        if skipped or alert is None:
            return {"alert_id": alert_id, "skipped": skipped}
        look = Lookup(cmms)
        asset = look.asset(int(alert.asset_id)) if alert.asset_id is not None else None
        if asset is None:
            return {"alert_id": alert_id, "skipped": "the alert's asset no longer exists"}
        work_order = new_work_order(cmms, look, asset, "OPEN", None, CREATED_BY_NAME, utc_now_iso())
        work_order.wo_type = "CORRECTIVE"
        work_order.priority = PRIORITY_OF_SEVERITY.get(alert.severity, "MEDIUM")
        work_order.description = alert.message
        number = str(work_order.number)
        try:
            with TransactWrite(connection=transaction_connection()) as transaction:
                cmms.add_work_order(transaction, work_order)
                alerts.link_writes(
                    transaction, alert, int(work_order.id), number, f"[OS Criada] {number}", acknowledge=False
                )
        except TransactWriteError as error:
            if condition_failed(error):
                continue  # the alert changed (e.g. a concurrent delivery linked it): read it again
            raise
        logger.info("work order opened for alert", extra={"tenant": tenant, "alert_id": alert_id, "number": number})
        return {"alert_id": alert_id, "work_order_id": int(work_order.id), "work_order_number": number}
    raise RuntimeError(f"alert {alert_id} kept changing while its work order was opened")


def _why_not(alert: AlertItem | None) -> str | None:
    if alert is None:
        return "the alert no longer exists"
    if not alert.create_work_order:
        return "its rule does not open work orders"
    if alert.work_order_id is not None:
        return "it already has a work order"
    if alert.resolved:
        return "it is already resolved"
    return None


def resolve_linked_alerts(settings: Settings, tenant: str, data: dict[str, Any]) -> dict[str, Any]:
    """A completed work order resolves the alerts linked to it (already resolved ones stay)."""
    alerts = AlertRepository(tenant, settings)
    work_order_id = int(data["work_order_id"])
    number = data.get("work_order_number") or str(work_order_id)
    resolved: list[int] = []
    for alert_id in alerts.alerts_of_work_order(work_order_id):
        try:
            logic.resolve_alert(alerts, alert_id, None, None, f"OS {number} concluída.", BY_WORK_ORDER)
        except NotFound:  # deleted meanwhile
            continue
        except DomainError as error:
            if error.code == "already_resolved":
                continue
            raise  # e.g. changed meanwhile (409): the event is retried
        resolved.append(alert_id)
    return {"work_order_id": work_order_id, "resolved": resolved}
