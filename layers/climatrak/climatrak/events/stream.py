"""The Main table stream, seen by the relay: which records it receives and what they carry.

`OUTBOX_STREAM_FILTER` is the Lambda event filter of the relay's event source mapping (CDK
passes it verbatim) and the local stream poller applies it with `matches`, so both
environments hand the relay exactly the same records: outbox items waiting to be published.

An item waits when its status is pending and it carries no `last_error`. A failed publish
keeps the item pending with `last_error` set and is retried by the stream itself (the relay
reports the record in `batchItemFailures`); that write must not trigger the relay a second
time, hence the `last_error` clause. Retrying a failed or stuck event (admin API) sets it
pending, removes `last_error` and sets `updated_at`: a MODIFY that makes the item wait again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from climatrak.core.events import EventEnvelope, EventStatus, OutboxItem

OUTBOX_KIND = "outbox"

OUTBOX_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {
        "NewImage": {
            "kind": {"S": [OUTBOX_KIND]},
            "status": {"S": [EventStatus.PENDING]},
            "last_error": {"S": [{"exists": False}]},
        }
    },
}


def _leaf_matches(rules: list[Any], present: bool, value: Any) -> bool:
    """One filter rule list (ORed): literal values, or {"exists": bool}."""
    for rule in rules:
        if isinstance(rule, Mapping):
            if set(rule) != {"exists"}:
                raise ValueError(f"unsupported filter rule {rule!r}")
            if bool(rule["exists"]) == present:
                return True
        elif present and value == rule:
            return True
    return False


def matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Whether `record` satisfies a Lambda event filter pattern.

    Supports what the product's filters use: nested objects, literal value lists and the
    `exists` operator. (Lambda's full syntax also has prefix, numeric and anything-but rules.)
    """
    for key, rule in pattern.items():
        present = isinstance(record, Mapping) and key in record
        value = record[key] if present else None
        if isinstance(rule, Mapping):
            if not matches(rule, value if isinstance(value, Mapping) else {}):
                return False
        elif isinstance(rule, list):
            if isinstance(value, Mapping | list):
                present, value = False, None  # leaf rules never match objects or arrays
            if not _leaf_matches(rule, present, value):
                return False
        else:
            raise ValueError(f"unsupported filter pattern at {key!r}: {rule!r}")
    return True


def is_waiting_outbox_record(record: Mapping[str, Any]) -> bool:
    return matches(OUTBOX_STREAM_FILTER, record)


@dataclass(frozen=True)
class OutboxRecord:
    """A stream record of an outbox item: its position in the stream and its event."""

    sequence_number: str
    envelope: EventEnvelope
    attempts: int


def envelope_of(item: OutboxItem) -> EventEnvelope:
    """The envelope an outbox item carries (PynamoDB reads a raw map as a MapAttribute)."""
    raw = item.envelope
    return EventEnvelope.model_validate(raw.as_dict() if hasattr(raw, "as_dict") else raw)


def outbox_record(record: Mapping[str, Any]) -> OutboxRecord:
    """Reads the envelope out of a stream record's NewImage (DynamoDB JSON)."""
    dynamodb = record["dynamodb"]
    item = OutboxItem.from_raw_data(dict(dynamodb["NewImage"]))
    return OutboxRecord(
        sequence_number=str(dynamodb["SequenceNumber"]),
        envelope=envelope_of(item),
        attempts=int(item.attempts or 0),
    )
