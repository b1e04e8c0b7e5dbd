from __future__ import annotations

import pytest

from tests.infra.conftest import SynthesizedApp
from tests.infra.helpers import logical_id, refers_to, resources

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def alarms(synthesized: SynthesizedApp) -> list[dict]:
    return [alarm["Properties"] for alarm in resources(synthesized.observability, "AWS::CloudWatch::Alarm").values()]


def alarms_on(synthesized: SynthesizedApp, metric: str, target_logical_id: str) -> list[dict]:
    return [
        alarm
        for alarm in alarms(synthesized)
        if alarm["MetricName"] == metric and refers_to(alarm["Dimensions"], target_logical_id)
    ]


@pytest.mark.parametrize("queue_attribute", ["dead_letter_queue", "rule_error_queue"])
def test_dead_letter_queue_depth_alarms_on_any_message(synthesized: SynthesizedApp, queue_attribute: str) -> None:
    queue = getattr(synthesized.stacks.ingest, queue_attribute)
    (alarm,) = alarms_on(synthesized, "ApproximateNumberOfMessagesVisible", logical_id(queue))
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"], "the alarm must notify someone"


def test_ingest_queue_age_alarm(synthesized: SynthesizedApp) -> None:
    (alarm,) = alarms_on(synthesized, "ApproximateAgeOfOldestMessage", logical_id(synthesized.stacks.ingest.queue))
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert 0 < alarm["Threshold"] <= 900


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_alarms_on_errors_and_throttles(synthesized: SynthesizedApp, metric: str) -> None:
    functions = [
        synthesized.stacks.ingest.ingest,
        synthesized.stacks.api.api_function,
        synthesized.stacks.api.ingest_http_function,
    ]
    for function in functions:
        (alarm,) = alarms_on(synthesized, metric, logical_id(function.function))
        assert alarm["Namespace"] == "AWS/Lambda"
        assert alarm["Threshold"] == 0


def test_alarm_topic_is_encrypted_and_tls_only(synthesized: SynthesizedApp) -> None:
    (topic,) = resources(synthesized.observability, "AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]
    (policy,) = resources(synthesized.observability, "AWS::SNS::TopicPolicy").values()
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )
