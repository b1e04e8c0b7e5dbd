import base64

import pytest

from climatrak.core.resources import TELEMETRY_RULE_SQL, TELEMETRY_TOPIC_FILTER
from climatrak_local.topic_rule import apply_telemetry_rule, topic_matches

TOPIC = "tenants/umc/sites/1/assets/7/telemetry"


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        (TELEMETRY_TOPIC_FILTER, TOPIC, True),
        (TELEMETRY_TOPIC_FILTER, "tenants/umc/sites/1/assets/7/telemetry/extra", False),
        (TELEMETRY_TOPIC_FILTER, "tenants/umc/sites/1/assets/telemetry", False),
        (TELEMETRY_TOPIC_FILTER, "tenants/umc/sites/1/assets/7/status", False),
        (TELEMETRY_TOPIC_FILTER, "tenants/umc/sites//assets/7/telemetry", True),  # empty level matches +
        ("tenants/#", "tenants/umc/anything/deep", True),
        ("tenants/#", "tenants", True),
        ("#", "$aws/things/x/shadow", False),
        ("+/x", "$SYS/x", False),
        ("a/+", "a/b/c", False),
    ],
)
def test_topic_matches(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


def test_rule_output_is_what_the_rule_sql_selects() -> None:
    payload = b'{"sensors": [{"sensor_id": "t1", "value": 21.5}]}'

    output = apply_telemetry_rule(payload, TOPIC, "dev-1", 1_700_000_000_123)

    assert output == {
        "payload_b64": base64.b64encode(payload).decode(),
        "topic": TOPIC,
        "client_id": "dev-1",
        "received_at": 1_700_000_000_123,
    }
    # The emulation emits exactly the columns the deployed rule selects.
    for alias in output:
        assert f"AS {alias}" in TELEMETRY_RULE_SQL


def test_rule_keeps_non_json_payloads_byte_for_byte() -> None:
    payload = b"\xff\x00not json"

    output = apply_telemetry_rule(payload, TOPIC, "dev-1", 1)

    assert output is not None
    assert base64.b64decode(output["payload_b64"]) == payload


@pytest.mark.parametrize("topic", ["tenants/umc/status", "tenants/+/sites/1/assets/7/telemetry", ""])
def test_rule_ignores_topics_outside_its_filter(topic: str) -> None:
    assert apply_telemetry_rule(b"{}", topic, "dev-1", 1) is None
