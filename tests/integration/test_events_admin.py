"""The failed-events admin API and the replay logic behind `climatrak events replay`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pynamodb.transactions import TransactWrite

from climatrak.core.config import Settings
from climatrak.core.consumer import consumer_handler
from climatrak.core.errors import DomainError
from climatrak.core.events import EventEnvelope, OutboxItem, add_to_outbox, new_event, outbox_pk
from climatrak.core.http import ROUTE_PERMISSIONS
from climatrak.core.identity import PERMISSIONS, Permission, Role
from climatrak.core.items import bind_main_table, transaction_connection
from climatrak.core.publisher import EventBusPublisher
from climatrak.core.resources import ConsumerSpec, QueueSpec
from climatrak.core.timeutil import iso_ms, now_ms
from climatrak.events import admin
from climatrak.events.admin import EventFilter
from climatrak.events.relay import MAX_PUBLISH_ATTEMPTS
from climatrak.events.repository import OutboxRepository
from climatrak.registry.logic import create_tenant
from functions.api import events_routes
from tests.integration.event_pump import drain_queue, pump_events, subscribe

ADMIN_CONSUMER = ConsumerSpec(
    name="admin_test_consumer",
    handler="not.used",
    queue=QueueSpec("AdminTestQueue", "ADMIN_TEST_QUEUE_URL", "climatrak-admin-test-consumer", 30, 2),
    event_names=("test.audited",),
)


class Consumer:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.broken = True

    def __call__(self, envelope: EventEnvelope) -> None:
        self.seen.append(envelope.event_id)
        if self.broken:
            raise DomainError(f"cannot handle {envelope.data['n']}")


@pytest.fixture(scope="module")
def queue(aws: None) -> str:
    return subscribe(ADMIN_CONSUMER)


@pytest.fixture
def logic(queue: str, clean_aws: None) -> Iterator[Consumer]:
    yield Consumer()
    drain_queue(queue)


def emit(settings: Settings, tenant: str = "acme", n: int = 0, name: str = "test.audited") -> EventEnvelope:
    bind_main_table(settings.main_table)
    event = new_event(tenant, name, "test", n, {"n": n})
    with TransactWrite(connection=transaction_connection()) as transaction:
        add_to_outbox(transaction, event)
    return event


def pump(logic: Consumer, **kwargs: Any) -> Any:
    handler = consumer_handler(ADMIN_CONSUMER, logic)
    return pump_events(consumers=(ADMIN_CONSUMER,), handlers={ADMIN_CONSUMER.name: handler}, **kwargs)


@pytest.fixture
def failed(settings: Settings, logic: Consumer, api: Any) -> list[EventEnvelope]:
    """Two failed events of acme (oldest first), one healthy one, one failed event of beta."""
    create_tenant(settings, "acme", "Acme", "America/Sao_Paulo")
    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    events = [emit(settings, n=1), emit(settings, n=2), emit(settings, "beta", n=3)]
    result = pump(logic, expect_errors=True)
    # each of the three failed on every receive, until the queue's maxReceiveCount
    assert result.failed[ADMIN_CONSUMER.name] == 3 * ADMIN_CONSUMER.queue.max_receive_count
    assert {(error.type, error.message) for error in result.errors} == {
        ("DomainError", f"cannot handle {n}") for n in (1, 2, 3)
    }
    emit(settings, name="test.unrouted")
    unrouted = pump(logic)  # published, but no rule routes it to the consumer
    assert (unrouted.relayed, sum(unrouted.delivered.values()), sum(unrouted.failed.values())) == (1, 0, 0)
    return events


def test_failed_events_are_listed_newest_first_with_their_consumer_errors(api: Any, failed: list) -> None:
    status, body = api.get("/api/events/failed/")

    assert status == 200
    assert body["count"] == 2
    first, second = body["results"]
    assert [first["event_id"], second["event_id"]] == [failed[1].event_id, failed[0].event_id]
    assert first["status"] == "failed"
    assert first["event_name"] == "test.audited"
    assert first["source"] == "climatrak.test"
    assert first["data"] == {"n": 2}
    assert first["last_error"] == "admin_test_consumer: cannot handle 2"
    assert first["consumer_errors"]["admin_test_consumer"]["error"] == "cannot handle 2"
    assert first["attempts"] == 1 + ADMIN_CONSUMER.queue.max_receive_count


def test_the_list_filters_by_event_name_and_pages_like_drf(api: Any, failed: list) -> None:
    assert api.get("/api/events/failed/", query={"event_name": "test.other"}).json["count"] == 0
    page = api.get("/api/events/failed/", query={"page_size": "1"}).json
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    assert api.get("/api/events/failed/", query={"since": "not a date"}) == (
        400,
        {"since": ["Enter a valid date/time."]},
    )


def test_one_event_is_shown(api: Any, failed: list) -> None:
    status, body = api.get(f"/api/events/{failed[0].event_id}/")
    assert status == 200
    assert body["event_id"] == failed[0].event_id
    assert body["aggregate"] == {"type": "test", "id": "1"}
    assert api.get("/api/events/not-an-id/").status == 404


def test_retry_sets_a_failed_event_pending_and_the_relay_republishes_it(
    api: Any, failed: list, logic: Consumer, settings: Settings
) -> None:
    logic.broken = False
    event = failed[0]

    status, body = api.post(f"/api/events/{event.event_id}/retry/")
    assert status == 200
    assert (body["status"], body["last_error"]) == ("pending", None)
    pump(logic)

    shown = api.get(f"/api/events/{event.event_id}/").json
    assert (shown["status"], shown["consumer_errors"]) == ("processed", {})
    assert [e["event_id"] for e in api.get("/api/events/failed/").json["results"]] == [failed[1].event_id]


def test_an_event_on_its_way_or_processed_cannot_be_retried(api: Any, failed: list, logic: Consumer) -> None:
    logic.broken = False
    api.post(f"/api/events/{failed[0].event_id}/retry/")

    status, body = api.post(f"/api/events/{failed[0].event_id}/retry/")

    assert status == 409
    assert body["code"] == "conflict"
    assert body["detail"].startswith("Only failed or stuck events can be retried; this event is pending")
    pump(logic)
    assert api.post(f"/api/events/{failed[0].event_id}/retry/").json["detail"] == (
        "Only failed or stuck events can be retried; this event is processed."
    )


# ---- stuck events: pending, but the stream will not hand them to the relay again ----------------


def untouched_for(settings: Settings, event: EventEnvelope, minutes: int) -> None:
    """As if nothing had written the item for `minutes` (the relay crashed on its record)."""
    bind_main_table(settings.main_table)
    long_ago = iso_ms(now_ms() - minutes * 60_000)
    OutboxItem(outbox_pk(event.tenant_id), event.event_id).update(actions=[OutboxItem.updated_at.set(long_ago)])


def stuck_events(settings: Settings) -> tuple[EventEnvelope, EventEnvelope]:
    """Two pending events of acme the relay will not see again by itself: one whose publish
    failed (`last_error`) before the stream gave its record up, one untouched for 10 minutes."""
    throttled, crashed = emit(settings, n=4), emit(settings, n=5)
    repository = OutboxRepository("acme", settings)
    error = "ThrottlingException: Rate exceeded"
    assert repository.record_publish_failure(throttled.event_id, error, 0, MAX_PUBLISH_ATTEMPTS) == "pending"
    untouched_for(settings, crashed, minutes=10)
    return throttled, crashed


def test_stuck_events_are_listed_with_the_failed_ones_on_request(api: Any, failed: list, settings: Settings) -> None:
    throttled, crashed = stuck_events(settings)
    emit(settings, n=6)  # just written: on its way to the relay, not stuck

    assert api.get("/api/events/failed/").json["count"] == 2
    status, body = api.get("/api/events/failed/", query={"include_stuck": "true"})

    assert status == 200
    rows = [(e["event_id"], e["status"], e["stuck"]) for e in body["results"]]
    assert rows == [
        (crashed.event_id, "pending", True),
        (throttled.event_id, "pending", True),
        (failed[1].event_id, "failed", False),
        (failed[0].event_id, "failed", False),
    ]
    assert body["results"][1]["last_error"] == "ThrottlingException: Rate exceeded"
    assert api.get("/api/events/failed/", query={"include_stuck": "maybe"}) == (
        400,
        {"include_stuck": ["Must be a valid boolean."]},
    )


def test_a_stuck_event_is_retried_and_the_relay_publishes_it(
    api: Any, failed: list, logic: Consumer, settings: Settings
) -> None:
    logic.broken = False
    stuck = stuck_events(settings)

    for event in stuck:
        status, body = api.post(f"/api/events/{event.event_id}/retry/")
        assert status == 200, body
        assert (body["status"], body["last_error"], body["stuck"]) == ("pending", None, False)
    pump(logic)

    for event in stuck:
        assert api.get(f"/api/events/{event.event_id}/").json["status"] == "processed"
    assert {e.event_id for e in stuck} <= set(logic.seen)


def test_retry_all_failed_events_with_the_stuck_ones(
    api: Any, failed: list, logic: Consumer, settings: Settings
) -> None:
    logic.broken = False
    stuck = stuck_events(settings)

    status, body = api.post("/api/events/failed/retry/", query={"include_stuck": "true"})
    pump(logic)

    assert status == 200
    assert set(body["event_ids"]) == {failed[0].event_id, failed[1].event_id, *(e.event_id for e in stuck)}
    assert api.get("/api/events/failed/", query={"include_stuck": "true"}).json["count"] == 0


# ---- time filters --------------------------------------------------------------------------


def test_instants_before_1970_or_far_away_are_the_ends_of_the_range(api: Any, failed: list) -> None:
    for since in ("1969-12-31", "0001-01-01", "1969-12-31T23:59:59.999Z"):
        assert api.get("/api/events/failed/", query={"since": since}).json["count"] == 2, since
    assert api.get("/api/events/failed/", query={"until": "1969-12-31"}).json["count"] == 0
    assert api.get("/api/events/failed/", query={"until": "9999-12-31"}).json["count"] == 2
    # no UTC instant exists for it
    assert api.get("/api/events/failed/", query={"since": "0001-01-01T00:00:00+01:00"}) == (
        400,
        {"since": ["Enter a valid date/time."]},
    )


def test_retry_all_failed_events(api: Any, failed: list, logic: Consumer) -> None:
    logic.broken = False

    status, body = api.post("/api/events/failed/retry/")
    pump(logic)

    assert status == 200
    assert body["retried"] == 2
    assert set(body["event_ids"]) == {failed[0].event_id, failed[1].event_id}
    assert api.get("/api/events/failed/").json["count"] == 0
    # beta's failed event is beta's business
    assert api.get("/api/events/failed/", tenant="beta").json["count"] == 1


def test_another_tenants_event_is_not_found(api: Any, failed: list) -> None:
    beta_event = failed[2].event_id
    assert api.get(f"/api/events/{beta_event}/").status == 404
    assert api.post(f"/api/events/{beta_event}/retry/").status == 404
    assert [e["event_id"] for e in api.get("/api/events/failed/", tenant="beta").json["results"]] == [beta_event]


def _routes(ids: dict[str, str]) -> list[tuple[str, str, str]]:
    return [
        ("list_failed_events", "GET", "/api/events/failed/"),
        ("get_event", "GET", f"/api/events/{ids['event']}/"),
        ("retry_event", "POST", f"/api/events/{ids['event']}/retry/"),
        ("retry_failed_events", "POST", "/api/events/failed/retry/"),
    ]


def test_the_walk_covers_every_events_route() -> None:
    declared = {func.__name__ for func in events_routes.router._routes.values()}
    assert declared == {name for name, *_ in _routes({"event": "x"})}


@pytest.mark.parametrize("role", list(Role))
def test_every_route_with_every_role(api: Any, failed: list, role: Role) -> None:
    for name, method, path in _routes({"event": failed[0].event_id}):
        route = next(f for f in events_routes.router._routes.values() if f.__name__ == name)
        assert ROUTE_PERMISSIONS[route.__qualname__] == Permission.EVENTS_ADMIN
        status, body = api.request(method, path, role=role.value, body={} if method == "POST" else None)
        if role in PERMISSIONS[Permission.EVENTS_ADMIN]:
            assert status == 200, (name, role, status, body)
        else:
            assert status == 403, (name, role, status)
    assert (role in {Role.OWNER, Role.ADMIN}) == (role in PERMISSIONS[Permission.EVENTS_ADMIN])


def test_replay_republishes_a_time_range_and_consumers_do_only_what_was_not_done(
    settings: Settings, failed: list, logic: Consumer
) -> None:
    logic.broken = False
    repository = OutboxRepository("acme", settings)
    publisher = EventBusPublisher(settings.event_bus_name)
    everything = EventFilter(since="2000-01-01T00:00:00Z", until="2999-01-01T00:00:00Z", event_name="test.audited")

    assert admin.replay_events(repository, publisher, everything, dry_run=True).matched == 2
    result = admin.replay_events(repository, publisher, everything)
    pump(logic)

    assert (result.matched, result.published, result.failed) == (2, 2, {})
    handled_now = logic.seen[-2:]
    assert sorted(handled_now) == sorted([failed[0].event_id, failed[1].event_id])
    # the earlier attempts failed, so the idempotency store let the replay run them; again, the
    # events are published and delivered, and the idempotency store answers without the consumer
    seen_before = list(logic.seen)
    again = admin.replay_events(repository, publisher, everything)
    redelivered = pump(logic)
    assert (again.matched, again.published, again.failed) == (2, 2, {})
    assert redelivered.delivered[ADMIN_CONSUMER.name] == 2
    assert not redelivered.failed and redelivered.errors == []
    assert logic.seen == seen_before
    nothing = EventFilter(since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z")
    assert admin.replay_events(repository, publisher, nothing).matched == 0
