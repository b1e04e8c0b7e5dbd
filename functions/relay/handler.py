"""Relay function: the Main table stream (outbox items waiting to be published) → EventBridge.

The event source mapping's filter (climatrak.events.stream.OUTBOX_STREAM_FILTER) delivers only
waiting outbox items; the answer is a DynamoDB stream partial batch response.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from climatrak.core.config import Settings
from climatrak.core.publisher import EventBusPublisher
from climatrak.events.relay import RelayResult, relay

logger = Logger(service="relay")
metrics = Metrics(namespace="ClimaTrak", service="relay")


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def publisher() -> EventBusPublisher:
    return EventBusPublisher(settings().event_bus_name)


def record_metrics(result: RelayResult) -> None:
    if is_metrics_disabled():  # disabled metrics pile up in Powertools (see functions/ingest)
        return
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=result.published)
    metrics.add_metric(name="PublishRetries", unit=MetricUnit.Count, value=len(result.retry))
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=len(result.failed))


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = relay(event.get("Records", []), publisher(), settings())
    record_metrics(result)
    logger.info(
        "outbox relayed",
        extra={
            "records": result.records,
            "published": result.published,
            "ignored": result.ignored,
            "retry": len(result.retry),
            "failed": result.failed,
        },
    )
    return result.response()
