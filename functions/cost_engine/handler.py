"""The cost engine consumer: `work_order.closed` → labour/parts/third-party postings,
`commitment.approved` → one posting, `commitment.cancelled` → its reversing adjustment
(climatrak.ledger.cost_engine).

SQS batch, partial batch response, idempotent on event_id (core.consumer); the postings' own
idempotency keys are the guarantee. A failure (e.g. a missing rate card) is recorded on the
event's outbox item, where the failed-events API shows it, and the message is retried.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from climatrak.core.config import Settings
from climatrak.core.consumer import consumer_handler
from climatrak.core.events import EventEnvelope
from climatrak.core.resources import COST_ENGINE
from climatrak.ledger.cost_engine import (
    CostPostingResult,
    post_commitment,
    post_work_order_costs,
    reverse_commitment,
)

logger = Logger(service=COST_ENGINE.name)


@cache
def settings() -> Settings:
    return Settings.from_env()


def handle(envelope: EventEnvelope) -> CostPostingResult | dict[str, Any]:
    if envelope.event_name == "work_order.closed":
        return post_work_order_costs(settings(), envelope.tenant_id, envelope.data)
    if envelope.event_name == "commitment.approved":
        return post_commitment(settings(), envelope.tenant_id, envelope.data)
    if envelope.event_name == "commitment.cancelled":
        return reverse_commitment(settings(), envelope.tenant_id, envelope.data)
    # The rule only routes the events above; anything else is acknowledged and ignored.
    logger.warning("event not for the cost engine", extra={"event_name": envelope.event_name})
    return {"ignored": envelope.event_name}


handler = consumer_handler(COST_ENGINE, handle)
