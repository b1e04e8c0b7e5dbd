"""A new event consumer in a few lines: `handler = consumer_handler(SPEC, handle)`.

The returned Lambda handler takes the consumer's SQS batch (each body is the EventBridge event
whose `detail` is the envelope) and answers with a partial batch response. `handle` runs at most
once per `event_id` while it succeeds (Powertools idempotency on the idempotency table; an
exception deletes the record, so the retry runs again) — the idempotency record is the fast
path, the consumer's own conditional writes are the guarantee.

A failure is recorded on the event's outbox item (status failed, `last_error`, the consumer's
entry in `consumer_errors`), where the admin API lists it; a later success removes the entry.
Tenant admins read that text: a DomainError's detail is written for them and kept; any other
exception is recorded as its type and the Lambda request id only (its text may carry AWS
responses or payload pieces) and logged in full under that request id.
A record that is not an event at all fails alone and reaches the DLQ after the queue's receives.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from pydantic import BaseModel, ValidationError

from climatrak.core import aws
from climatrak.core.config import Settings
from climatrak.core.errors import DomainError
from climatrak.core.events import EventEnvelope
from climatrak.core.resources import ConsumerSpec
from climatrak.events.repository import OutboxRepository

METRICS_NAMESPACE = "ClimaTrak"
# Long enough to absorb redeliveries and DLQ redrives; replays after that run `handle` again,
# where the consumer's conditional writes keep the effect single.
IDEMPOTENCY_SECONDS = 24 * 3600

Handle = Callable[[EventEnvelope], Any]
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class PoisonMessage(ValueError):
    """An SQS message that does not carry an event envelope."""


def envelope_from_body(body: str | None) -> EventEnvelope:
    """The envelope inside an SQS body holding an EventBridge event (`detail`)."""
    try:
        message = json.loads(body or "")
        detail = message["detail"] if isinstance(message, dict) else None
        if isinstance(detail, str):  # tolerate a detail sent as a JSON string
            detail = json.loads(detail)
        return EventEnvelope.model_validate(detail)
    except (ValueError, KeyError, TypeError, ValidationError) as error:
        raise PoisonMessage(f"not an event envelope: {error}") from None


def jsonable(value: Any) -> Any:
    """What the idempotency record stores of `handle`'s result."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    return json.loads(json.dumps(value, default=str))


def error_message(error: BaseException, request_id: str | None = None) -> str:
    """What the outbox item records of a failure (tenant admins read it)."""
    if isinstance(error, DomainError):  # written for users, e.g. MissingRateCard
        return error.detail or type(error).__name__
    request = f"request {request_id}" if request_id else "no request id"
    return f"Unexpected error ({type(error).__name__}; {request}); the details are in the consumer's logs."


class _Consumer:
    """The consumer's per-container state, built at the first invocation (no I/O at import)."""

    def __init__(self, spec: ConsumerSpec, handle: Handle, logger: Logger) -> None:
        self.spec = spec
        self.handle = handle
        self.logger = logger
        self.config = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=IDEMPOTENCY_SECONDS)
        self._settings: Settings | None = None
        self._once: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    def ready(self, context: Any) -> None:
        with self._lock:
            if self._once is None:
                self._settings = Settings.from_env()
                persistence = DynamoDBPersistenceLayer(
                    table_name=self._settings.idempotency_table, boto3_client=aws.client("dynamodb")
                )
                self._once = idempotent_function(
                    data_keyword_argument="envelope",
                    persistence_store=persistence,
                    config=self.config,
                    key_prefix=f"consumer.{self.spec.name}",
                )(self._run)
        self.config.register_lambda_context(context)

    @property
    def settings(self) -> Settings:
        assert self._settings is not None, "ready() first"
        return self._settings

    def _run(self, envelope: dict[str, Any]) -> Any:
        return jsonable(self.handle(EventEnvelope.model_validate(envelope)))

    def process(self, record: SQSRecord, lambda_context: Any = None) -> Any:
        envelope = envelope_from_body(record.body)
        assert self._once is not None, "ready() first"
        keys = {"event_id": envelope.event_id, "event_name": envelope.event_name, "tenant": envelope.tenant_id}
        # every line logged while this event is handled (here and in the consumer's own code,
        # which shares the service's logger) names the tenant and the event
        self.logger.append_keys(**keys)
        try:
            result = self._once(envelope=envelope.model_dump(mode="json"))
        except IdempotencyAlreadyInProgressError:
            # Another delivery of the same event is running right now: let SQS bring it back.
            self.logger.info("event already in progress elsewhere")
            raise
        except Exception as error:
            request_id = getattr(lambda_context, "aws_request_id", None)
            self.logger.exception("event handling failed", extra={"request_id": request_id})
            self._record_failure(envelope, error_message(error, request_id))
            raise
        finally:
            self.logger.remove_keys(list(keys))
        self._clear_failure(envelope)
        return result

    def _repository(self, envelope: EventEnvelope) -> OutboxRepository:
        return OutboxRepository(envelope.tenant_id, self.settings)

    def _record_failure(self, envelope: EventEnvelope, message: str) -> None:
        try:
            found = self._repository(envelope).record_consumer_failure(envelope.event_id, self.spec.name, message)
            if not found:
                self.logger.warning("no outbox item for the failed event", extra={"event_id": envelope.event_id})
        except Exception:
            self.logger.exception("could not record the failure on the outbox item")

    def _clear_failure(self, envelope: EventEnvelope) -> None:
        try:
            self._repository(envelope).clear_consumer_failure(envelope.event_id, self.spec.name)
        except Exception:  # the effect is done; a stale error entry is only cosmetic
            self.logger.exception("could not clear an earlier failure on the outbox item")


def consumer_handler(spec: ConsumerSpec, handle: Handle) -> LambdaHandler:
    """The Lambda handler of consumer `spec`, calling `handle(envelope)` once per event."""
    logger = Logger(service=spec.name)
    metrics = Metrics(namespace=METRICS_NAMESPACE, service=spec.name)
    consumer = _Consumer(spec, handle, logger)

    @metrics.log_metrics
    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        consumer.ready(context)
        # A batch whose every record failed is answered like any other (no function error):
        # failures show in the EventsFailed metric, not as Lambda errors.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response = dict(
            process_partial_response(event=event, record_handler=consumer.process, processor=processor, context=context)
        )
        if not is_metrics_disabled():
            failed = len(processor.fail_messages)
            metrics.add_metric(name="EventsHandled", unit=MetricUnit.Count, value=len(event["Records"]) - failed)
            metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=failed)
        return response

    return handler
