"""The local runtime, started once per test session on free ports.

Tests talk to it over real sockets: HTTP at `local_runtime.api_url`, MQTT on
`local_runtime.mqtt_port`, AWS APIs at `local_runtime.endpoint_url` (or `local_runtime.client(...)`).
While it runs, os.environ points the product's code at its moto server.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest

from climatrak_local.runtime import LocalRuntime

Publish = Callable[[str, str, bytes], None]


@pytest.fixture(scope="session")
def local_runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(api_port=0, mqtt_port=0, moto_port=0) as runtime:
        yield runtime


@pytest.fixture(autouse=True)
def quiet_disabled_metrics() -> None:
    """The runtime disables Powertools metrics; pytest resets warning filters per test, so the
    runtime's own filter for the resulting "No application metrics" warning is renewed here."""
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


@pytest.fixture
def mqtt_publish(local_runtime: LocalRuntime) -> Iterator[Publish]:
    """publish(client_id, topic, payload): QoS 1 and waits for the PUBACK, so the message has
    reached the topic rule when it returns (wait_until_idle then covers the rest)."""
    clients: dict[str, mqtt.Client] = {}

    def publish(client_id: str, topic: str, payload: bytes) -> None:
        client = clients.get(client_id)
        if client is None:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
            client.connect("127.0.0.1", local_runtime.mqtt_port)
            client.loop_start()
            clients[client_id] = client
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)

    yield publish
    for client in clients.values():
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
