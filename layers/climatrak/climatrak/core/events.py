"""The event envelope and the transactional outbox (ARCHITECTURE.md §4, docs/decisions/0007-events-backbone.md).

A module never publishes to EventBridge itself: it adds an outbox item to the same
TransactWrite as its aggregate change (`outbox.add(transaction, envelope)`), so the event
exists if and only if the change does. The relay publishes pending outbox items.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from climatrak.core.items import MainItem
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import parse_iso, utc_now_iso

# Processed outbox items stay this long after their event occurred (their `ttl`); pending and
# failed items never expire. Older history lives in the EventBridge archive on AWS.
OUTBOX_RETENTION = timedelta(days=90)
# UUIDv7 ids hold 48 bits of Unix milliseconds: instants outside them bound ranges at the ends.
_MAX_EVENT_MILLIS = (1 << 48) - 1
SOURCE_PREFIX = "climatrak."


class EventStatus:
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"


class Aggregate(BaseModel):
    type: str
    id: str


class EventEnvelope(BaseModel):
    """The product's event contract; EventBridge `detail` is exactly this object."""

    event_id: str
    tenant_id: str
    event_name: str
    occurred_at: str
    aggregate: Aggregate
    data: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str

    @property
    def module(self) -> str:
        return self.event_name.split(".", 1)[0]

    @property
    def source(self) -> str:
        """EventBridge source: `climatrak.{module}` (module = the event name's first part)."""
        return source_of(self.event_name)


# Event name → the module that owns it (EventBridge `source`).
EVENT_SOURCES: dict[str, str] = {
    "work_order.closed": "climatrak.cmms",
    "work_order.cancelled": "climatrak.cmms",
    "cost.entry_posted": "climatrak.ledger",
    "commitment.approved": "climatrak.ledger",
    "commitment.cancelled": "climatrak.ledger",
    "savings.event_posted": "climatrak.ledger",
    "alert.raised": "climatrak.alerts",
    "alert.acknowledged": "climatrak.alerts",
    "alert.resolved": "climatrak.alerts",
    "report.generated": "climatrak.reports",
}


def source_of(event_name: str) -> str:
    """The EventBridge source of an event name: its owning module's, else `climatrak.{first part}`."""
    return EVENT_SOURCES.get(event_name, SOURCE_PREFIX + event_name.split(".", 1)[0])


def new_event_id() -> str:
    """A UUIDv7: time-ordered, so outbox sort keys are chronological and ranges are cheap."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (int.from_bytes(os.urandom(2), "big") & 0x0FFF) << 64
    value |= 0b10 << 62  # variant
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def event_millis(moment_iso: str) -> int:
    """An instant as UUIDv7 milliseconds, clamped to what an id can hold (before 1970 → 0)."""
    millis = int(parse_iso(moment_iso).timestamp() * 1000)
    return min(max(millis, 0), _MAX_EVENT_MILLIS)


def event_id_floor(moment_iso: str) -> str:
    """The smallest UUIDv7 of an instant: bounds a time-range query over outbox sort keys."""
    return str(uuid.UUID(int=(event_millis(moment_iso) << 80) | (0x7 << 76) | (0b10 << 62)))


def event_id_ceiling(moment_iso: str) -> str:
    """The largest UUIDv7 of an instant (its millisecond): the inclusive end of a time range."""
    value = (event_millis(moment_iso) << 80) | (0x7 << 76) | (0x0FFF << 64) | (0b10 << 62) | ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def retention_ttl(occurred_at: str) -> int:
    """The `ttl` (epoch seconds) of a processed outbox item: its event's time + OUTBOX_RETENTION."""
    return int((parse_iso(occurred_at) + OUTBOX_RETENTION).timestamp())


def new_event(
    tenant: str,
    event_name: str,
    aggregate_type: str,
    aggregate_id: str | int,
    data: dict[str, Any],
    idempotency_key: str | None = None,
    occurred_at: str | None = None,
) -> EventEnvelope:
    event_id = new_event_id()
    return EventEnvelope(
        event_id=event_id,
        tenant_id=tenant,
        event_name=event_name,
        occurred_at=occurred_at or utc_now_iso(),
        aggregate=Aggregate(type=aggregate_type, id=str(aggregate_id)),
        data=data,
        idempotency_key=idempotency_key or f"{event_name}:{aggregate_type}:{aggregate_id}:{event_id}",
    )


class OutboxByStatus(GlobalSecondaryIndex["OutboxItem"]):
    """gsi1: a tenant's events by status (`T#{t}#OUTBOX#{status}`), oldest first."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class OutboxItem(MainItem, discriminator="outbox"):
    """pk `T#{t}#OUTBOX`, sk = event_id (UUIDv7, chronological)."""

    event_name = UnicodeAttribute()
    source = UnicodeAttribute()
    envelope = MapAttribute[str, Any]()
    status = UnicodeAttribute(default=EventStatus.PENDING)
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    # consumer name → its last error, while that consumer has not handled the event
    consumer_errors = MapAttribute[str, Any](default=dict)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Set only while processed (retention_ttl): a pending or failed event never expires unseen.
    ttl = NumberAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_status = OutboxByStatus()


def outbox_pk(tenant: str) -> str:
    return f"{TenantKeys(tenant).pk}#OUTBOX"


def status_index_pk(tenant: str, status: str) -> str:
    return f"{outbox_pk(tenant)}#{status}"


def outbox_item(envelope: EventEnvelope) -> OutboxItem:
    """A pending outbox item, without `ttl`: it gets one when it is processed."""
    now = utc_now_iso()
    return OutboxItem(
        outbox_pk(envelope.tenant_id),
        envelope.event_id,
        event_name=envelope.event_name,
        source=envelope.source,
        envelope=envelope.model_dump(mode="json"),
        status=EventStatus.PENDING,
        attempts=0,
        created_at=now,
        updated_at=now,
        gsi1pk=status_index_pk(envelope.tenant_id, EventStatus.PENDING),
        gsi1sk=envelope.event_id,
    )


def add_to_outbox(transaction: TransactWrite, envelope: EventEnvelope) -> None:
    """Write the event in the caller's transaction: it commits or vanishes with the change."""
    transaction.save(outbox_item(envelope), condition=OutboxItem.pk.does_not_exist())
