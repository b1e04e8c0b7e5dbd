"""The outbox relay: stream records of waiting outbox items → EventBridge → item status.

Publishes every waiting event of a batch (PutEvents in batches of 10, failed entries retried by
the publisher), then marks each published item processed. An event that still fails stays
pending with `last_error` and its stream record is reported in `batchItemFailures`, so the
event source mapping retries it; after `MAX_PUBLISH_ATTEMPTS` failed publishes the item is
marked failed (the admin API lists it) and the record is let go.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from climatrak.core.config import Settings
from climatrak.core.events import EventEnvelope, EventStatus, outbox_pk
from climatrak.core.publisher import PublishFailure
from climatrak.events.repository import OutboxRepository
from climatrak.events.stream import OutboxRecord, is_waiting_outbox_record, outbox_record

logger = logging.getLogger(__name__)

# Failed publishes (each already retried by the publisher) before an event is marked failed.
MAX_PUBLISH_ATTEMPTS = 5
# The stream event source mapping (CDK and the local poller): records per invocation, and
# retries of a failing record, kept above MAX_PUBLISH_ATTEMPTS so the relay, not the mapping,
# decides when an event has failed.
RELAY_BATCH_SIZE = 10
RELAY_STREAM_RETRY_ATTEMPTS = MAX_PUBLISH_ATTEMPTS + 3
RELAY_TIMEOUT_SECONDS = 60


class Publisher(Protocol):
    def publish(self, envelopes: Sequence[EventEnvelope]) -> list[PublishFailure]: ...


@dataclass
class RelayResult:
    records: int = 0
    published: int = 0
    ignored: int = 0  # records that are not waiting outbox items (or unreadable ones)
    failed: list[str] = field(default_factory=list)  # event ids that became failed
    retry: list[str] = field(default_factory=list)  # sequence numbers the stream must retry

    def response(self) -> dict[str, Any]:
        """The DynamoDB stream partial batch response."""
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in self.retry]}


def readable_records(records: Sequence[Mapping[str, Any]], result: RelayResult) -> list[OutboxRecord]:
    """The waiting outbox records of a batch (the event filter already chose them; this re-checks)."""
    outbox: list[OutboxRecord] = []
    for record in records:
        if not is_waiting_outbox_record(record):
            result.ignored += 1
            continue
        try:
            parsed = outbox_record(record)
            if record["dynamodb"]["Keys"]["pk"]["S"] != outbox_pk(parsed.envelope.tenant_id):
                raise ValueError("the envelope's tenant does not own the outbox item")
        except Exception:
            # Retrying cannot make it readable, and a retried record blocks its shard: skip it.
            logger.exception("unreadable outbox stream record %s", record.get("eventID"))
            result.ignored += 1
            continue
        outbox.append(parsed)
    return outbox


def relay(
    records: Sequence[Mapping[str, Any]],
    publisher: Publisher,
    settings: Settings,
    max_attempts: int = MAX_PUBLISH_ATTEMPTS,
) -> RelayResult:
    result = RelayResult(records=len(records))
    outbox = readable_records(records, result)
    # One publish per event even if the batch holds two records of it (e.g. written, then retried).
    unique: dict[str, OutboxRecord] = {}
    for item in outbox:
        unique.setdefault(item.envelope.event_id, item)
    failures = {f.envelope.event_id: f.error for f in publisher.publish([r.envelope for r in unique.values()])}

    repositories: dict[str, OutboxRepository] = {}
    for item in unique.values():
        envelope = item.envelope
        repository = repositories.get(envelope.tenant_id)
        if repository is None:
            repository = repositories[envelope.tenant_id] = OutboxRepository(envelope.tenant_id, settings)
        try:
            error = failures.get(envelope.event_id)
            if error is None:
                repository.mark_published(envelope.event_id, envelope.occurred_at)
                continue
            logger.warning("publishing %s %s failed: %s", envelope.event_name, envelope.event_id, error)
            status = repository.record_publish_failure(envelope.event_id, error, item.attempts, max_attempts)
            if status == EventStatus.PENDING:
                result.retry.append(item.sequence_number)
            elif status == EventStatus.FAILED:
                result.failed.append(envelope.event_id)
        except Exception:
            logger.exception("could not record the outcome of %s; the stream retries it", envelope.event_id)
            result.retry.append(item.sequence_number)
    result.published = len(set(unique) - set(failures))
    return result
