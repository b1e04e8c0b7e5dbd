"""The DynamoDB stream event source mapping, emulated: a thread reads the Main table's stream
from moto (DescribeStream / GetShardIterator / GetRecords), keeps the records the mapping's
filter keeps (the same filter CDK deploys), and invokes the handler in batches, honouring
partial batch responses like Lambda: a failed record is retried (with the records after it)
until it succeeds or the retry limit discards it, as the on-failure destination would get it.
A handler that raises (a function error) has its batch split in two and each half retried
on its own, like BisectBatchOnFunctionError, down to the single record that keeps failing:
only that record counts retries and is discarded, never the good records around it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from climatrak.events.stream import matches
from climatrak_local.activity import Activity
from climatrak_local.background import BackgroundThread
from climatrak_local.lambda_invoke import ACCOUNT_ID, REGION, Handler, LambdaContext

logger = logging.getLogger(__name__)

GET_RECORDS_LIMIT = 1000
# Polling slows down while the stream is quiet, and speeds up as soon as records arrive.
FAST_POLL_SECONDS = 0.05
IDLE_POLL_SECONDS = 0.5


def lambda_stream_record(record: Mapping[str, Any], stream_arn: str, region: str = REGION) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda delivers it (epoch seconds, eventSourceARN)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record.get("eventID") or uuid.uuid4().hex,
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def synthetic_stream_record(
    item: Mapping[str, Any],
    *,
    sequence_number: int,
    stream_arn: str,
    key_names: Sequence[str] = ("pk", "sk"),
    event_name: str = "INSERT",
) -> dict[str, Any]:
    """The stream record Lambda would deliver for writing `item` (DynamoDB JSON, NEW_IMAGE)."""
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": time.time(),
            "Keys": {name: item[name] for name in key_names},
            "NewImage": dict(item),
            "SequenceNumber": str(sequence_number),
            "SizeBytes": len(str(item)),
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": stream_arn,
    }


def stream_event(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


def failed_sequence_numbers(sequence_numbers: Sequence[str], response: Any) -> list[str] | None:
    """The records a partial batch response asks to retry: [] for none, None for the whole batch
    (an identifier that names no record of the batch fails it all, as on Lambda)."""
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return []
    failed = []
    for failure in response["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in sequence_numbers:
            return None
        failed.append(identifier)
    return failed


def release_iterator(iterator: str) -> None:
    """moto keeps every shard iterator it hands out; the runtime's in-process moto server would
    grow by one per poll. Forget the ones this poller has used (a no-op for another endpoint)."""
    try:
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        dynamodbstreams_backends[ACCOUNT_ID][REGION].shard_iterators.pop(iterator, None)
    except Exception:  # noqa: S110 - purely a memory optimisation
        pass


class DynamoStreamPoller(BackgroundThread):
    """Reads one table's stream and invokes one handler, like a DynamoDB event source mapping
    with a filter, a batch size, ReportBatchItemFailures and a maximum retry count."""

    def __init__(
        self,
        name: str,
        *,
        streams: Any,
        stream_arn: str,
        handler: Callable[[], Handler],
        activity: Activity,
        filter_pattern: Mapping[str, Any] | None,
        batch_size: int,
        max_retry_attempts: int,
        function_timeout_seconds: int = 60,
        retry_backoff_seconds: float = 0.1,
    ) -> None:
        self.name = name
        self._streams = streams
        self._stream_arn = stream_arn
        self._handler = handler
        self._activity = activity
        self._filter = filter_pattern
        self._batch_size = batch_size
        self._max_retries = max_retry_attempts
        self._timeout = function_timeout_seconds
        self._backoff = retry_backoff_seconds
        self._lock = threading.Lock()
        self._backlog: list[dict[str, Any]] = []  # filtered records read but not yet done
        self._last_sequence: str | None = None  # last record read from the shard
        self._retries: dict[str, int] = {}  # sequence number → failed deliveries (unsettled records)
        # Sizes of the next batches after a bisection (front first); empty: full batches.
        self._segments: list[int] = []
        self._wake = threading.Event()
        super().__init__(f"stream-poller-{name}", wake=self._wake)
        self.discarded: list[dict[str, Any]] = []  # what an on-failure destination would receive
        shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
        if len(shards) != 1:
            raise RuntimeError(f"expected one shard in {stream_arn}, found {len(shards)}")
        self._shard_id: str = shards[0]["ShardId"]
        # TRIM_HORIZON: nothing written between provisioning and start is missed.
        self._iterator: str | None = self._new_iterator("TRIM_HORIZON")

    # -- idleness ---------------------------------------------------------------------------

    def caught_up(self) -> bool:
        """No record waits: everything read is handled and the shard has nothing unread."""
        with self._lock:
            if self._backlog:
                return False
            last = self._last_sequence
        iterator = self._new_iterator("AFTER_SEQUENCE_NUMBER", last) if last else self._new_iterator("TRIM_HORIZON")
        response = self._streams.get_records(ShardIterator=iterator, Limit=1)
        release_iterator(iterator)
        release_iterator(response.get("NextShardIterator", ""))
        if not response.get("Records"):
            return True
        self._wake.set()  # unread records: read them now rather than at the next idle poll
        return False

    # -- polling ----------------------------------------------------------------------------

    def _new_iterator(self, kind: str, sequence: str | None = None) -> str:
        request: dict[str, Any] = {"StreamArn": self._stream_arn, "ShardId": self._shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            request["SequenceNumber"] = sequence
        iterator: str = self._streams.get_shard_iterator(**request)["ShardIterator"]
        return iterator

    def _run(self) -> None:
        pause = FAST_POLL_SECONDS
        while not self._stopping.is_set():
            try:
                busy = self._read()
                busy = self._deliver() or busy
            except Exception:
                if self._stopping.is_set():
                    return
                logger.exception("stream poller %s failed; retrying", self.name)
                self._iterator = None
                busy = False
            pause = FAST_POLL_SECONDS if busy else min(IDLE_POLL_SECONDS, pause * 2)
            self._wake.wait(pause)
            self._wake.clear()

    def _read(self) -> bool:
        """Reads what the shard has past our position; keeps what the filter keeps."""
        if self._iterator is None:
            with self._lock:
                last = self._last_sequence
            self._iterator = (
                self._new_iterator("AFTER_SEQUENCE_NUMBER", last) if last else self._new_iterator("TRIM_HORIZON")
            )
        used = self._iterator
        response = self._streams.get_records(ShardIterator=used, Limit=GET_RECORDS_LIMIT)
        release_iterator(used)
        self._iterator = response.get("NextShardIterator")
        records = response.get("Records", [])
        if not records:
            return False
        kept = [
            lambda_stream_record(record, self._stream_arn)
            for record in records
            if self._filter is None or matches(self._filter, record)
        ]
        with self._lock:
            self._backlog.extend(kept)
            self._last_sequence = str(records[-1]["dynamodb"]["SequenceNumber"])
        return True

    def _deliver(self) -> bool:
        with self._lock:
            batch = self._backlog[: self._segments[0] if self._segments else self._batch_size]
        if not batch:
            return False
        sequences = [record["dynamodb"]["SequenceNumber"] for record in batch]
        context = LambdaContext(function_name=f"climatrak-local-{self.name}", timeout_seconds=self._timeout)
        with self._activity.running():
            try:
                failed = failed_sequence_numbers(sequences, self._handler()(stream_event(batch), context))
            except Exception:
                logger.exception("handler for %s raised; the batch will be retried", self.name)
                failed = None
            self._settle(batch, sequences, failed)
        return True

    def _settle(self, batch: list[dict[str, Any]], sequences: list[str], failed: list[str] | None) -> None:
        """Like Lambda: bisect a batch that failed as a whole; otherwise checkpoint before the
        first failed record and retry from it, discarding a record past the retry limit."""
        if failed is None and len(batch) > 1:
            half = len(batch) // 2
            logger.warning("stream poller %s: the handler failed a batch of %d; bisecting", self.name, len(batch))
            self._segments[:1] = [half, len(batch) - half]
            return
        if failed == []:
            done = len(batch)
        else:
            first = sequences[0] if failed is None else min(failed, key=sequences.index)
            attempts = self._retries.get(first, 0) + 1
            if attempts > self._max_retries:
                logger.error("stream poller %s: record %s failed %d times; discarded", self.name, first, attempts)
                self.discarded.append(batch[sequences.index(first)])
                done = sequences.index(first) + 1
            else:
                self._retries[first] = attempts
                done = sequences.index(first)
                self._stopping.wait(min(self._backoff * attempts, 1.0))  # a short backoff before the retry
        for sequence in sequences[:done]:
            self._retries.pop(sequence, None)  # settled: delivered or discarded
        if self._segments:
            self._segments[0] -= done
            if self._segments[0] <= 0:
                self._segments.pop(0)
        with self._lock:
            del self._backlog[:done]
