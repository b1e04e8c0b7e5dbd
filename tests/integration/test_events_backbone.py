"""The events backbone on moto: outbox → stream → relay → EventBridge → SQS → consumer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from climatrak.core.config import Settings
from climatrak.core.consumer import consumer_handler
from climatrak.core.errors import DomainError
from climatrak.core.events import (
    EventEnvelope,
    EventStatus,
    OutboxItem,
    add_to_outbox,
    new_event,
    retention_ttl,
    status_index_pk,
)
from climatrak.core.items import bind_main_table, transaction_connection
from climatrak.core.publisher import EventBusPublisher
from climatrak.core.resources import ConsumerSpec, QueueSpec
from climatrak.events.relay import MAX_PUBLISH_ATTEMPTS, relay
from climatrak.events.repository import OutboxRepository
from climatrak.registry.items import TenantItem
from climatrak_local.lambda_invoke import LambdaContext
from climatrak_local.pollers import sqs_event
from climatrak_local.streams import synthetic_stream_record
from tests.integration.event_pump import ConsumerError, UnexpectedConsumerErrors, drain_queue, pump_events, subscribe

REGION = "us-east-1"

TEST_CONSUMER = ConsumerSpec(
    name="test_consumer",
    handler="not.used",  # the tests pass their handler to the pump
    queue=QueueSpec("TestConsumerQueue", "TEST_CONSUMER_QUEUE_URL", "climatrak-test-consumer", 30, 3),
    event_names=("test.happened",),
)


class Recorder:
    """A consumer's logic: records every envelope; raises for the event ids in `failing`."""

    def __init__(self) -> None:
        self.seen: list[EventEnvelope] = []
        self.failing: dict[str, Exception] = {}

    def __call__(self, envelope: EventEnvelope) -> dict[str, Any]:
        self.seen.append(envelope)
        if envelope.event_id in self.failing:
            raise self.failing[envelope.event_id]
        return {"handled": envelope.event_id}


@pytest.fixture(scope="module")
def test_queue(aws: None) -> str:
    return subscribe(TEST_CONSUMER)


@pytest.fixture
def recorder(test_queue: str, clean_aws: None) -> Iterator[Recorder]:
    yield Recorder()
    drain_queue(test_queue)


@pytest.fixture
def consumer(recorder: Recorder) -> Any:
    return consumer_handler(TEST_CONSUMER, recorder)


def pump(consumer: Any, **kwargs: Any) -> Any:
    return pump_events(consumers=(TEST_CONSUMER,), handlers={TEST_CONSUMER.name: consumer}, **kwargs)


def emit(settings: Settings, tenant: str = "acme", name: str = "test.happened", **data: Any) -> EventEnvelope:
    bind_main_table(settings.main_table)
    event = new_event(tenant, name, "test", 1, data)
    with TransactWrite(connection=transaction_connection()) as transaction:
        add_to_outbox(transaction, event)
    return event


def outbox(settings: Settings, event: EventEnvelope) -> OutboxItem:
    item = OutboxRepository(event.tenant_id, settings).get(event.event_id)
    assert item is not None
    return item


def stream_records(settings: Settings, events: list[EventEnvelope]) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    records = []
    for number, event in enumerate(events):
        key = {"pk": {"S": f"T#{event.tenant_id}#OUTBOX"}, "sk": {"S": event.event_id}}
        item = dynamodb.get_item(TableName=settings.main_table, Key=key, ConsistentRead=True)["Item"]
        records.append(synthetic_stream_record(item, sequence_number=number + 1, stream_arn="arn:stream"))
    return records


