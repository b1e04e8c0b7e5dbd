"""The local DynamoDB stream event source mapping: filter, batches, partial failures, retries."""

from __future__ import annotations

from typing import Any

from climatrak_local.activity import Activity
from climatrak_local.streams import DynamoStreamPoller


class FakeStreams:
    """One shard; iterators are positions."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, kind: str) -> None:
        sequence = str(100 + len(self.records))
        image = {"pk": {"S": "p"}, "sk": {"S": sequence}, "kind": {"S": kind}}
        self.records.append({"eventName": "INSERT", "dynamodb": {"NewImage": image, "SequenceNumber": sequence}})

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(
        self, StreamArn: str, ShardId: str, ShardIteratorType: str, SequenceNumber: str = ""
    ) -> dict[str, Any]:
        if ShardIteratorType == "TRIM_HORIZON":
            return {"ShardIterator": "0"}
        position = next(i for i, r in enumerate(self.records) if r["dynamodb"]["SequenceNumber"] == SequenceNumber)
        return {"ShardIterator": str(position + 1)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        start = int(ShardIterator)
        records = self.records[start : start + Limit]
        return {"Records": records, "NextShardIterator": str(start + len(records))}


class Function:
    """Fails the records in `fail` (a partial batch response) that many times; raises on any
    batch holding a record of `poison` (a function error)."""

    def __init__(self, fail: dict[str, int] | None = None, poison: set[str] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail = dict(fail or {})
        self.poison = set(poison or ())
        self.handled: list[str] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.batches.append(sequences)
        if self.poison & set(sequences):
            raise ValueError("cannot parse this record")
        failed = [s for s in sequences if self.fail.get(s, 0) > 0]
        self.handled.extend(s for s in sequences if s not in failed)
        for sequence in failed:
            self.fail[sequence] -= 1
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}


def poller(streams: FakeStreams, function: Function, max_retries: int = 3, batch_size: int = 2) -> DynamoStreamPoller:
    return DynamoStreamPoller(
        "relay",
        streams=streams,
        stream_arn="arn",
        handler=lambda: function,
        activity=Activity(),
        filter_pattern={"dynamodb": {"NewImage": {"kind": {"S": ["outbox"]}}}},
        batch_size=batch_size,
        max_retry_attempts=max_retries,
        retry_backoff_seconds=0,
    )


def run(stream_poller: DynamoStreamPoller, steps: int = 20) -> None:
    stream_poller._read()
    for _ in range(steps):
        if not stream_poller._deliver():
            return


def test_only_records_the_filter_keeps_are_delivered_in_batches() -> None:
    streams = FakeStreams()
    for kind in ("outbox", "sensor", "outbox", "outbox"):
        streams.write(kind)
    function = Function()
    stream_poller = poller(streams, function)

    assert not stream_poller.caught_up()
    run(stream_poller)

    assert function.batches == [["100", "102"], ["103"]]
    assert stream_poller.caught_up()


def test_a_failed_record_is_retried_with_the_records_after_it() -> None:
    streams = FakeStreams()
    for _ in range(3):
        streams.write("outbox")
    function = Function(fail={"101": 1})

    run(poller(streams, function))

    assert function.batches == [["100", "101"], ["101", "102"]]


def test_a_record_failing_past_the_retry_limit_is_discarded() -> None:
    streams = FakeStreams()
    streams.write("outbox")
    streams.write("outbox")
    function = Function(fail={"100": 99})
    stream_poller = poller(streams, function, max_retries=2)

    run(stream_poller)

    assert function.batches == [["100", "101"]] * 3 + [["101"]]
    assert [r["dynamodb"]["SequenceNumber"] for r in stream_poller.discarded] == ["100"]


def test_settled_records_forget_their_failed_deliveries() -> None:
    streams = FakeStreams()
    for _ in range(3):
        streams.write("outbox")
    stream_poller = poller(streams, Function(fail={"101": 1}))

    run(stream_poller)

    assert stream_poller._retries == {}


def test_a_batch_the_handler_raises_on_is_bisected_down_to_the_record_that_keeps_failing() -> None:
    streams = FakeStreams()
    for _ in range(4):
        streams.write("outbox")
    function = Function(poison={"102"})
    stream_poller = poller(streams, function, max_retries=2, batch_size=4)

    run(stream_poller)

    assert function.batches == [
        ["100", "101", "102", "103"],
        ["100", "101"],  # the first half is good
        ["102", "103"],
        ["102"],  # down to one record: only it counts retries
        ["102"],
        ["102"],
        ["103"],  # the good record after it is delivered, not dropped
    ]
    assert function.handled == ["100", "101", "103"]
    assert [r["dynamodb"]["SequenceNumber"] for r in stream_poller.discarded] == ["102"]
    assert stream_poller._retries == {}
    assert stream_poller.caught_up()


def test_a_batch_that_fails_once_as_a_whole_delivers_every_record() -> None:
    streams = FakeStreams()
    for _ in range(2):
        streams.write("outbox")
    function = Function()
    calls = {"n": 0}

    def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TimeoutError("the function timed out")
        return function(event, context)

    stream_poller = DynamoStreamPoller(
        "relay",
        streams=streams,
        stream_arn="arn",
        handler=lambda: flaky,
        activity=Activity(),
        filter_pattern=None,
        batch_size=2,
        max_retry_attempts=0,
        retry_backoff_seconds=0,
    )
    run(stream_poller)

    assert function.handled == ["100", "101"]
    assert stream_poller.discarded == []
