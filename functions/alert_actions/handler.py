"""The alert actions consumer: `alert.raised` → the alert's corrective work order (when its rule
asks for one), `work_order.closed` → the linked alerts resolved (climatrak.alerts.actions).

SQS batch, partial batch response, idempotent on event_id (core.consumer); the alert's version
condition is what makes a work order open once per alert whatever the deliveries.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from climatrak.alerts.actions import open_work_order, resolve_linked_alerts
from climatrak.core.config import Settings
from climatrak.core.consumer import consumer_handler
from climatrak.core.events import EventEnvelope
from climatrak.core.resources import ALERT_ACTIONS

logger = Logger(service=ALERT_ACTIONS.name)


@cache
def settings() -> Settings:
    return Settings.from_env()


def handle(envelope: EventEnvelope) -> dict[str, Any]:
    if envelope.event_name == "alert.raised":
        return open_work_order(settings(), envelope.tenant_id, envelope.data)
    if envelope.event_name == "work_order.closed":
        return resolve_linked_alerts(settings(), envelope.tenant_id, envelope.data)
    logger.warning("event not for the alert actions", extra={"event_name": envelope.event_name})
    return {"ignored": envelope.event_name}


handler = consumer_handler(ALERT_ACTIONS, handle)
