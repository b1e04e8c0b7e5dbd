"""The relay's event filter: which Main table stream records reach the relay (AWS and local)."""

from __future__ import annotations

from typing import Any

import pytest

from climatrak.core.events import new_event, outbox_item
from climatrak.events.stream import OUTBOX_STREAM_FILTER, is_waiting_outbox_record, matches, outbox_record
from climatrak_local.streams import failed_sequence_numbers, synthetic_stream_record

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/climatrak-main/stream/x"


def outbox_image(**changes: Any) -> dict[str, Any]:
    image = outbox_item(new_event("acme", "work_order.closed", "work_order", 7, {"hours": "2.50"})).serialize()
    image.update(changes)
    return image


def record(image: dict[str, Any], event_name: str = "INSERT") -> dict[str, Any]:
    return synthetic_stream_record(image, sequence_number=100, stream_arn=ARN, event_name=event_name)


def test_a_new_pending_outbox_item_reaches_the_relay() -> None:
    assert is_waiting_outbox_record(record(outbox_image()))


def test_an_outbox_item_set_back_to_pending_reaches_the_relay() -> None:
    assert is_waiting_outbox_record(record(outbox_image(), event_name="MODIFY"))


@pytest.mark.parametrize("status", ["processed", "failed"])
def test_processed_and_failed_items_do_not(status: str) -> None:
    assert not is_waiting_outbox_record(record(outbox_image(status={"S": status}), event_name="MODIFY"))


def test_a_pending_item_whose_publish_failed_waits_for_the_stream_retry_not_a_new_record() -> None:
    image = outbox_image(last_error={"S": "ThrottlingException: slow down"}, attempts={"N": "1"})
    assert not is_waiting_outbox_record(record(image, event_name="MODIFY"))


def test_removals_and_other_items_do_not() -> None:
    assert not is_waiting_outbox_record(record(outbox_image(), event_name="REMOVE"))
    sensor = {"pk": {"S": "T#acme"}, "sk": {"S": "SENSOR#1"}, "kind": {"S": "sensor"}, "status": {"S": "pending"}}
    assert not is_waiting_outbox_record(record(sensor))


def test_exists_rules_never_match_objects() -> None:
    pattern = {"a": [{"exists": False}]}
    assert matches(pattern, {})
    assert not matches(pattern, {"a": "x"})
    assert matches({"a": [{"exists": True}]}, {"a": "x"})
    assert not matches({"a": [{"exists": True}]}, {"a": {"S": "x"}})


def test_the_filter_is_plain_json_for_the_event_source_mapping() -> None:
    import json

    assert json.loads(json.dumps(OUTBOX_STREAM_FILTER)) == OUTBOX_STREAM_FILTER


def test_the_record_carries_the_envelope_and_the_attempts_it_was_written_with() -> None:
    image = outbox_image(attempts={"N": "3"})
    parsed = outbox_record(record(image))
    assert parsed.sequence_number == "100"
    assert parsed.attempts == 3
    assert parsed.envelope.event_name == "work_order.closed"
    assert parsed.envelope.data == {"hours": "2.50"}
    assert parsed.envelope.tenant_id == "acme"


def test_partial_stream_responses() -> None:
    sequences = ["1", "2", "3"]
    assert failed_sequence_numbers(sequences, None) == []
    assert failed_sequence_numbers(sequences, {"batchItemFailures": []}) == []
    assert failed_sequence_numbers(sequences, {"batchItemFailures": [{"itemIdentifier": "2"}]}) == ["2"]
    assert failed_sequence_numbers(sequences, {"batchItemFailures": [{"itemIdentifier": "9"}]}) is None
