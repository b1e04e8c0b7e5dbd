"""Delivers outbox events in integration tests, through the real pieces, until nothing moves.

`pump_events(settings)` repeats rounds of:
1. the Main table stream, as the relay's event source mapping would deliver it: a stream record
   (INSERT, NEW_IMAGE) for every outbox item the mapping's filter keeps, plus the records the
   relay asked to retry, handed to the real relay handler in batches of 10;
2. the relay publishes to moto's EventBridge, whose rules put the events on the consumer queues;
3. every consumer queue is drained into the consumer's real handler (`functions.<spec.handler>`)
   with partial batch semantics: handled messages are deleted, failed ones become visible again
   at once (moto moves them to the DLQ after the queue's maxReceiveCount), as SQS would after
   the visibility timeout;
until a round relays and delivers nothing. Returns what happened, in counts, with every
exception a consumer raised (`PumpResult.errors`: the ones the batch processor turned into
a failed record, and a crash of the whole handler).

A consumer exception that is not a DomainError (the expected, user-facing failures such as a
missing rate card) is a bug until a test says otherwise: `pump_events` finishes delivering and
then raises `UnexpectedConsumerErrors`, unless called with `expect_errors=True`.

Records are built from the table rather than read from moto's stream: the session's moto stream
also holds every earlier test's writes, whose items the `clean_aws` fixture has since deleted.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from unittest import mock

import boto3
from aws_lambda_powertools.utilities.batch.base import BasePartialProcessor

from climatrak.core.config import Settings
from climatrak.core.errors import DomainError
from climatrak.core.resources import CONSUMERS, ConsumerSpec
from climatrak.events.relay import RELAY_BATCH_SIZE
from climatrak.events.stream import OUTBOX_STREAM_FILTER, matches
from climatrak_local.lambda_invoke import Handler, LambdaContext, resolve_handler
from climatrak_local.pollers import SQS_RECEIVE_LIMIT, sqs_event, succeeded_message_ids
from climatrak_local.provision import create_queue, subscribe_consumer
from climatrak_local.streams import failed_sequence_numbers, stream_event, synthetic_stream_record

REGION = "us-east-1"
RELAY_HANDLER = "functions.relay.handler.handler"
_sequence = itertools.count(1_000_000)


@dataclass(frozen=True)
class ConsumerError:
    """An exception a consumer raised while handling a delivery."""

    consumer: str
    type: str  # the exception's class name
    message: str
    expected: bool  # a DomainError: a failure written for users, not a bug

    def __str__(self) -> str:
        return f"{self.consumer}: {self.type}: {self.message}"


@dataclass
class PumpResult:
    rounds: int = 0
    relayed: int = 0  # stream records handed to the relay
    relay_retries: int = 0  # records the relay asked to retry
    delivered: Counter[str] = field(default_factory=Counter)  # consumer → messages handled
    failed: Counter[str] = field(default_factory=Counter)  # consumer → failed deliveries
    errors: list[ConsumerError] = field(default_factory=list)  # every exception, in order

    @property
    def quiet(self) -> bool:
        return not (self.relayed or self.delivered or self.failed)

    @property
    def unexpected_errors(self) -> list[ConsumerError]:
        return [error for error in self.errors if not error.expected]


class UnexpectedConsumerErrors(AssertionError):
    """A consumer raised something other than a DomainError; `result` is what the pump did."""

    def __init__(self, result: PumpResult) -> None:
        listed = "\n".join(f"  {error}" for error in result.unexpected_errors)
        super().__init__(f"consumers raised unexpected exceptions (pass expect_errors=True if intended):\n{listed}")
        self.result = result


def _consumer_error(consumer: str, error: BaseException) -> ConsumerError:
    return ConsumerError(consumer, type(error).__name__, str(error), isinstance(error, DomainError))


@contextmanager
def _recording_record_failures(consumer: str, result: PumpResult) -> Iterator[None]:
    """Records the exception of every record the consumer's batch processor marks failed
    (the processor keeps it only as text in the partial batch response)."""
    original = BasePartialProcessor.failure_handler

    def failure_handler(
        processor: BasePartialProcessor,
        record: Any,
        exception: tuple[type[BaseException] | None, BaseException | None, TracebackType | None],
    ) -> Any:
        if exception[1] is not None:
            result.errors.append(_consumer_error(consumer, exception[1]))
        return original(processor, record, exception)

    with mock.patch.object(BasePartialProcessor, "failure_handler", failure_handler):
        yield


def waiting_outbox_records(settings: Settings, stream_arn: str) -> list[dict[str, Any]]:
    """Stream records for the outbox items the relay's event filter lets through."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    items: list[dict[str, Any]] = []
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=settings.main_table,
        FilterExpression="#kind = :outbox",
        ExpressionAttributeNames={"#kind": "kind"},
        ExpressionAttributeValues={":outbox": {"S": "outbox"}},
        ConsistentRead=True,
    )
    for page in pages:
        items.extend(page["Items"])
    items.sort(key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
    records = [synthetic_stream_record(item, sequence_number=next(_sequence), stream_arn=stream_arn) for item in items]
    return [record for record in records if matches(OUTBOX_STREAM_FILTER, record)]


def _relay(records: list[dict[str, Any]], result: PumpResult) -> list[dict[str, Any]]:
    """Hands records to the relay in batches; returns the ones it asked to retry."""
    relay = resolve_handler(RELAY_HANDLER)
    retry: list[dict[str, Any]] = []
    for start in range(0, len(records), RELAY_BATCH_SIZE):
        batch = records[start : start + RELAY_BATCH_SIZE]
        sequences = [record["dynamodb"]["SequenceNumber"] for record in batch]
        response = relay(stream_event(batch), LambdaContext(function_name="relay"))
        failed = failed_sequence_numbers(sequences, response)
        retry.extend(batch if failed is None else [r for r in batch if r["dynamodb"]["SequenceNumber"] in failed])
        result.relayed += len(batch)
    result.relay_retries += len(retry)
    return retry


def _queue_url(sqs: Any, spec: ConsumerSpec) -> str:
    url = os.environ.get(spec.queue.env_var)
    if url:
        return url
    found: str = sqs.get_queue_url(QueueName=spec.queue.local_name)["QueueUrl"]
    return found


def _drain(sqs: Any, spec: ConsumerSpec, handler: Callable[[], Handler], result: PumpResult) -> None:
    url = _queue_url(sqs, spec)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    batch_size = min(spec.batch_size, SQS_RECEIVE_LIMIT)
    failed_messages: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=batch_size, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        ids = [message["MessageId"] for message in messages]
        try:
            with _recording_record_failures(spec.name, result):
                response = handler()(sqs_event(messages, arn), LambdaContext(function_name=spec.name))
            done = set(succeeded_message_ids(ids, response))
        except Exception as error:
            result.errors.append(_consumer_error(spec.name, error))
            done = set()  # a function error: Lambda retries the whole batch
        for message in messages:
            if message["MessageId"] in done:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                result.delivered[spec.name] += 1
            else:
                failed_messages.append(message)
                result.failed[spec.name] += 1
    for message in failed_messages:  # visible again for the next round (the DLQ after N receives)
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


def pump_events(
    settings: Settings | None = None,
    *,
    max_rounds: int = 25,
    consumers: Sequence[ConsumerSpec] = CONSUMERS,
    handlers: Mapping[str, Handler] | None = None,
    expect_errors: bool = False,
) -> PumpResult:
    """Delivers every waiting outbox event to the consumers until a round moves nothing.

    `consumers`: the ConsumerSpecs whose queues to drain (default: the product's); `handlers`
    replaces a consumer's handler by name (a test consumer's, or a recording fake).
    Raises AssertionError if events still move after `max_rounds` rounds, and
    `UnexpectedConsumerErrors` once nothing moves if a consumer raised an exception that is not a
    DomainError, unless `expect_errors` (a test driving a broken consumer on purpose).
    """
    settings = settings or Settings.from_env()
    sqs = boto3.client("sqs", region_name=REGION)
    stream_arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=settings.main_table)["Table"][
        "LatestStreamArn"
    ]
    handlers = dict(handlers or {})
    total = PumpResult()
    retry: list[dict[str, Any]] = []
    for _ in range(max_rounds):
        round_result = PumpResult()
        records = retry + waiting_outbox_records(settings, stream_arn)
        retry = _relay(records, round_result) if records else []
        for spec in consumers:
            # Imported only when its queue has messages (the handler may not exist yet).
            _drain(
                sqs,
                spec,
                lambda spec=spec: handlers.get(spec.name) or resolve_handler(f"functions.{spec.handler}"),
                round_result,
            )
        total.rounds += 1
        total.relayed += round_result.relayed
        total.relay_retries += round_result.relay_retries
        total.delivered.update(round_result.delivered)
        total.failed.update(round_result.failed)
        total.errors.extend(round_result.errors)
        if round_result.quiet and not retry:
            if total.unexpected_errors and not expect_errors:
                raise UnexpectedConsumerErrors(total)
            return total
    raise AssertionError(f"events still moving after {max_rounds} rounds: {total}")


def subscribe(spec: ConsumerSpec, settings: Settings | None = None) -> str:
    """Creates a consumer's queue (with its DLQ) and rule, as provisioning does for the product's
    consumers: for test consumers. Idempotent; returns the queue URL."""
    settings = settings or Settings.from_env()
    sqs = boto3.client("sqs", region_name=REGION)
    url = create_queue(sqs, spec.queue, spec.queue.visibility_timeout_seconds)
    subscribe_consumer(boto3.client("events", region_name=REGION), sqs, settings.event_bus_name, spec, url)
    return url


def drain_queue(url: str) -> None:
    """Deletes whatever waits in a queue (PurgeQueue is allowed once a minute)."""
    sqs = boto3.client("sqs", region_name=REGION)
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
