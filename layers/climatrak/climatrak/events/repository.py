"""Tenant-scoped reads and status changes of outbox items (docs/access-patterns.md).

Keys: pk `T#{t}#OUTBOX`, sk = event_id (a UUIDv7, so a time range is a key range); gsi1 by
status `T#{t}#OUTBOX#{status}` / event_id. Every status change is one conditional UpdateItem,
so the relay, the consumers and an operator's retry can race without losing a transition.

`ttl` is set only when an item becomes processed (its event's time + OUTBOX_RETENTION) and
removed whenever it becomes failed or pending again: an event that needs an operator never
expires. A pending item is *stuck* when it carries `last_error` or nothing touched it for
STUCK_AFTER: the stream will not hand it to the relay again (the relay's record was given up
or expired), so operators see it with the failed ones and may retry it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition, size

from climatrak.core.config import Settings
from climatrak.core.errors import Conflict, NotFound
from climatrak.core.events import (
    EventStatus,
    OutboxItem,
    event_id_ceiling,
    event_id_floor,
    outbox_pk,
    retention_ttl,
    status_index_pk,
)
from climatrak.core.items import bind_main_table, condition_failed
from climatrak.core.timeutil import iso_ms, now_ms, utc_now_iso
from climatrak.events.stream import envelope_of

MAX_ERROR_LENGTH = 1000
# A pending item nothing touched for this long is stuck: a healthy relay publishes an event (or
# records a failed publish) within seconds, and the relay's alarm on IteratorAge fires later.
STUCK_AFTER = timedelta(minutes=5)


def stuck_cutoff() -> str:
    """Pending items updated before this instant (storage form) are stuck."""
    return iso_ms(now_ms() - int(STUCK_AFTER.total_seconds() * 1000))


def is_stuck(item: OutboxItem, cutoff: str | None = None) -> bool:
    """Pending, and either a publish failed (`last_error`) or nothing moved it for STUCK_AFTER."""
    if item.status != EventStatus.PENDING:
        return False
    return bool(item.last_error) or item.updated_at < (cutoff or stuck_cutoff())


def _stuck_condition(cutoff: str) -> Condition:
    return OutboxItem.last_error.exists() | (OutboxItem.updated_at < cutoff)


def valid_event_id(event_id: str) -> bool:
    try:
        return str(uuid.UUID(event_id)) == event_id.lower()
    except (ValueError, AttributeError):
        return False


def clip(message: str) -> str:
    return message if len(message) <= MAX_ERROR_LENGTH else message[: MAX_ERROR_LENGTH - 1] + "…"


def _invalid_document_path(error: Exception) -> bool:
    """An update that sets a path inside a map attribute the item does not have."""
    return getattr(error, "cause_response_code", None) == "ValidationException"


class OutboxRepository:
    def __init__(self, tenant: str, settings: Settings) -> None:
        self.pk = outbox_pk(tenant)  # refuses an empty tenant
        self.tenant = tenant
        bind_main_table(settings.main_table)

    def _index_pk(self, status: str) -> str:
        return status_index_pk(self.tenant, status)

    def _update(self, event_id: str, actions: list[Any], condition: Condition) -> OutboxItem | None:
        """One conditional UpdateItem; the item as written, or None if the condition refused it."""
        item = OutboxItem(self.pk, event_id)
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as error:
            if condition_failed(error):
                return None
            raise
        return item

    # ---- reads ---------------------------------------------------------------------------

    def get(self, event_id: str) -> OutboxItem | None:
        if not valid_event_id(event_id):
            return None
        try:
            return OutboxItem.get(self.pk, event_id, consistent_read=True)
        except OutboxItem.DoesNotExist:
            return None

    def query(
        self,
        *,
        status: str | None = None,
        event_name: str | None = None,
        since: str | None = None,
        until: str | None = None,
        newest_first: bool = True,
        limit: int | None = None,
    ) -> Iterator[OutboxItem]:
        """Outbox items of the tenant by recording time (the event id), optionally one status or name."""
        low = event_id_floor(since) if since else "0"
        high = event_id_ceiling(until) if until else "g"  # above every hex digit
        filter_condition = OutboxItem.event_name == event_name if event_name else None
        if status:
            return OutboxItem.by_status.query(
                self._index_pk(status),
                OutboxItem.gsi1sk.between(low, high),
                filter_condition=filter_condition,
                scan_index_forward=not newest_first,
                limit=limit,
            )
        return OutboxItem.query(
            self.pk,
            OutboxItem.sk.between(low, high),
            filter_condition=filter_condition,
            scan_index_forward=not newest_first,
            limit=limit,
        )

    def query_stuck(
        self,
        *,
        event_name: str | None = None,
        since: str | None = None,
        until: str | None = None,
        newest_first: bool = True,
        limit: int | None = None,
    ) -> Iterator[OutboxItem]:
        """Stuck pending items (see `is_stuck`): gsi1 pending, filtered."""
        low = event_id_floor(since) if since else "0"
        high = event_id_ceiling(until) if until else "g"
        filter_condition = _stuck_condition(stuck_cutoff())
        if event_name:
            filter_condition = filter_condition & (OutboxItem.event_name == event_name)
        return OutboxItem.by_status.query(
            self._index_pk(EventStatus.PENDING),
            OutboxItem.gsi1sk.between(low, high),
            filter_condition=filter_condition,
            scan_index_forward=not newest_first,
            limit=limit,
        )

    # ---- the relay -----------------------------------------------------------------------

    def mark_published(self, event_id: str, occurred_at: str) -> bool:
        """pending → processed, expiring OUTBOX_RETENTION after `occurred_at` (the event's).
        False if it was not pending any more (published by a concurrent delivery, already
        failed by a fast consumer, or gone)."""
        now = utc_now_iso()
        written = self._update(
            event_id,
            [
                OutboxItem.status.set(EventStatus.PROCESSED),
                OutboxItem.gsi1pk.set(self._index_pk(EventStatus.PROCESSED)),
                OutboxItem.attempts.add(1),
                OutboxItem.last_error.remove(),
                OutboxItem.updated_at.set(now),
                OutboxItem.ttl.set(retention_ttl(occurred_at)),
            ],
            OutboxItem.status == EventStatus.PENDING,
        )
        return written is not None

    def record_publish_failure(self, event_id: str, error: str, round_start: int, max_attempts: int) -> str | None:
        """Counts a failed publish. The item stays pending (the stream retries its record) until
        `max_attempts` publishes failed since the record's write, then it becomes failed.

        `round_start` is the item's `attempts` in the stream record being retried. Returns the
        status now (pending or failed), or None if the item is not pending any more.
        """
        now = utc_now_iso()
        common = [OutboxItem.attempts.add(1), OutboxItem.last_error.set(clip(error)), OutboxItem.updated_at.set(now)]
        pending = OutboxItem.status == EventStatus.PENDING
        if self._update(event_id, common, pending & (OutboxItem.attempts < round_start + max_attempts - 1)) is not None:
            return EventStatus.PENDING
        failed = [
            *common,
            OutboxItem.status.set(EventStatus.FAILED),
            OutboxItem.gsi1pk.set(self._index_pk(EventStatus.FAILED)),
            OutboxItem.ttl.remove(),  # kept until an operator retries it
        ]
        if self._update(event_id, failed, pending) is not None:
            return EventStatus.FAILED
        return None

    # ---- consumers -----------------------------------------------------------------------

    def record_consumer_failure(self, event_id: str, consumer: str, error: str) -> bool:
        """The consumer could not handle the event: the item becomes failed (visible to the
        admin API, never expiring) with the consumer's error. False if there is no such item."""
        now = utc_now_iso()
        message = clip(error)
        entry = {"error": message, "at": now}
        common = [
            OutboxItem.status.set(EventStatus.FAILED),
            OutboxItem.gsi1pk.set(self._index_pk(EventStatus.FAILED)),
            OutboxItem.attempts.add(1),
            OutboxItem.last_error.set(clip(f"{consumer}: {message}")),
            OutboxItem.updated_at.set(now),
            OutboxItem.ttl.remove(),
        ]
        exists = OutboxItem.pk.exists()
        try:
            return (
                self._update(event_id, [*common, OutboxItem.consumer_errors[consumer].set(entry)], exists) is not None
            )
        except UpdateError as failure:
            if not _invalid_document_path(failure):
                raise
        # An item written without the map (older items): create it with this entry.
        condition = exists & OutboxItem.consumer_errors.does_not_exist()
        return (
            self._update(event_id, [*common, OutboxItem.consumer_errors.set({consumer: entry})], condition) is not None
        )

    def clear_consumer_failure(self, event_id: str, consumer: str) -> None:
        """The consumer handled the event: forget its error; with none left, a failed item is
        processed again (and expires like any processed item). A read first, so the usual case
        (no error recorded) writes nothing."""
        item = self.get(event_id)
        if item is None or consumer not in (item.consumer_errors or {}):
            return
        now = utc_now_iso()
        path = OutboxItem.consumer_errors[consumer]
        written = self._update(event_id, [path.remove(), OutboxItem.updated_at.set(now)], path.exists())
        if written is None or written.consumer_errors or written.status != EventStatus.FAILED:
            return
        self._update(
            event_id,
            [
                OutboxItem.status.set(EventStatus.PROCESSED),
                OutboxItem.gsi1pk.set(self._index_pk(EventStatus.PROCESSED)),
                OutboxItem.last_error.remove(),
                OutboxItem.updated_at.set(now),
                OutboxItem.ttl.set(retention_ttl(envelope_of(item).occurred_at)),
            ],
            (OutboxItem.status == EventStatus.FAILED) & (size(OutboxItem.consumer_errors) == 0),
        )

    # ---- operators -----------------------------------------------------------------------

    def request_retry(self, event_id: str) -> OutboxItem:
        """A failed or stuck pending item → pending without `last_error`, `updated_at` now: the
        write is a stream record the relay's filter keeps, so the relay gets the event again
        (with a fresh round of publish attempts, counted from the record's `attempts`)."""
        if not valid_event_id(event_id):
            raise NotFound("Not found.")
        stuck = (OutboxItem.status == EventStatus.PENDING) & _stuck_condition(stuck_cutoff())
        written = self._update(
            event_id,
            [
                OutboxItem.status.set(EventStatus.PENDING),
                OutboxItem.gsi1pk.set(self._index_pk(EventStatus.PENDING)),
                OutboxItem.last_error.remove(),
                OutboxItem.updated_at.set(utc_now_iso()),
                OutboxItem.ttl.remove(),
            ],
            (OutboxItem.status == EventStatus.FAILED) | stuck,
        )
        if written is not None:
            return written
        current = self.get(event_id)
        if current is None:
            raise NotFound("Not found.")
        if current.status == EventStatus.PENDING:
            minutes = int(STUCK_AFTER.total_seconds() // 60)
            raise Conflict(
                "Only failed or stuck events can be retried; this event is pending and its delivery is "
                f"under way (it is stuck once pending for {minutes} minutes without progress)."
            )
        raise Conflict(f"Only failed or stuck events can be retried; this event is {current.status}.")
