from __future__ import annotations

import json
from datetime import timedelta

import pytest

from climatrak.core.resources import CONSUMERS, COST_ENGINE, EVENT_BUS
from climatrak.events.relay import MAX_PUBLISH_ATTEMPTS, RELAY_BATCH_SIZE
from climatrak.events.repository import STUCK_AFTER
from climatrak.events.routing import consumer_event_pattern
from climatrak.events.stream import OUTBOX_STREAM_FILTER
from tests.infra.conftest import SynthesizedApp
from tests.infra.helpers import (
    actions_of,
    as_list,
    logical_id,
    policy_statements,
    refers_to,
    resources,
    statements_with,
)

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def relay_mapping(synthesized: SynthesizedApp) -> dict:
    relay_id = logical_id(synthesized.stacks.events.relay.function)
    (mapping,) = [
        m["Properties"]
        for m in resources(synthesized.events, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": relay_id}
    ]
    return mapping


def test_the_bus_is_archived_for_a_year(synthesized: SynthesizedApp) -> None:
    (archive,) = resources(synthesized.events, "AWS::Events::Archive").values()
    props = archive["Properties"]
    assert props["RetentionDays"] == EVENT_BUS.archive_retention_days
    assert props["SourceArn"] == {"Fn::GetAtt": [logical_id(synthesized.stacks.events.bus), "Arn"]}
    assert props["EventPattern"] == {"source": [{"prefix": "climatrak."}]}
    assert "EVENTBUSNAME" in synthesized.events.to_json()["Outputs"]  # read by `climatrak events replay`


def test_the_relay_reads_only_waiting_outbox_items_from_the_main_table_stream(synthesized: SynthesizedApp) -> None:
    mapping = relay_mapping(synthesized)
    (event_filter,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(event_filter["Pattern"]) == OUTBOX_STREAM_FILTER
    assert "StreamArn" in json.dumps(mapping["EventSourceArn"]) and "MainTable" in json.dumps(mapping["EventSourceArn"])
    assert mapping["StartingPosition"] == "TRIM_HORIZON"


def test_the_relay_mapping_retries_bisects_and_keeps_what_it_gives_up(synthesized: SynthesizedApp) -> None:
    mapping = relay_mapping(synthesized)
    assert mapping["BatchSize"] == RELAY_BATCH_SIZE == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    # the relay marks an event failed before the mapping would give up on its record
    assert mapping["MaximumRetryAttempts"] > MAX_PUBLISH_ATTEMPTS
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": [logical_id(synthesized.stacks.events.relay_failure_queue), "Arn"]}


def test_the_relay_may_read_the_stream_update_items_and_put_events_on_its_bus_only(
    synthesized: SynthesizedApp,
) -> None:
    events = synthesized.stacks.events
    statements = policy_statements(synthesized.events, logical_id(events.relay.role))
    assert actions_of(statements) >= {"dynamodb:GetRecords", "dynamodb:UpdateItem", "events:PutEvents"}
    assert not {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan"} & actions_of(statements)
    (put_events,) = statements_with(statements, "events:PutEvents")
    assert put_events["Resource"] == {"Fn::GetAtt": [logical_id(events.bus), "Arn"]}
    (update,) = statements_with(statements, "dynamodb:UpdateItem")
    assert "MainTable" in json.dumps(update["Resource"]) and "index" not in json.dumps(update["Resource"])
    (stream,) = statements_with(statements, "dynamodb:GetRecords")
    assert "StreamArn" in json.dumps(stream["Resource"])
    wildcards = {a for s in statements if s["Resource"] == "*" for a in as_list(s["Action"])}
    assert wildcards == {"dynamodb:ListStreams", "xray:PutTelemetryRecords", "xray:PutTraceSegments"}


def test_every_consumer_has_a_rule_a_queue_with_a_dlq_and_a_function(synthesized: SynthesizedApp) -> None:
    consumers = synthesized.stacks.events.consumers
    assert [c.spec for c in consumers] == list(CONSUMERS)
    queues = resources(synthesized.events, "AWS::SQS::Queue")
    rules = resources(synthesized.events, "AWS::Events::Rule")
    for consumer in consumers:
        spec = consumer.spec
        queue = queues[logical_id(consumer.queue)]["Properties"]
        visibility = spec.queue.visibility_timeout_seconds
        assert queue["VisibilityTimeout"] == visibility
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [logical_id(consumer.dead_letter_queue), "Arn"]},
            "maxReceiveCount": spec.queue.max_receive_count,
        }
        rule = rules[logical_id(consumer.rule)]["Properties"]
        assert rule["EventBusName"] == {"Ref": logical_id(synthesized.stacks.events.bus)}
        assert rule["EventPattern"] == consumer_event_pattern(spec)
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [logical_id(consumer.queue), "Arn"]}
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [logical_id(consumer.dead_letter_queue), "Arn"]}


