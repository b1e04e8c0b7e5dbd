"""The alert notifier consumer: `alert.raised` → one notification per rule action
(climatrak.alerts.notifier: e-mail through the tenant's SNS topic; the others recorded).

SQS batch, partial batch response, idempotent on event_id (core.consumer) and per channel
(the notification record).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from climatrak.alerts.notifier import Notifier
from climatrak.core import aws
from climatrak.core.config import Settings
from climatrak.core.consumer import consumer_handler
from climatrak.core.events import EventEnvelope
from climatrak.core.resources import ALERT_NOTIFIER


@cache
def notifier() -> Notifier:
    return Notifier(aws.client("sns"), Settings.from_env())


def handle(envelope: EventEnvelope) -> dict[str, Any]:
    return {"alert_id": envelope.data.get("alert_id"), "channels": notifier().notify(envelope.tenant_id, envelope.data)}


handler = consumer_handler(ALERT_NOTIFIER, handle)
