"""Alerts on AWS: the two alert consumers, the no-data schedule, the notifier's SNS scope and
what ingest needs from the Main table to evaluate rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from climatrak.core.config import Settings
from climatrak.core.resources import (
    ALERT_ACTIONS,
    ALERT_NOTIFIER,
    MAIN_TABLE,
    NO_DATA_CHECK,
    TELEMETRY_TABLE,
    ConsumerSpec,
)
from infra_cdk.stacks.events import EventConsumer
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

# CreateTopic with Tags (the notifier tags each topic with its tenant) needs TagResource too.
TOPIC_ACTIONS = {"sns:CreateTopic", "sns:GetTopicAttributes", "sns:Publish", "sns:TagResource"}
# A transaction (TransactWriteItems) is authorised action by action on the table.
TRANSACTION_ACTIONS = {"dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
NON_SETTINGS_VARIABLES = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}


def consumer(synthesized: SynthesizedApp, spec: ConsumerSpec) -> EventConsumer:
    (found,) = [c for c in synthesized.stacks.events.consumers if c.spec == spec]
    return found


def no_data_schedule(synthesized: SynthesizedApp) -> Any:
    (found,) = [s for s in synthesized.stacks.events.schedules if s.spec == NO_DATA_CHECK]
    return found


def function_props(synthesized: SynthesizedApp, function: Any) -> dict[str, Any]:
    props: dict[str, Any] = resources(synthesized.events, "AWS::Lambda::Function")[logical_id(function.function)][
        "Properties"
    ]
    return props


def events_role_statements(synthesized: SynthesizedApp, function: Any) -> list[dict[str, Any]]:
    return policy_statements(synthesized.events, logical_id(function.role))


def resources_with(statements: list[dict[str, Any]], action: str) -> list[Any]:
    return [resource for s in statements_with(statements, action) for resource in as_list(s["Resource"])]


def is_table(resource: Any, table_logical_id: str) -> bool:
    """The table ARN itself (not one of its indexes)."""
    return refers_to(resource, table_logical_id) and "/index/" not in json.dumps(resource)


def is_index(resource: Any, table_logical_id: str, index: str) -> bool:
    return refers_to(resource, table_logical_id) and f'"/index/{index}"' in json.dumps(resource)


# -- the consumers ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [ALERT_ACTIONS, ALERT_NOTIFIER], ids=lambda spec: spec.name)
def test_alert_consumer_queue_redrives_to_its_own_dlq(synthesized: SynthesizedApp, spec: ConsumerSpec) -> None:
    found = consumer(synthesized, spec)
    queues = resources(synthesized.events, "AWS::SQS::Queue")
    props = queues[logical_id(found.queue)]["Properties"]
    assert props["VisibilityTimeout"] == 180
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [logical_id(found.dead_letter_queue), "Arn"]},
        "maxReceiveCount": 5,
    }
    assert logical_id(found.dead_letter_queue) in queues
    handler = function_props(synthesized, found.function)["Handler"]
    assert handler == spec.handler == f"{spec.name}.handler.handler"


def test_alert_actions_hears_raised_alerts_and_closed_work_orders(synthesized: SynthesizedApp) -> None:
    found = consumer(synthesized, ALERT_ACTIONS)
    rule = resources(synthesized.events, "AWS::Events::Rule")[logical_id(found.rule)]["Properties"]
    assert rule["EventBusName"] == {"Ref": logical_id(synthesized.stacks.events.bus)}
    assert rule["EventPattern"]["detail-type"] == ["alert.raised", "work_order.closed"]
    assert "climatrak.cmms" in rule["EventPattern"]["source"]  # work_order.closed comes from the CMMS
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(found.queue), "Arn"]}


def test_alert_notifier_hears_raised_alerts_only(synthesized: SynthesizedApp) -> None:
    found = consumer(synthesized, ALERT_NOTIFIER)
    rule = resources(synthesized.events, "AWS::Events::Rule")[logical_id(found.rule)]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["alert.raised"]
    assert "climatrak.cmms" not in rule["EventPattern"]["source"]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(found.queue), "Arn"]}


def test_the_notifier_may_create_and_publish_to_this_stages_alert_topics_only(synthesized: SynthesizedApp) -> None:
    stage = synthesized.stacks.events.stage
    found = consumer(synthesized, ALERT_NOTIFIER)
    statements = events_role_statements(synthesized, found.function)
    assert {a for a in actions_of(statements) if a.startswith("sns:")} == TOPIC_ACTIONS
    (topics,) = [s for s in statements if TOPIC_ACTIONS & set(as_list(s["Action"]))]
    assert set(as_list(topics["Action"])) == TOPIC_ACTIONS
    separator, parts = topics["Resource"]["Fn::Join"]
    assert separator == ""
    assert parts[0] == "arn:" and ":sns:" in parts
    assert parts[-1] == f":{stage.alerts_topic_prefix()}-*" == ":climatrak-alerts-dev-*"
    variables = function_props(synthesized, found.function)["Environment"]["Variables"]
    assert variables["ALERTS_TOPIC_PREFIX"] == "climatrak-alerts-dev"


def test_no_other_function_reaches_sns(synthesized: SynthesizedApp) -> None:
    notifier_role = logical_id(consumer(synthesized, ALERT_NOTIFIER).function.role)
    for template in (synthesized.events, synthesized.ingest, synthesized.api):
        for policy in resources(template, "AWS::IAM::Policy").values():
            props = policy["Properties"]
            if {"Ref": notifier_role} in props.get("Roles", []) and template is synthesized.events:
                continue
            actions = actions_of(props["PolicyDocument"]["Statement"])
            assert not any(action.startswith("sns:") for action in actions), props["PolicyName"]


@pytest.mark.parametrize("spec", [ALERT_ACTIONS, ALERT_NOTIFIER], ids=lambda spec: spec.name)
def test_alert_consumers_read_and_write_the_main_table(synthesized: SynthesizedApp, spec: ConsumerSpec) -> None:
    main_id = logical_id(synthesized.stacks.data.main_table)
    statements = events_role_statements(synthesized, consumer(synthesized, spec).function)
    for action in TRANSACTION_ACTIONS | {"dynamodb:GetItem", "dynamodb:Query"}:
        assert any(is_table(r, main_id) for r in resources_with(statements, action)), action
    assert any(is_index(r, main_id, "gsi1") for r in resources_with(statements, "dynamodb:Query"))


# -- the no-data schedule --------------------------------------------------------------------


def test_the_no_data_check_runs_every_minute(synthesized: SynthesizedApp) -> None:
    schedule = no_data_schedule(synthesized)
    rule = resources(synthesized.events, "AWS::Events::Rule")[logical_id(schedule.rule)]["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert "EventBusName" not in rule  # schedules live on the default bus
    (target,) = rule["Targets"]
    function_id = logical_id(schedule.function.function)
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    (permission,) = [
        p["Properties"]
        for p in resources(synthesized.events, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": [logical_id(schedule.rule), "Arn"]}


def test_the_no_data_function_runs_its_handler_and_is_not_retried(synthesized: SynthesizedApp) -> None:
    schedule = no_data_schedule(synthesized)
    props = function_props(synthesized, schedule.function)
    assert props["Handler"] == NO_DATA_CHECK.handler == "alerts_no_data.handler.handler"
    configured_timeout = NO_DATA_CHECK.timeout_seconds
    assert props["Timeout"] == configured_timeout
    assert props["Runtime"] == "python3.12"
    assert {"MAIN_TABLE", "TELEMETRY_TABLE"} <= set(props["Environment"]["Variables"])
    (invoke_config,) = [
        c["Properties"]
        for c in resources(synthesized.events, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": logical_id(schedule.function.function)}
    ]
    assert invoke_config["MaximumRetryAttempts"] == 0  # the next run does the same work


def test_the_no_data_function_reads_and_writes_main_and_only_reads_telemetry(synthesized: SynthesizedApp) -> None:
    data = synthesized.stacks.data
    main_id = logical_id(data.main_table)
    telemetry_id = logical_id(data.tables[TELEMETRY_TABLE.logical_id])
    statements = events_role_statements(synthesized, no_data_schedule(synthesized).function)
    for action in TRANSACTION_ACTIONS | {"dynamodb:GetItem"}:
        assert any(is_table(r, main_id) for r in resources_with(statements, action)), action
    assert any(is_index(r, main_id, "gsi1") for r in resources_with(statements, "dynamodb:Query"))
    assert any(is_table(r, telemetry_id) for r in resources_with(statements, "dynamodb:Query"))
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert not any(refers_to(r, telemetry_id) for r in resources_with(statements, action)), action
    actions = actions_of(statements)
    assert not any(action.startswith(("sqs:", "sns:", "s3:", "events:")) for action in actions)


def test_every_events_function_gets_only_settings_variables(synthesized: SynthesizedApp) -> None:
    settings_variables = {name.upper() for name in Settings.model_fields}
    for function in resources(synthesized.events, "AWS::Lambda::Function").values():
        variables = set(function["Properties"]["Environment"]["Variables"])
        assert variables - NON_SETTINGS_VARIABLES <= settings_variables


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_the_alert_functions_alarm_on_errors_and_throttles(synthesized: SynthesizedApp, metric: str) -> None:
    functions = [
        no_data_schedule(synthesized).function,
        consumer(synthesized, ALERT_ACTIONS).function,
        consumer(synthesized, ALERT_NOTIFIER).function,
    ]
    alarms = [a["Properties"] for a in resources(synthesized.observability, "AWS::CloudWatch::Alarm").values()]
    for function in functions:
        matching = [
            a for a in alarms if a["MetricName"] == metric and refers_to(a["Dimensions"], logical_id(function.function))
        ]
        assert len(matching) == 1
        assert matching[0]["Threshold"] == 0
        assert matching[0]["AlarmActions"]


@pytest.mark.parametrize("spec", [ALERT_ACTIONS, ALERT_NOTIFIER], ids=lambda spec: spec.name)
def test_the_alert_dlqs_alarm_on_any_message(synthesized: SynthesizedApp, spec: ConsumerSpec) -> None:
    dlq_id = logical_id(consumer(synthesized, spec).dead_letter_queue)
    alarms = [a["Properties"] for a in resources(synthesized.observability, "AWS::CloudWatch::Alarm").values()]
    (alarm,) = [
        a
        for a in alarms
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible" and refers_to(a["Dimensions"], dlq_id)
    ]
    assert alarm["Threshold"] == 0


# -- ingest evaluates rules ------------------------------------------------------------------


def test_ingest_may_query_gsi1_and_transact_on_the_main_table(synthesized: SynthesizedApp) -> None:
    main_id = logical_id(synthesized.stacks.data.tables[MAIN_TABLE.logical_id])
    statements = policy_statements(synthesized.ingest, logical_id(synthesized.stacks.ingest.ingest.role))
    assert any(is_index(r, main_id, "gsi1") for r in resources_with(statements, "dynamodb:Query"))
    for action in TRANSACTION_ACTIONS | {"dynamodb:GetItem", "dynamodb:Query"}:
        assert any(is_table(r, main_id) for r in resources_with(statements, action)), action
    # the data key: reading and writing encrypted items
    kms = {a for a in actions_of(statements) if a.startswith("kms:")}
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= kms
