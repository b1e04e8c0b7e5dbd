"""IoT Core, emulated: an amqtt broker plus the telemetry topic rule feeding the ingest queue.

The broker runs on its own asyncio loop in a thread. A broker plugin sees every accepted
PUBLISH with the publisher's client id (what the rule's `clientid()` returns on AWS) and hands
the rule's output to a forwarder thread that batches SendMessage calls to SQS.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import BaseContext
from amqtt.mqtt.publish import PublishPacket
from amqtt.plugins.base import BasePlugin
from amqtt.session import Session

from climatrak_local.activity import Activity
from climatrak_local.pollers import SQS_RECEIVE_LIMIT
from climatrak_local.topic_rule import apply_telemetry_rule

logger = logging.getLogger(__name__)

RuleSink = Callable[[dict[str, Any]], None]

# amqtt builds plugins itself from a dotted class path and a config dict, so the plugin finds
# its runtime's sink through this registry rather than a constructor argument.
_SINKS: dict[str, RuleSink] = {}
_sink_ids = itertools.count(1)


class TopicRulePlugin(BasePlugin[BaseContext]):
    """Applies the telemetry rule to every PUBLISH a connected client sends."""

    @dataclass
    class Config:
        sink_id: str = ""

    async def on_mqtt_packet_received(self, *, packet: Any, session: Session | None = None) -> None:
        # This hook is scheduled as the packet is read, before the broker answers PUBACK, so a
        # QoS 1 publish that was acknowledged has already reached the rule (wait_until_idle
        # relies on that). Later broker hooks (message_received/broadcast) run after the PUBACK.
        if not isinstance(packet, PublishPacket) or session is None or packet.topic_name is None:
            return
        received_at_ms = int(time.time() * 1000)
        client_id = session.client_id or ""
        output = apply_telemetry_rule(bytes(packet.data or b""), packet.topic_name, client_id, received_at_ms)
        sink = _SINKS.get(self.config.sink_id)
        if output is not None and sink is not None:
            sink(output)


class SqsRuleAction:
    """The rule's SQS action: sends rule outputs to the queue, up to 10 per SendMessageBatch,
    never waiting for a batch to fill (it sends whatever is pending as soon as it can)."""

    def __init__(self, sqs: Any, queue_url: str, activity: Activity) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._activity = activity
        self._pending: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="iot-rule-sqs-action", daemon=True)
        self.sent = 0

    def __call__(self, output: dict[str, Any]) -> None:
        self._activity.begin()  # counted until it is in the queue, so wait_until_idle sees it
        self._pending.put(output)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._pending.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._pending.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < SQS_RECEIVE_LIMIT:
                try:
                    more = self._pending.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._pending.put(None)  # stop after this batch
                    break
                batch.append(more)
            try:
                self._send(batch)
            except Exception:
                # IoT Core would invoke the rule's error action; locally, log and drop.
                logger.exception("topic rule SQS action failed for %d messages", len(batch))
            finally:
                self._activity.end(len(batch))

    def _send(self, batch: list[dict[str, Any]]) -> None:
        response = self._sqs.send_message_batch(
            QueueUrl=self._queue_url,
            Entries=[{"Id": str(i), "MessageBody": json.dumps(output)} for i, output in enumerate(batch)],
        )
        self.sent += len(response.get("Successful", []))
        if response.get("Failed"):
            logger.error("topic rule SQS action: %d messages rejected", len(response["Failed"]))


class MqttBroker:
    """An amqtt broker on 127.0.0.1 (anonymous clients allowed) in its own event-loop thread."""

    def __init__(self, port: int, rule_sink: RuleSink) -> None:
        self._requested_port = port
        self.port = port
        self._sink_id = str(next(_sink_ids))
        _SINKS[self._sink_id] = rule_sink
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mqtt-broker", daemon=True)
        self._broker: Broker | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self._requested_port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
                f"{TopicRulePlugin.__module__}.{TopicRulePlugin.__qualname__}": {"sink_id": self._sink_id},
            },
        }

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        self._submit(self._start()).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        try:
            if self._broker is not None:
                self._submit(self._broker.shutdown()).result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._loop.close()
            _SINKS.pop(self._sink_id, None)

    def _submit(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _start(self) -> None:
        self._broker = Broker(self._config(), loop=self._loop)
        await self._broker.start()
        # With port 0 the OS picked one: read it back from the listening socket.
        server = self._broker._servers["default"].instance
        self.port = int(server.sockets[0].getsockname()[1])