class RecordingEvents:
    """The moto EventBridge client, recording PutEvents calls and refusing chosen event ids."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.client = boto3.client("events", region_name=REGION)
        self.calls: list[list[dict[str, Any]]] = []
        self.refuse = refuse or set()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        accepted = [e for e in Entries if json.loads(e["Detail"])["event_id"] not in self.refuse]
        response = self.client.put_events(Entries=accepted) if accepted else {"Entries": []}
        published = iter(response["Entries"])
        results = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "EventBridge is having a moment"}
            if json.loads(e["Detail"])["event_id"] in self.refuse
            else next(published)
            for e in Entries
        ]
        return {"FailedEntryCount": len(Entries) - len(accepted), "Entries": results}


def publisher(events: RecordingEvents) -> EventBusPublisher:
    return EventBusPublisher(Settings.from_env().event_bus_name, events_client=events, sleep=lambda _: None)


# ---- the outbox ----------------------------------------------------------------------------


def test_the_outbox_item_commits_or_vanishes_with_its_change(settings: Settings, tenant: str) -> None:
    bind_main_table(settings.main_table)
    refused = new_event(tenant, "test.happened", "test", 1, {})
    with pytest.raises(TransactWriteError), TransactWrite(connection=transaction_connection()) as transaction:
        # a change whose condition fails: the tenant exists already
        transaction.condition_check(TenantItem, "T#acme", "TENANT", condition=TenantItem.pk.does_not_exist())
        add_to_outbox(transaction, refused)

    assert OutboxRepository("acme", settings).get(refused.event_id) is None
    written = emit(settings)
    item = outbox(settings, written)
    assert (item.status, item.attempts, item.gsi1pk) == ("pending", 0, status_index_pk("acme", "pending"))
    assert item.ttl is None  # a pending event never expires


# ---- the relay -----------------------------------------------------------------------------


def test_the_relay_publishes_in_batches_of_ten_and_marks_items_processed(
    settings: Settings, recorder: Recorder, test_queue: str
) -> None:
    events = [emit(settings, n=n) for n in range(13)]
    sent = RecordingEvents()

    result = relay(stream_records(settings, events), publisher(sent), settings)

    assert result.response() == {"batchItemFailures": []}
    assert [len(call) for call in sent.calls] == [10, 3]
    entry = sent.calls[0][0]
    assert (entry["Source"], entry["DetailType"]) == ("climatrak.test", "test.happened")
    assert json.loads(entry["Detail"]) == events[0].model_dump(mode="json")
    for event in events:
        item = outbox(settings, event)
        assert (item.status, item.attempts, item.gsi1pk) == ("processed", 1, status_index_pk("acme", "processed"))
        assert item.ttl == retention_ttl(event.occurred_at)  # processed: kept 90 days after it occurred


def test_a_refused_entry_is_retried_and_left_pending_for_the_stream_to_retry(
    settings: Settings, recorder: Recorder
) -> None:
    good, bad = emit(settings), emit(settings)
    sent = RecordingEvents(refuse={bad.event_id})
    records = stream_records(settings, [good, bad])

    result = relay(records, publisher(sent), settings)

    assert [len(call) for call in sent.calls] == [2, 1, 1]  # the publisher retried the refused entry
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    assert outbox(settings, good).status == "processed"
    item = outbox(settings, bad)
    assert (item.status, item.attempts) == ("pending", 1)
    assert item.last_error == "InternalFailure: EventBridge is having a moment"


def test_after_the_last_attempt_the_event_is_failed_and_the_stream_lets_it_go(
    settings: Settings, recorder: Recorder
) -> None:
    bad = emit(settings)
    sent = RecordingEvents(refuse={bad.event_id})
    records = stream_records(settings, [bad])

    assert MAX_PUBLISH_ATTEMPTS > 1  # else there is no retry before the last attempt to check
    responses = [relay(records, publisher(sent), settings).response() for _ in range(MAX_PUBLISH_ATTEMPTS)]

    assert all(response["batchItemFailures"] for response in responses[:-1])
    assert responses[-1] == {"batchItemFailures": []}
    item = outbox(settings, bad)
    assert (item.status, item.attempts, item.gsi1pk) == (
        "failed",
        MAX_PUBLISH_ATTEMPTS,
        status_index_pk("acme", "failed"),
    )
    assert item.ttl is None  # a failed event waits for an operator, however long


def test_the_relay_ignores_records_that_are_not_waiting_outbox_items(settings: Settings, recorder: Recorder) -> None:
    event = emit(settings)
    (record,) = stream_records(settings, [event])
    record["dynamodb"]["NewImage"]["status"] = {"S": "processed"}
    sent = RecordingEvents()

    result = relay([record], publisher(sent), settings)

    assert (result.ignored, sent.calls) == (1, [])


# ---- consumers -----------------------------------------------------------------------------


def test_an_event_reaches_its_consumer_through_eventbridge_and_sqs(
    settings: Settings, recorder: Recorder, consumer: Any
) -> None:
    event = emit(settings, answer=42)
    emit(settings, name="other.happened")  # no rule routes it to this consumer

    result = pump(consumer)

    assert recorder.seen == [event]
    assert result.delivered[TEST_CONSUMER.name] == 1
    assert outbox(settings, event).status == "processed"


def test_a_duplicate_delivery_is_answered_without_running_the_consumer_again(
    settings: Settings, recorder: Recorder, consumer: Any, test_queue: str
) -> None:
    event = emit(settings)
    pump(consumer)
    sqs = boto3.client("sqs", region_name=REGION)
    body = json.dumps({"source": "climatrak.test", "detail-type": event.event_name, "detail": event.model_dump()})
    sqs.send_message(QueueUrl=test_queue, MessageBody=body)
    sqs.send_message(QueueUrl=test_queue, MessageBody=body)

    result = pump(consumer)

    assert result.delivered[TEST_CONSUMER.name] == 2
    assert recorder.seen == [event]


def test_a_poison_message_fails_alone(settings: Settings, recorder: Recorder, consumer: Any, test_queue: str) -> None:
    event = emit(settings)
    good = {
        "MessageId": "good",
        "ReceiptHandle": "r1",
        "MD5OfBody": "x",
        "Body": json.dumps({"detail-type": event.event_name, "detail": event.model_dump()}),
    }
    poison = {**good, "MessageId": "poison", "ReceiptHandle": "r2", "Body": "{not json"}
    no_envelope = {**good, "MessageId": "no-envelope", "ReceiptHandle": "r3", "Body": json.dumps({"detail": {}})}

    response = consumer(sqs_event([poison, good, no_envelope], "arn:queue"), LambdaContext(function_name="test"))

    assert response == {"batchItemFailures": [{"itemIdentifier": "poison"}, {"itemIdentifier": "no-envelope"}]}
    assert recorder.seen == [event]


def test_a_failure_is_recorded_on_the_outbox_item_and_cleared_by_a_later_success(
    settings: Settings, recorder: Recorder, consumer: Any, test_queue: str
) -> None:
    event = emit(settings)
    recorder.failing[event.event_id] = DomainError("No rate card for role HVAC tech.")

    result = pump(consumer, expect_errors=True)

    # every receive failed, until the queue's maxReceiveCount sent the message to its DLQ
    assert result.failed[TEST_CONSUMER.name] == TEST_CONSUMER.queue.max_receive_count
    assert (
        result.errors
        == [ConsumerError("test_consumer", "DomainError", "No rate card for role HVAC tech.", expected=True)]
        * TEST_CONSUMER.queue.max_receive_count
    )
    item = outbox(settings, event)
    assert (item.status, item.gsi1pk) == ("failed", status_index_pk("acme", "failed"))
    assert item.last_error == "test_consumer: No rate card for role HVAC tech."
    assert item.consumer_errors["test_consumer"]["error"] == "No rate card for role HVAC tech."
    assert item.attempts == 1 + TEST_CONSUMER.queue.max_receive_count  # one publish, then each failure
    assert item.ttl is None  # the relay's processed (with a ttl) became failed: it no longer expires

    del recorder.failing[event.event_id]
    OutboxRepository("acme", settings).request_retry(event.event_id)
    assert pump(consumer).errors == []

    item = outbox(settings, event)
    assert (item.status, item.last_error, item.gsi1pk) == ("processed", None, status_index_pk("acme", "processed"))
    assert item.ttl == retention_ttl(event.occurred_at)
    assert dict(item.consumer_errors) == {}
    assert len(recorder.seen) == TEST_CONSUMER.queue.max_receive_count + 1


def test_an_unexpected_error_is_recorded_as_its_type_and_request_id_only(
    settings: Settings, recorder: Recorder, consumer: Any, test_queue: str
) -> None:
    event = emit(settings)
    recorder.failing[event.event_id] = ValueError("could not parse {'iban': 'DE89 3704 0044 0532 0130 00'}")

    result = pump(consumer, expect_errors=True)

    assert result.failed[TEST_CONSUMER.name] == TEST_CONSUMER.queue.max_receive_count
    assert {(error.type, error.message, error.expected) for error in result.errors} == {
        ("ValueError", "could not parse {'iban': 'DE89 3704 0044 0532 0130 00'}", False)
    }
    item = outbox(settings, event)
    recorded = item.consumer_errors["test_consumer"]["error"]
    assert re.fullmatch(
        r"Unexpected error \(ValueError; request [0-9a-f-]{36}\); the details are in the consumer's logs\.", recorded
    )
    assert item.last_error == f"test_consumer: {recorded}"


def test_the_pump_raises_after_delivering_when_a_consumer_crashes_unexpectedly(
    settings: Settings, recorder: Recorder, consumer: Any
) -> None:
    crashing, fine = emit(settings), emit(settings)
    recorder.failing[crashing.event_id] = KeyError("work_order_id")

    with pytest.raises(UnexpectedConsumerErrors, match="test_consumer: KeyError") as raised:
        pump(consumer)

    result = raised.value.result
    assert result.delivered[TEST_CONSUMER.name] == 1  # the pump finished its work before raising
    assert result.failed[TEST_CONSUMER.name] == TEST_CONSUMER.queue.max_receive_count
    assert [error.type for error in result.unexpected_errors] == ["KeyError"] * TEST_CONSUMER.queue.max_receive_count
    assert outbox(settings, fine).status == "processed"


def test_the_pump_records_a_crash_of_the_whole_handler(settings: Settings, recorder: Recorder) -> None:
    emit(settings)

    def broken_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("the function crashed at import")

    result = pump(broken_handler, expect_errors=True)

    # Lambda retries the whole batch, until the queue's maxReceiveCount sends it to the DLQ
    crash = ConsumerError("test_consumer", "RuntimeError", "the function crashed at import", expected=False)
    assert result.errors == [crash] * TEST_CONSUMER.queue.max_receive_count
    assert result.failed[TEST_CONSUMER.name] == TEST_CONSUMER.queue.max_receive_count
    emit(settings)
    with pytest.raises(UnexpectedConsumerErrors, match="test_consumer: RuntimeError: the function crashed"):
        pump(broken_handler)


def test_the_pump_delivers_chained_events(settings: Settings, recorder: Recorder) -> None:
    def chain(envelope: EventEnvelope) -> None:
        recorder.seen.append(envelope)
        if envelope.data["step"] < 3:
            emit(settings, step=envelope.data["step"] + 1)

    emit(settings, step=1)
    result = pump(consumer_handler(TEST_CONSUMER, chain))

    assert [seen.data["step"] for seen in recorder.seen] == [1, 2, 3]
    assert result.delivered[TEST_CONSUMER.name] == 3
    assert all(outbox(settings, seen).status == EventStatus.PROCESSED for seen in recorder.seen)


def test_what_a_consumer_logs_names_the_tenant_and_the_event(
    settings: Settings, test_queue: str, clean_aws: None
) -> None:
    import io

    from aws_lambda_powertools import Logger

    consumer_logger = Logger(service=TEST_CONSUMER.name)  # the consumer's own code, same service

    def handle(envelope: EventEnvelope) -> None:
        consumer_logger.info("effect applied")

    event = emit(settings)
    stream = io.StringIO()
    # the service's one handler may have been created by an earlier test: point it at a buffer
    previous = consumer_logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        pump(consumer_handler(TEST_CONSUMER, handle))
        consumer_logger.info("after the event")
    finally:
        consumer_logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [effect] = [line for line in lines if line.get("message") == "effect applied"]
    assert (effect["tenant"], effect["event_id"], effect["event_name"]) == ("acme", event.event_id, event.event_name)
    assert effect["function_request_id"]  # the Lambda request id, from the consumer's context
    [after] = [line for line in lines if line.get("message") == "after the event"]
    assert "tenant" not in after and "event_id" not in after
