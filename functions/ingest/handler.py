"""Ingest function: consumes the ingest queue (IoT topic rule and POST /ingest) in batches.

Answers with a partial batch response: only messages whose writes failed are retried.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from climatrak.core.config import Settings
from climatrak.telemetry.ingest import BatchResult, IngestService, QueueRecord
from climatrak.telemetry.wiring import build_ingest_service

logger = Logger(service="ingest")
metrics = Metrics(namespace="ClimaTrak", service="ingest")

_service: IngestService | None = None


def service() -> IngestService:
    """Built on first use (not at import), then reused by the warm container."""
    global _service  # noqa: PLW0603 - the warm-container cache of this function
    if _service is None:
        _service = build_ingest_service(Settings.from_env())
    return _service


def queue_records(event: dict[str, Any]) -> list[QueueRecord]:
    return [
        QueueRecord(
            message_id=record["messageId"],
            body=record["body"],
            sent_at_ms=int(record.get("attributes", {}).get("SentTimestamp") or 0),
        )
        for record in event.get("Records", [])
    ]


def record_metrics(result: BatchResult) -> None:
    # Powertools keeps (never clears) metrics while disabled and prints them once 100 values
    # pile up, so a disabled run (the local runtime) must not add any.
    if is_metrics_disabled():
        return
    metrics.add_metric(name="MessagesReceived", unit=MetricUnit.Count, value=result.messages)
    metrics.add_metric(name="ReadingsAccepted", unit=MetricUnit.Count, value=result.readings)
    metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=len(result.failed_message_ids))
    metrics.add_metric(name="LakeObjectsWritten", unit=MetricUnit.Count, value=len(result.lake_objects))
    for reason, count in result.rejected.items():
        metrics.add_metric(name=f"Quarantined_{reason}", unit=MetricUnit.Count, value=count)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = service().process(queue_records(event))
    record_metrics(result)
    logger.info(
        "batch ingested",
        extra={
            "messages": result.messages,
            "readings": result.readings,
            "rejected": dict(result.rejected),
            "failed": len(result.failed_message_ids),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in sorted(result.failed_message_ids)]}
