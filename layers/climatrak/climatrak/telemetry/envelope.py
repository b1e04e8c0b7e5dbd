"""The message on the ingest queue: what the IoT topic rule (or POST /ingest) hands to ingest.

IoT rule output (core.resources.TELEMETRY_RULE_SQL):
    {"payload_b64": ..., "topic": ..., "client_id": ..., "received_at": <epoch ms>}
POST /ingest adds "ts" (the gateway's message time, optional) and "via": "http".
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

TOPIC_PARTS = 7  # tenants/{tenant}/sites/{site}/assets/{asset}/telemetry


class EnvelopeError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# slots without frozen: frozen dataclasses construct noticeably slower on this hot path
@dataclass(slots=True)
class Topic:
    tenant: str
    site: str
    asset: str


def parse_topic(topic: str) -> Topic:
    """The parts of a device topic; memoised, since a device publishes on the same topic all day."""
    parsed = _topics.get(topic)
    if parsed is None:
        parsed = _parse_topic_uncached(topic)
        if len(_topics) >= _TOPIC_CACHE_LIMIT:
            _topics.clear()  # topics come from devices: bound the memory, a refill is cheap
        _topics[topic] = parsed
    return parsed


def _parse_topic_uncached(topic: str) -> Topic:
    parts = topic.split("/")
    if (
        len(parts) != TOPIC_PARTS
        or parts[0] != "tenants"
        or parts[2] != "sites"
        or parts[4] != "assets"
        or parts[6] != "telemetry"
        or not all(parts[1:6:2])
    ):
        raise EnvelopeError("invalid_topic", "topic is not tenants/{tenant}/sites/{site}/assets/{asset}/telemetry")
    return Topic(tenant=parts[1], site=parts[3], asset=parts[5])


# Shared Topic instances: nothing mutates a message's topic (it is read for routing and logs only).
_topics: dict[str, Topic] = {}
_TOPIC_CACHE_LIMIT = 16384


@dataclass(slots=True)
class IngestMessage:
    message_id: str
    topic: Topic
    client_id: str
    received_at_ms: int
    payload: bytes
    ts_ms: int | None
    via: str


def decode(body: str | bytes, message_id: str, sent_at_ms: int) -> IngestMessage:
    """`sent_at_ms` (the queue's SentTimestamp) stands in for a missing received_at."""
    try:
        envelope: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise EnvelopeError("malformed_envelope", "queue message is not JSON") from None
    # orjson builds exact dict/str/int/float objects, so `type(x) is` checks equal isinstance here
    # and skip its slower subclass walk on this per-message path.
    if type(envelope) is not dict:
        raise EnvelopeError("malformed_envelope", "queue message is not a JSON object")
    get = envelope.get
    client_id = get("client_id")
    if type(client_id) is not str or not client_id:
        raise EnvelopeError("missing_client_id", "message has no MQTT client id")
    topic = get("topic")
    topic = parse_topic(topic if type(topic) is str else str(topic or ""))
    try:
        payload = binascii.a2b_base64(get("payload_b64") or "", strict_mode=True)
    except (binascii.Error, TypeError, ValueError):
        raise EnvelopeError("malformed_envelope", "payload_b64 is not base64") from None
    received_at = get("received_at")
    if type(received_at) is not int:
        received_at = int(received_at) if isinstance(received_at, int | float) else sent_at_ms
    ts = get("ts")
    if ts is not None:
        ts = int(ts) if isinstance(ts, int | float) else None
    via = get("via")
    if type(via) is not str or not via:
        via = str(via or "iot")
    return IngestMessage(message_id, topic, client_id, received_at, payload, ts, via)


def encode(topic: str, client_id: str, payload: bytes, received_at_ms: int, ts_ms: int | None, via: str) -> str:
    """Build a queue message body (used by POST /ingest; the IoT rule builds the same shape)."""
    envelope: dict[str, Any] = {
        "payload_b64": base64.b64encode(payload).decode("ascii"),
        "topic": topic,
        "client_id": client_id,
        "received_at": received_at_ms,
        "via": via,
    }
    if ts_ms is not None:
        envelope["ts"] = ts_ms
    return orjson.dumps(envelope).decode()
