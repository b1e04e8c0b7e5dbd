"""What operators do with events: list and show outbox items, retry failed ones, replay a range.

Used by the admin API (functions/api/events_routes.py) and the `climatrak events` CLI.
Retry sets a failed or stuck item back to pending: the stream hands it to the relay, which
republishes it. A *stuck* event is pending but will not reach the relay by itself (a publish
failed and the stream let its record go, or nothing touched it for STUCK_AFTER); lists mark it
(`stuck`) and `include_stuck` adds stuck events to a list of failed ones. Replay republishes
recorded events through the same publisher without touching their status; consumers are
idempotent, so a replay only does what was not done.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from climatrak.core.errors import DomainError, NotFound
from climatrak.core.events import EventStatus, OutboxItem
from climatrak.core.timeutil import parse_iso
from climatrak.events.relay import Publisher
from climatrak.events.repository import OutboxRepository, is_stuck, stuck_cutoff
from climatrak.events.stream import envelope_of

STATUSES = (EventStatus.PENDING, EventStatus.PROCESSED, EventStatus.FAILED)
DEFAULT_LIST_LIMIT = 1000


class ConsumerError(BaseModel):
    error: str
    at: str


class EventView(BaseModel):
    """An outbox item as operators see it: the envelope plus its delivery state."""

    event_id: str
    tenant_id: str
    event_name: str
    source: str
    occurred_at: str
    aggregate: dict[str, str]
    data: dict[str, Any]
    idempotency_key: str
    status: str
    stuck: bool = False  # pending, but the relay will not get it again without a retry
    attempts: int
    last_error: str | None = None
    consumer_errors: dict[str, ConsumerError] = Field(default_factory=dict)
    created_at: str
    updated_at: str


class EventFilter(BaseModel):
    status: str | None = None
    event_name: str | None = None
    since: str | None = None  # ISO instant, inclusive (when the event was recorded)
    until: str | None = None  # ISO instant, inclusive
    # with a status other than pending: stuck pending events as well (pending lists show them anyway)
    include_stuck: bool = False


class RetryResult(BaseModel):
    retried: int
    event_ids: list[str]


class ReplayResult(BaseModel):
    matched: int
    published: int
    failed: dict[str, str] = Field(default_factory=dict)  # event id → error


def event_view(item: OutboxItem, cutoff: str | None = None) -> EventView:
    envelope = envelope_of(item)
    raw_errors = item.consumer_errors
    errors = raw_errors.as_dict() if hasattr(raw_errors, "as_dict") else dict(raw_errors or {})
    return EventView(
        event_id=envelope.event_id,
        tenant_id=envelope.tenant_id,
        event_name=envelope.event_name,
        source=item.source,
        occurred_at=envelope.occurred_at,
        aggregate=envelope.aggregate.model_dump(),
        data=envelope.data,
        idempotency_key=envelope.idempotency_key,
        status=item.status,
        stuck=is_stuck(item, cutoff),
        attempts=int(item.attempts or 0),
        last_error=item.last_error,
        consumer_errors={name: ConsumerError.model_validate(entry) for name, entry in errors.items()},
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def validate_filter(criteria: EventFilter) -> EventFilter:
    if criteria.status and criteria.status not in STATUSES:
        raise DomainError(f'"{criteria.status}" is not a valid choice.', field="status")
    for name in ("since", "until"):
        value = getattr(criteria, name)
        if value:
            try:
                parse_iso(value)
            except (ValueError, OverflowError):  # OverflowError: e.g. 0001-01-01T00:00+01:00
                raise DomainError("Enter a valid date/time.", field=name) from None
    if criteria.since and criteria.until and parse_iso(criteria.since) > parse_iso(criteria.until):
        raise DomainError("Must not be after until.", field="since")
    return criteria


def _items(
    repository: OutboxRepository, criteria: EventFilter, *, newest_first: bool, limit: int | None
) -> Iterable[OutboxItem]:
    validate_filter(criteria)
    ranges = {"event_name": criteria.event_name, "since": criteria.since, "until": criteria.until}
    items = repository.query(status=criteria.status, newest_first=newest_first, limit=limit, **ranges)
    if not criteria.include_stuck or criteria.status in (None, EventStatus.PENDING):
        return items
    stuck = repository.query_stuck(newest_first=newest_first, limit=limit, **ranges)
    merged = heapq.merge(items, stuck, key=lambda item: item.sk, reverse=newest_first)
    return itertools.islice(merged, limit)


def list_events(
    repository: OutboxRepository, criteria: EventFilter, limit: int | None = DEFAULT_LIST_LIMIT
) -> list[EventView]:
    """Newest first."""
    cutoff = stuck_cutoff()
    return [event_view(item, cutoff) for item in _items(repository, criteria, newest_first=True, limit=limit)]


def show_event(repository: OutboxRepository, event_id: str) -> EventView:
    item = repository.get(event_id)
    if item is None:
        raise NotFound("Not found.")
    return event_view(item)


def retry_event(repository: OutboxRepository, event_id: str) -> EventView:
    """A failed or stuck event back to pending (409 otherwise); the relay republishes it."""
    return event_view(repository.request_retry(event_id))


def retry_failed(repository: OutboxRepository, criteria: EventFilter | None = None) -> RetryResult:
    """Every failed event (matching the filter; stuck ones too with `include_stuck`) back to pending."""
    criteria = (criteria or EventFilter()).model_copy(update={"status": EventStatus.FAILED})
    retried: list[str] = []
    for item in list(_items(repository, criteria, newest_first=False, limit=None)):
        try:
            repository.request_retry(item.sk)
        except DomainError:
            continue  # retried or handled meanwhile
        retried.append(item.sk)
    return RetryResult(retried=len(retried), event_ids=retried)


def replay_events(
    repository: OutboxRepository, publisher: Publisher, criteria: EventFilter, *, dry_run: bool = False
) -> ReplayResult:
    """Republishes the tenant's recorded events in a time range (optionally one name/status),
    oldest first. Statuses are left as they are."""
    envelopes = [envelope_of(item) for item in _items(repository, criteria, newest_first=False, limit=None)]
    if dry_run:
        return ReplayResult(matched=len(envelopes), published=0)
    failures = {envelope.event_id: error for envelope, error in publisher.publish(envelopes)}
    return ReplayResult(matched=len(envelopes), published=len(envelopes) - len(failures), failed=failures)
