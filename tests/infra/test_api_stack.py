from __future__ import annotations

import pytest

from climatrak.core.config import Settings
from climatrak.core.http import ALLOWED_HEADERS
from climatrak.core.resources import IDEMPOTENCY_TABLE, MAIN_TABLE, TELEMETRY_TABLE
from tests.infra.conftest import SynthesizedApp
from tests.infra.helpers import (
    actions_of,
    as_list,
    import_names,
    logical_id,
    policy_statements,
    refers_to,
    resources,
    statements_with,
)

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
NON_SETTINGS_VARIABLES = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}


def resource_paths(synthesized: SynthesizedApp) -> dict[str, str]:
    """Logical id of each API Gateway resource -> its full path."""
    api_resources = resources(synthesized.api, "AWS::ApiGateway::Resource")
    rest_api_id = logical_id(synthesized.stacks.api.rest_api)

    def path_of(resource_id: str) -> str:
        props = api_resources[resource_id]["Properties"]
        parent = props["ParentId"]
        prefix = "" if parent == {"Fn::GetAtt": [rest_api_id, "RootResourceId"]} else path_of(parent["Ref"])
        return f"{prefix}/{props['PathPart']}"

    return {resource_id: path_of(resource_id) for resource_id in api_resources}


def methods(synthesized: SynthesizedApp) -> list[tuple[str, str, dict]]:
    """(path, HTTP method, properties) of every method."""
    paths = resource_paths(synthesized)
    found = []
    for method in resources(synthesized.api, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        resource = props["ResourceId"]
        path = "/" if "Fn::GetAtt" in resource else paths[resource["Ref"]]
        found.append((path, props["HttpMethod"], props))
    return found


def test_routes(synthesized: SynthesizedApp) -> None:
    routes = {(path, verb) for path, verb, _ in methods(synthesized) if verb != "OPTIONS"}
    assert routes == {("/api", "ANY"), ("/api/{proxy+}", "ANY"), ("/ingest", "POST")}


def test_cognito_authorizer_on_every_route_but_ingest_and_preflight(synthesized: SynthesizedApp) -> None:
    (authorizer_id,) = resources(synthesized.api, "AWS::ApiGateway::Authorizer")
    for path, verb, props in methods(synthesized):
        if verb == "OPTIONS" or (path, verb) == ("/ingest", "POST"):
            assert props["AuthorizationType"] == "NONE", (path, verb)
            assert "AuthorizerId" not in props
        else:
            assert props["AuthorizationType"] == "COGNITO_USER_POOLS", (path, verb)
            assert props["AuthorizerId"] == {"Ref": authorizer_id}


def test_authorizer_trusts_the_user_pool(synthesized: SynthesizedApp) -> None:
    (authorizer,) = resources(synthesized.api, "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert refers_to(authorizer["Properties"]["ProviderARNs"], logical_id(synthesized.stacks.api.user_pool))


def test_every_path_answers_cors_preflight(synthesized: SynthesizedApp) -> None:
    preflight = {path for path, verb, _ in methods(synthesized) if verb == "OPTIONS"}
    assert {"/api", "/api/{proxy+}", "/ingest"} <= preflight


def test_preflight_allows_the_headers_the_api_reads(synthesized: SynthesizedApp) -> None:
    """API Gateway answers preflight itself: it must allow what the frontend sends (X-Tenant,
    If-Match for optimistic concurrency), the same list the API function's CORS config uses."""
    for path, verb, props in methods(synthesized):
        if verb != "OPTIONS":
            continue
        (response,) = props["Integration"]["IntegrationResponses"]
        allowed = response["ResponseParameters"]["method.response.header.Access-Control-Allow-Headers"]
        names = {name.lower() for name in allowed.strip("'").split(",")}
        assert {"x-tenant", "if-match", "authorization", "content-type"} <= names, path
        assert {header.lower() for header in ALLOWED_HEADERS} <= names, path


def test_user_pool_custom_attributes(synthesized: SynthesizedApp) -> None:
    (pool,) = resources(synthesized.api, "AWS::Cognito::UserPool").values()
    schema = {attribute["Name"]: attribute for attribute in pool["Properties"]["Schema"]}
    assert schema["tenant_id"]["Mutable"] is False
    assert schema["role"]["Mutable"] is True
    assert schema["user_id"]["Mutable"] is True
    assert pool["Properties"]["MfaConfiguration"] == "ON"
    (client,) = resources(synthesized.api, "AWS::Cognito::UserPoolClient").values()
    assert client["Properties"]["GenerateSecret"] is False


def test_stage_throttles_logs_and_traces(synthesized: SynthesizedApp) -> None:
    (stage,) = resources(synthesized.api, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "dev"
    assert "DestinationArn" in props["AccessLogSetting"]
    assert props["TracingEnabled"] is True
    (settings,) = props["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] > 0
    assert settings["DataTraceEnabled"] is False


def test_functions_run_python_312_on_arm_with_settings_variables(synthesized: SynthesizedApp) -> None:
    settings_variables = {name.upper() for name in Settings.model_fields}
    functions = {
        **resources(synthesized.api, "AWS::Lambda::Function"),
        **resources(synthesized.ingest, "AWS::Lambda::Function"),
    }
    assert len(functions) == 3
    for props in (function["Properties"] for function in functions.values()):
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        variables = props["Environment"]["Variables"]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ClimaTrak"
        assert set(variables) - NON_SETTINGS_VARIABLES <= settings_variables
        assert {"MAIN_TABLE", "TELEMETRY_TABLE", "IDEMPOTENCY_TABLE", "LAKE_BUCKET", "INGEST_QUEUE_URL"} <= set(
            variables
        )


def test_api_function_does_not_load_pyarrow_layer(synthesized: SynthesizedApp) -> None:
    function_id = logical_id(synthesized.stacks.api.api_function.function)
    props = resources(synthesized.api, "AWS::Lambda::Function")[function_id]["Properties"]
    lake_layer_id = logical_id(synthesized.stacks.api.node.find_child("Layers").node.find_child("DepsLake"))
    assert len(props["Layers"]) == 2
    assert not refers_to(props["Layers"], lake_layer_id)


def test_api_role_reads_and_writes_tables_but_not_the_lake_or_queue(synthesized: SynthesizedApp) -> None:
    data = synthesized.stacks.data
    statements = policy_statements(synthesized.api, logical_id(synthesized.stacks.api.api_function.role))
    actions = actions_of(statements)
    assert not any(action.startswith("sqs:") for action in actions)
    # S3: reading report objects only (the download links it signs), never the lake
    assert {action for action in actions if action.startswith("s3:")} == {"s3:GetObject"}
    (get,) = statements_with(statements, "s3:GetObject")
    assert import_names(get["Resource"]) == {data.reports_bucket_arn_export}
    (write,) = statements_with(statements, "dynamodb:PutItem")
    assert refers_to(write["Resource"], logical_id(data.tables[MAIN_TABLE.logical_id]))
    assert not refers_to(write["Resource"], logical_id(data.tables[TELEMETRY_TABLE.logical_id]))
    reads = statements_with(statements, "dynamodb:Query")
    assert any(refers_to(s["Resource"], logical_id(data.tables[TELEMETRY_TABLE.logical_id])) for s in reads)


def test_ingest_http_role_sends_to_the_queue_and_never_writes_domain_tables(synthesized: SynthesizedApp) -> None:
    data = synthesized.stacks.data
    statements = policy_statements(synthesized.api, logical_id(synthesized.stacks.api.ingest_http_function.role))

    (send,) = statements_with(statements, "sqs:SendMessage")
    assert refers_to(send["Resource"], logical_id(synthesized.stacks.ingest.queue))
    assert not any(action.startswith("s3:") for action in actions_of(statements))
    for statement in statements:
        if WRITE_ACTIONS & set(as_list(statement["Action"])):
            # The only table it writes is the replay guard's.
            assert refers_to(statement["Resource"], logical_id(data.tables[IDEMPOTENCY_TABLE.logical_id]))
            assert not refers_to(statement["Resource"], logical_id(data.tables[MAIN_TABLE.logical_id]))
            assert not refers_to(statement["Resource"], logical_id(data.tables[TELEMETRY_TABLE.logical_id]))
    reads = statements_with(statements, "dynamodb:GetItem")
    assert any(refers_to(s["Resource"], logical_id(data.tables[MAIN_TABLE.logical_id])) for s in reads)