def test_the_cost_engine_consumer_runs_its_handler_on_partial_batches(synthesized: SynthesizedApp) -> None:
    (consumer,) = [c for c in synthesized.stacks.events.consumers if c.spec == COST_ENGINE]
    function_id = logical_id(consumer.function.function)
    function = resources(synthesized.events, "AWS::Lambda::Function")[function_id]["Properties"]
    assert function["Handler"] == COST_ENGINE.handler == "cost_engine.handler.handler"
    timeout, visibility = COST_ENGINE.timeout_seconds, COST_ENGINE.queue.visibility_timeout_seconds
    assert function["Timeout"] == timeout
    assert visibility >= 6 * timeout  # AWS guidance for SQS event sources
    assert set(function["Environment"]["Variables"]) >= {"MAIN_TABLE", "IDEMPOTENCY_TABLE"}
    (mapping,) = [
        m["Properties"]
        for m in resources(synthesized.events, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [logical_id(consumer.queue), "Arn"]}
    assert mapping["BatchSize"] == COST_ENGINE.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_consumers_reach_the_main_and_idempotency_tables_and_their_own_queue_only(
    synthesized: SynthesizedApp,
) -> None:
    for consumer in synthesized.stacks.events.consumers:
        statements = policy_statements(synthesized.events, logical_id(consumer.function.role))
        tables = {
            name
            for s in statements
            if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
            for name in ("MainTable", "IdempotencyTable", "TelemetryTable")
            if name in json.dumps(s["Resource"])
        }
        assert tables == {"MainTable", "IdempotencyTable"}
        sqs_resources = [s["Resource"] for s in statements if any(a.startswith("sqs:") for a in as_list(s["Action"]))]
        assert sqs_resources == [{"Fn::GetAtt": [logical_id(consumer.queue), "Arn"]}]
        assert not statements_with(statements, "events:PutEvents")


def test_every_events_queue_is_encrypted_and_tls_only(synthesized: SynthesizedApp) -> None:
    policies = resources(synthesized.events, "AWS::SQS::QueuePolicy").values()
    queues = resources(synthesized.events, "AWS::SQS::Queue")
    assert queues
    for queue_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        statements = [
            s
            for p in policies
            if {"Ref": queue_id} in p["Properties"]["Queues"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def observability_alarms(synthesized: SynthesizedApp) -> list[dict]:
    return [a["Properties"] for a in resources(synthesized.observability, "AWS::CloudWatch::Alarm").values()]


def test_failed_events_alarm_for_the_relay_and_every_consumer(synthesized: SynthesizedApp) -> None:
    failed = {
        tuple(d["Value"] for d in alarm["Dimensions"]): alarm
        for alarm in observability_alarms(synthesized)
        if alarm["MetricName"] == "EventsFailed"
    }
    assert set(failed) == {("relay",), *((spec.name,) for spec in CONSUMERS)}
    for alarm in failed.values():
        assert alarm["Namespace"] == "ClimaTrak"
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"]


def test_dlq_depth_alarms_cover_the_relay_and_every_consumer(synthesized: SynthesizedApp) -> None:
    events = synthesized.stacks.events
    watched = [events.relay_failure_queue, *(c.dead_letter_queue for c in events.consumers)]
    depth = [a for a in observability_alarms(synthesized) if a["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    for queue in watched:
        (alarm,) = [a for a in depth if refers_to(a["Dimensions"], logical_id(queue))]
        assert alarm["Threshold"] == 0


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_the_relay_and_consumers_alarm_on_errors_and_throttles(synthesized: SynthesizedApp, metric: str) -> None:
    events = synthesized.stacks.events
    for function in [events.relay, *(c.function for c in events.consumers)]:
        alarms = [
            a
            for a in observability_alarms(synthesized)
            if a["MetricName"] == metric and refers_to(a["Dimensions"], logical_id(function.function))
        ]
        assert len(alarms) == 1


def test_a_stalled_relay_pages_someone_on_its_iterator_age(synthesized: SynthesizedApp) -> None:
    relay_function = logical_id(synthesized.stacks.events.relay.function)
    (alarm,) = [
        a
        for a in observability_alarms(synthesized)
        if a["MetricName"] == "IteratorAge" and refers_to(a["Dimensions"], relay_function)
    ]
    assert (alarm["Namespace"], alarm["Statistic"]) == ("AWS/Lambda", "Maximum")
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    # milliseconds: a relay reading records older than the stuck threshold is behind
    threshold_ms = STUCK_AFTER / timedelta(milliseconds=1)
    assert alarm["Threshold"] == threshold_ms
    assert alarm["AlarmActions"]
