from __future__ import annotations

import pytest

from climatrak.core.resources import (
    INGEST_BATCH_SIZE,
    INGEST_BATCH_WINDOW_SECONDS,
    INGEST_FUNCTION_TIMEOUT_SECONDS,
    INGEST_QUEUE,
    MAIN_TABLE,
    TELEMETRY_RULE_SQL,
    TELEMETRY_TABLE,
)
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


def rule_payload(synthesized: SynthesizedApp) -> dict:
    (rule,) = resources(synthesized.ingest, "AWS::IoT::TopicRule").values()
    payload: dict = rule["Properties"]["TopicRulePayload"]
    return payload


def test_topic_rule_selects_with_the_shared_sql(synthesized: SynthesizedApp) -> None:
    payload = rule_payload(synthesized)
    assert payload["Sql"] == TELEMETRY_RULE_SQL
    assert payload["RuleDisabled"] is False


def test_topic_rule_sends_raw_messages_to_the_ingest_queue(synthesized: SynthesizedApp) -> None:
    (action,) = rule_payload(synthesized)["Actions"]
    sqs_action = action["Sqs"]
    assert refers_to(sqs_action["QueueUrl"], logical_id(synthesized.stacks.ingest.queue))
    assert sqs_action["UseBase64"] is False


def test_topic_rule_errors_go_to_the_error_queue(synthesized: SynthesizedApp) -> None:
    error_action = rule_payload(synthesized)["ErrorAction"]["Sqs"]
    assert refers_to(error_action["QueueUrl"], logical_id(synthesized.stacks.ingest.rule_error_queue))


def test_topic_rule_role_may_only_send_to_its_queues(synthesized: SynthesizedApp) -> None:
    role_arn = rule_payload(synthesized)["Actions"][0]["Sqs"]["RoleArn"]
    role_id = role_arn["Fn::GetAtt"][0]
    statements = policy_statements(synthesized.ingest, role_id)
    assert actions_of(statements) == {"sqs:SendMessage"}
    targets = [resource for s in statements for resource in as_list(s["Resource"])]
    assert sorted(t["Fn::GetAtt"][0] for t in targets) == sorted(
        [logical_id(synthesized.stacks.ingest.queue), logical_id(synthesized.stacks.ingest.rule_error_queue)]
    )


def test_device_policy_binds_client_id_and_tenant_prefix(synthesized: SynthesizedApp) -> None:
    (policy,) = resources(synthesized.ingest, "AWS::IoT::Policy").values()
    statements = {s["Action"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {"iot:Connect", "iot:Publish"}
    connect_resource = str(statements["iot:Connect"]["Resource"])
    assert ":client/${iot:Connection.Thing.ThingName}" in connect_resource
    publish_resource = str(statements["iot:Publish"]["Resource"])
    assert ":topic/tenants/${iot:Connection.Thing.Attributes[tenant]}/*" in publish_resource


def test_ingest_queue_redrives_to_its_dlq(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks.ingest
    props = resources(synthesized.ingest, "AWS::SQS::Queue")[logical_id(stack.queue)]["Properties"]
    visibility = INGEST_QUEUE.visibility_timeout_seconds
    assert props["VisibilityTimeout"] == visibility
    assert props["RedrivePolicy"]["maxReceiveCount"] == INGEST_QUEUE.max_receive_count
    assert props["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [logical_id(stack.dead_letter_queue), "Arn"]}


def test_every_queue_is_encrypted_and_tls_only(synthesized: SynthesizedApp) -> None:
    queues = resources(synthesized.ingest, "AWS::SQS::Queue")
    assert len(queues) == 3
    policies = resources(synthesized.ingest, "AWS::SQS::QueuePolicy").values()
    for queue_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        (policy,) = [p for p in policies if {"Ref": queue_id} in p["Properties"]["Queues"]]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )


def test_ingest_function_consumes_large_batches_with_partial_failures(synthesized: SynthesizedApp) -> None:
    (mapping,) = resources(synthesized.ingest, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [logical_id(synthesized.stacks.ingest.queue), "Arn"]}
    assert props["BatchSize"] == INGEST_BATCH_SIZE
    assert props["MaximumBatchingWindowInSeconds"] == INGEST_BATCH_WINDOW_SECONDS
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["FunctionName"] == {"Ref": logical_id(synthesized.stacks.ingest.ingest.function)}


def test_ingest_function_shape(synthesized: SynthesizedApp) -> None:
    function_id = logical_id(synthesized.stacks.ingest.ingest.function)
    props = resources(synthesized.ingest, "AWS::Lambda::Function")[function_id]["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "ingest.handler.handler"
    assert props["Timeout"] == INGEST_FUNCTION_TIMEOUT_SECONDS
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert len(props["Layers"]) == 3  # deps-core, climatrak, deps-lake (pyarrow)
    # SQS guidance: visibility timeout at least six times the function timeout.
    visibility = INGEST_QUEUE.visibility_timeout_seconds
    assert visibility >= 6 * props["Timeout"]


def ingest_statements(synthesized: SynthesizedApp) -> list[dict]:
    return policy_statements(synthesized.ingest, logical_id(synthesized.stacks.ingest.ingest.role))


def test_ingest_writes_the_lake_put_only_under_its_prefixes(synthesized: SynthesizedApp) -> None:
    statements = ingest_statements(synthesized)
    s3_actions = {action for action in actions_of(statements) if action.startswith("s3:")}
    assert s3_actions == {"s3:PutObject", "s3:AbortMultipartUpload"}
    (put,) = statements_with(statements, "s3:PutObject")
    suffixes = sorted(resource["Fn::Join"][1][-1] for resource in as_list(put["Resource"]))
    assert suffixes == ["/quarantine/*", "/telemetry/raw/*"]


def test_ingest_table_grants(synthesized: SynthesizedApp) -> None:
    data = synthesized.stacks.data
    main_id = logical_id(data.tables[MAIN_TABLE.logical_id])
    telemetry_id = logical_id(data.tables[TELEMETRY_TABLE.logical_id])
    statements = ingest_statements(synthesized)

    (write,) = statements_with(statements, "dynamodb:PutItem")
    assert refers_to(write["Resource"], main_id)
    assert refers_to(write["Resource"], telemetry_id)
    (read,) = statements_with(statements, "dynamodb:Query")
    assert refers_to(read["Resource"], main_id)
    assert not refers_to(read["Resource"], telemetry_id)  # telemetry is write-only for ingest
    assert not any("*" in action for action in actions_of(statements) if action.startswith("dynamodb:"))


def test_ingest_consumes_its_queue(synthesized: SynthesizedApp) -> None:
    (consume,) = statements_with(ingest_statements(synthesized), "sqs:DeleteMessage")
    assert "sqs:ReceiveMessage" in consume["Action"]
    assert consume["Resource"] == {"Fn::GetAtt": [logical_id(synthesized.stacks.ingest.queue), "Arn"]}
