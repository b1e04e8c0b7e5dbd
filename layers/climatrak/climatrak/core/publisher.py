"""The one way events reach EventBridge: PutEvents in batches, failed entries retried.

Only the outbox relay (and `climatrak events replay`) publish; modules write outbox items.
Each entry is `Source = envelope.source`, `DetailType = event_name`, `Detail = the envelope`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from climatrak.core import aws
from climatrak.core.events import EventEnvelope
from climatrak.core.timeutil import parse_iso

PUT_EVENTS_LIMIT = 10  # entries per PutEvents call
PUT_EVENTS_MAX_BYTES = 256 * 1024  # total request entry size per PutEvents call
DEFAULT_ATTEMPTS = 3  # per entry, the first try included
DEFAULT_BACKOFF_SECONDS = 0.1


class PublishFailure(NamedTuple):
    """An envelope PutEvents still refused after the retries; unpacks as (envelope, error)."""

    envelope: EventEnvelope
    error: str


def entry_size(entry: dict[str, Any]) -> int:
    """PutEvents' size of an entry (Source + DetailType + Detail + 14 bytes for Time)."""
    return (
        len(entry["Source"].encode())
        + len(entry["DetailType"].encode())
        + len(entry["Detail"].encode())
        + (14 if "Time" in entry else 0)
    )


def batches(entries: Sequence[dict[str, Any]]) -> Iterator[list[int]]:
    """Indexes of `entries` grouped into PutEvents calls: at most 10, at most 256 KB."""
    batch: list[int] = []
    size = 0
    for index, entry in enumerate(entries):
        entry_bytes = entry_size(entry)
        if batch and (len(batch) == PUT_EVENTS_LIMIT or size + entry_bytes > PUT_EVENTS_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += entry_bytes
    if batch:
        yield batch


class EventBusPublisher:
    """Publishes envelopes to one bus; `publish` returns the (envelope, error) pairs that still
    failed after the retries, so the caller can record them (the relay keeps them pending)."""

    def __init__(
        self,
        bus_name: str,
        *,
        events_client: Any | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.bus_name = bus_name
        self._client = events_client
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep

    @property
    def client(self) -> Any:
        # Not kept: aws.client is the process-wide cache, rebuilt when endpoints change.
        return self._client if self._client is not None else aws.client("events")

    def entry(self, envelope: EventEnvelope) -> dict[str, Any]:
        return {
            "EventBusName": self.bus_name,
            "Source": envelope.source,
            "DetailType": envelope.event_name,
            "Detail": json.dumps(envelope.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False),
            "Time": parse_iso(envelope.occurred_at),
        }

    def publish(self, envelopes: Sequence[EventEnvelope]) -> list[PublishFailure]:
        entries = [self.entry(envelope) for envelope in envelopes]
        failures: list[PublishFailure] = []
        for indexes in batches(entries):
            for index, error in self._put_with_retries(entries, indexes).items():
                failures.append(PublishFailure(envelopes[index], error))
        return failures

    def _put_with_retries(self, entries: Sequence[dict[str, Any]], indexes: list[int]) -> dict[int, str]:
        """{entry index: last error} of the entries still failing after every attempt."""
        pending = list(indexes)
        errors: dict[int, str] = {}
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(self.backoff_seconds * 2 ** (attempt - 1))
            errors = self._put(entries, pending)
            pending = [index for index in pending if index in errors]
            if not pending:
                return {}
        return errors

    def _put(self, entries: Sequence[dict[str, Any]], indexes: list[int]) -> dict[int, str]:
        try:
            response = self.client.put_events(Entries=[entries[index] for index in indexes])
        except Exception as error:  # the whole call failed (after botocore's own retries)
            return dict.fromkeys(indexes, f"{type(error).__name__}: {error}")
        if not response.get("FailedEntryCount"):
            return {}
        # Result entries are in request order; a failed one carries ErrorCode/ErrorMessage.
        return {
            index: f"{result.get('ErrorCode')}: {result.get('ErrorMessage') or ''}".strip()
            for index, result in zip(indexes, response.get("Entries", []), strict=False)
            if result.get("ErrorCode")
        }
