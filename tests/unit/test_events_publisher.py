"""The one publisher: PutEvents in batches of 10 (and 256 KB), failed entries retried."""

from __future__ import annotations

import json
from typing import Any

from climatrak.core.events import EventEnvelope, new_event
from climatrak.core.publisher import EventBusPublisher, batches


def envelopes(count: int, name: str = "work_order.closed") -> list[EventEnvelope]:
    return [new_event("acme", name, "work_order", i, {"i": i}) for i in range(count)]


class FakeEvents:
    """PutEvents that refuses chosen event ids a given number of times."""

    def __init__(self, refuse: dict[str, int] | None = None, raise_times: int = 0) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.refuse = dict(refuse or {})
        self.raise_times = raise_times

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.raise_times:
            self.raise_times -= 1
            raise ConnectionError("endpoint unreachable")
        results = []
        for entry in Entries:
            event_id = json.loads(entry["Detail"])["event_id"]
            if self.refuse.get(event_id, 0) > 0:
                self.refuse[event_id] -= 1
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": "eb-" + event_id})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def publisher(fake: FakeEvents, attempts: int = 3) -> EventBusPublisher:
    return EventBusPublisher("bus", events_client=fake, attempts=attempts, sleep=lambda seconds: None)


def test_entries_carry_source_detail_type_and_the_envelope() -> None:
    fake = FakeEvents()
    (event,) = envelopes(1)
    assert publisher(fake).publish([event]) == []
    (entry,) = fake.calls[0]
    assert entry["EventBusName"] == "bus"
    assert entry["Source"] == "climatrak.cmms"
    assert entry["DetailType"] == "work_order.closed"
    assert EventEnvelope.model_validate_json(entry["Detail"]) == event


def test_events_go_out_in_batches_of_ten() -> None:
    fake = FakeEvents()
    assert publisher(fake).publish(envelopes(23)) == []
    assert [len(call) for call in fake.calls] == [10, 10, 3]


def test_failed_entries_alone_are_retried() -> None:
    events = envelopes(4)
    fake = FakeEvents(refuse={events[1].event_id: 1, events[3].event_id: 2})
    assert publisher(fake).publish(events) == []
    assert [len(call) for call in fake.calls] == [4, 2, 1]


def test_what_still_fails_after_the_retries_is_returned() -> None:
    events = envelopes(3)
    fake = FakeEvents(refuse={events[2].event_id: 99})
    failures = publisher(fake, attempts=3).publish(events)
    assert [(envelope.event_id, error) for envelope, error in failures] == [
        (events[2].event_id, "InternalFailure: try again")
    ]
    assert len(fake.calls) == 3


def test_a_failed_call_fails_its_whole_batch_then_is_retried() -> None:
    fake = FakeEvents(raise_times=1)
    assert publisher(fake).publish(envelopes(2)) == []
    fake = FakeEvents(raise_times=5)
    failures = publisher(fake, attempts=2).publish(envelopes(2))
    assert [error for _, error in failures] == ["ConnectionError: endpoint unreachable"] * 2


def test_batches_also_respect_the_request_size_limit() -> None:
    big = {"Source": "s", "DetailType": "d", "Detail": "x" * 100_000}
    assert list(batches([big] * 5)) == [[0, 1], [2, 3], [4]]
