"""The events backbone on the local runtime: an outbox item → the stream poller → the relay →
moto EventBridge → the consumer's queue → the consumer, and the `climatrak events` CLI."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from pynamodb.transactions import TransactWrite
from typer.testing import CliRunner

from climatrak.core.consumer import consumer_handler
from climatrak.core.events import EventEnvelope, add_to_outbox, new_event, outbox_item
from climatrak.core.items import bind_main_table, transaction_connection
from climatrak.core.resources import COST_ENGINE, IDEMPOTENCY_TABLE
from climatrak.events.repository import OutboxRepository
from climatrak_local import state
from climatrak_local.cli import app
from climatrak_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e


class RecordingFunction:
    """Stands in for a consumer function: records the envelopes of its SQS records."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.envelopes.extend(json.loads(record["body"])["detail"] for record in event["Records"])
        return {"batchItemFailures": []}


def emit(runtime: LocalRuntime, tenant: str, work_order_id: int) -> EventEnvelope:
    bind_main_table(runtime.settings.main_table)
    event = new_event(tenant, "work_order.closed", "work_order", work_order_id, {"work_order_id": work_order_id})
    with TransactWrite(connection=transaction_connection()) as transaction:
        add_to_outbox(transaction, event)
    return event


def test_an_outbox_item_reaches_its_consumer_through_the_stream_and_eventbridge(
    local_runtime: LocalRuntime, unique: str
) -> None:
    tenant = f"t{unique}"
    consumer = RecordingFunction()
    with local_runtime.use_handlers(cost_engine=consumer):
        event = emit(local_runtime, tenant, 41)
        local_runtime.wait_until_idle()

    assert consumer.envelopes == [event.model_dump(mode="json")]
    item = OutboxRepository(tenant, local_runtime.settings).get(event.event_id)
    assert item is not None
    assert (item.status, item.attempts) == ("processed", 1)


def test_a_consumer_helper_handles_each_event_once_on_the_runtime(local_runtime: LocalRuntime, unique: str) -> None:
    tenant = f"t{unique}"
    handled: list[str] = []
    handler = consumer_handler(COST_ENGINE, lambda envelope: handled.append(envelope.event_id))
    with local_runtime.use_handlers(cost_engine=handler):
        event = emit(local_runtime, tenant, 42)
        local_runtime.wait_until_idle()
        # the same EventBridge event delivered again (SQS is at-least-once)
        body = json.dumps({"source": event.source, "detail-type": event.event_name, "detail": event.model_dump()})
        sqs = local_runtime.client("sqs")
        sqs.send_message(QueueUrl=local_runtime.queue_urls[COST_ENGINE.queue.env_var], MessageBody=body)
        local_runtime.wait_until_idle()

    assert handled == [event.event_id]
    records = local_runtime.client("dynamodb").scan(TableName=IDEMPOTENCY_TABLE.local_name)["Items"]
    assert any(record["id"]["S"].startswith("consumer.cost_engine#") for record in records)


@pytest.fixture
def cli_home(local_runtime: LocalRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The runtime's state file, as `climatrak local up` writes it, so CLI commands find it."""
    monkeypatch.setenv("CLIMATRAK_HOME", str(tmp_path))
    state.write_state(
        state.RuntimeState(
            pid=os.getpid(),
            api_url=local_runtime.api_url,
            api_port=local_runtime.api_port,
            mqtt_port=local_runtime.mqtt_port,
            moto_port=local_runtime.moto_port,
            endpoint_url=local_runtime.endpoint_url,
            jwt_secret=local_runtime.jwt_secret,
            environment=local_runtime.environment,
        )
    )
    return tmp_path


def test_events_list_show_and_replay_on_the_cli(local_runtime: LocalRuntime, unique: str, cli_home: Path) -> None:
    tenant = f"t{unique}"
    consumer = RecordingFunction()
    runner = CliRunner()
    with local_runtime.use_handlers(cost_engine=consumer):
        event = emit(local_runtime, tenant, 43)
        local_runtime.wait_until_idle()

        listed = runner.invoke(app, ["events", "list", "--tenant", tenant, "--json"])
        shown = runner.invoke(app, ["events", "show", event.event_id, "--tenant", tenant])
        window = ["--since", "2000-01-01T00:00:00Z", "--until", "2999-01-01T00:00:00Z"]
        replayed = runner.invoke(
            app, ["events", "replay", "--tenant", tenant, *window, "--event-name", event.event_name]
        )
        local_runtime.wait_until_idle()
        missing = runner.invoke(app, ["events", "show", event.event_id, "--tenant", "nobody"])

    assert listed.exit_code == 0, listed.output
    assert [(row["event_id"], row["status"]) for row in json.loads(listed.output)] == [(event.event_id, "processed")]
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["data"] == {"work_order_id": 43}
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.output) == {"matched": 1, "published": 1, "failed": {}}
    # the raw recording function is not idempotent: it saw the original and the replay
    assert [envelope["event_id"] for envelope in consumer.envelopes] == [event.event_id, event.event_id]
    assert missing.exit_code == 1
    assert "Not found." in missing.output


def test_a_stuck_event_shows_on_the_cli_and_a_retry_has_the_relay_send_it(
    local_runtime: LocalRuntime, unique: str, cli_home: Path
) -> None:
    tenant = f"t{unique}"
    consumer = RecordingFunction()
    runner = CliRunner()
    with local_runtime.use_handlers(cost_engine=consumer):
        event = new_event(tenant, "work_order.closed", "work_order", 44, {"work_order_id": 44})
        # a publish failed and the stream gave the record up: the stream's filter never keeps it again
        stuck = outbox_item(event)
        stuck.last_error = "ThrottlingException: Rate exceeded"
        bind_main_table(local_runtime.settings.main_table)
        stuck.save()
        local_runtime.wait_until_idle()
        listed = runner.invoke(app, ["events", "list", "--tenant", tenant, "--status", "pending", "--json"])
        retried = runner.invoke(app, ["events", "retry", event.event_id, "--tenant", tenant])
        local_runtime.wait_until_idle()

    assert listed.exit_code == 0, listed.output
    assert [(row["event_id"], row["status"], row["stuck"]) for row in json.loads(listed.output)] == [
        (event.event_id, "pending", True)
    ]
    assert retried.exit_code == 0, retried.output
    assert consumer.envelopes == [event.model_dump(mode="json")]
    item = OutboxRepository(tenant, local_runtime.settings).get(event.event_id)
    assert item is not None
    assert (item.status, item.last_error) == ("processed", None)
