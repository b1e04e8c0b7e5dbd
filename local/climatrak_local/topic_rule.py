"""The IoT Core topic rule, emulated: which MQTT publishes it selects and what it emits.

The rule's SQL lives in `climatrak.core.resources.TELEMETRY_RULE_SQL`; this module reproduces
its result exactly: `encode(*, 'base64')`, `topic()`, `clientid()`, `timestamp()`.
"""

from __future__ import annotations

import base64
from typing import Any

from climatrak.core.resources import TELEMETRY_TOPIC_FILTER


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic filter matching: `+` is exactly one level, a trailing `#` any number of levels."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):
        return False  # wildcards never match reserved `$` topics (MQTT 3.1.1 §4.7.2)
    for index, level in enumerate(filter_levels):
        if level == "#":
            return index == len(filter_levels) - 1
        if index >= len(topic_levels) or (level != "+" and level != topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


def rule_output(payload: bytes, topic: str, client_id: str, received_at_ms: int) -> dict[str, Any]:
    """What TELEMETRY_RULE_SQL selects for one message, keyed by its column aliases."""
    return {
        "payload_b64": base64.b64encode(payload).decode("ascii"),
        "topic": topic,
        "client_id": client_id,
        "received_at": received_at_ms,
    }


def apply_telemetry_rule(payload: bytes, topic: str, client_id: str, received_at_ms: int) -> dict[str, Any] | None:
    """The telemetry rule's output for a publish, or None when its FROM clause does not select it."""
    if not topic or "+" in topic or "#" in topic or not topic_matches(TELEMETRY_TOPIC_FILTER, topic):
        return None  # wildcards are not valid in a PUBLISH topic; the broker rejects those
    return rule_output(payload, topic, client_id, received_at_ms)
