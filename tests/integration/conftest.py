"""Shared integration fixtures: AWS on moto (one mock per test session) and an API client.

`aws`         session: moto mock with every table of core/resources.py created, env vars set.
`clean_aws`   function: empties every table after the test (tests stay independent, no re-setup).
`api`         function: calls functions.api.handler.handler with API Gateway REST proxy events
              carrying Cognito-style claims; `api.get("/api/sites/", tenant="acme", role="owner")`
              returns `ApiResponse(status, json)` (a NamedTuple, so `status, body = api.get(...)`).
`tenant`      function: creates tenant "acme" (and returns its slug) through the registry logic.
`settings`    session: the climatrak Settings the handlers see.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import boto3
import pytest
from moto import mock_aws

from climatrak.core.config import Settings
from climatrak.core.resources import BUCKETS, EVENT_BUS, MAIN_TABLE, QUEUES, TABLES
from climatrak_local.moto_dynamodb import serialise_writes
from climatrak_local.provision import provision_all

REGION = "us-east-1"


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_DEV": "false",
    }
    env.update({spec.env_var: spec.local_name for spec in TABLES})
    env.update({spec.env_var: spec.local_name for spec in BUCKETS})
    env[EVENT_BUS.env_var] = EVENT_BUS.local_name
    saved = {name: os.environ.get(name) for name in [*env, "AWS_ENDPOINT_URL"]}
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from climatrak.core.aws import reset_clients

    with mock_aws():
        # ingest, the consumers and the concurrency tests write from threads
        serialise_writes([MAIN_TABLE.local_name])
        reset_clients()
        # the same provisioning as the local runtime: resources from core/resources.py specs
        queue_urls = provision_all(
            boto3.client("dynamodb", region_name=REGION),
            boto3.client("s3", region_name=REGION),
            boto3.client("sqs", region_name=REGION),
            boto3.client("events", region_name=REGION),
            visibility_timeout_seconds=30,
        )
        os.environ.update(queue_urls)
        saved.update({name: saved.get(name) for name in queue_urls})
        yield
        reset_clients()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def settings(aws: None) -> Settings:
    return Settings.from_env()


@pytest.fixture
def clean_aws(aws: None) -> Iterator[None]:
    yield
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in BUCKETS:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.local_name):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=bucket.local_name, Key=obj["Key"])
    sqs = boto3.client("sqs", region_name=REGION)
    for queue in QUEUES:  # drain (PurgeQueue is allowed once a minute)
        url = os.environ[queue.env_var]
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    _forget_stream_records()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for spec in TABLES:
        key_names = [spec.partition_key, *([spec.sort_key] if spec.sort_key else [])]
        for page in dynamodb.get_paginator("scan").paginate(TableName=spec.local_name):
            for item in page["Items"]:
                dynamodb.delete_item(TableName=spec.local_name, Key={name: item[name] for name in key_names})


def _forget_stream_records() -> None:
    """moto keeps every stream record of the session on its table object and deep-copies the
    whole table for each TransactWriteItems, so transactions slow down as the session grows.
    Tests never read moto's stream (the event pump builds stream records from the table)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    for spec in TABLES:
        table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables.get(spec.local_name)
        if table is not None and table.stream_shard is not None:
            table.stream_shard.items.clear()


class ApiResponse(NamedTuple):
    status: int
    json: Any


class LambdaContextStub:
    """The attributes of Lambda's context that Powertools reads."""

    function_name = "api"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:api"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@dataclass
class ApiClient:
    """Calls the API Lambda handler in-process the way API Gateway (REST, proxy) does."""

    host: str = "testserver"

    def event(
        self,
        method: str,
        path: str,
        *,
        tenant: str | None = "acme",
        role: str = "owner",
        user_id: int = 1,
        email: str = "user@example.com",
        query: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        claims = (
            None
            if tenant is None
            else {
                "custom:tenant_id": tenant,
                "custom:role": role,
                "custom:user_id": str(user_id),
                "email": email,
                "sub": f"sub-{user_id}",
            }
        )
        all_headers = {"Host": self.host, "X-Forwarded-Proto": "https", "Content-Type": "application/json"}
        all_headers.update(headers or {})
        query = {name: str(value) for name, value in (query or {}).items()}
        return {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": all_headers,
            "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {name: [value] for name, value in query.items()} or None,
            "pathParameters": {"proxy": path.removeprefix("/")},
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/{proxy+}",
                "httpMethod": method,
                "path": f"/prod{path}",
                "stage": "prod",
                "requestId": "test-request",
                "identity": {"sourceIp": "127.0.0.1"},
                "authorizer": {"claims": claims} if claims else {},
            },
            "body": None if body is None else json.dumps(body),
            "isBase64Encoded": False,
        }

    def request(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        from functions.api.handler import handler

        response = handler(self.event(method, path, **kwargs), LambdaContextStub())  # type: ignore[arg-type]
        text = response.get("body") or ""
        return ApiResponse(response["statusCode"], json.loads(text) if text else None)

    def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, body=body if body is not None else {}, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("PATCH", path, body=body if body is not None else {}, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(aws: None, clean_aws: None) -> ApiClient:
    return ApiClient()


@pytest.fixture
def tenant(settings: Settings, clean_aws: None) -> str:
    from climatrak.registry.logic import create_tenant

    create_tenant(settings, "acme", "Acme HVAC", "America/Sao_Paulo")
    return "acme"


@pytest.fixture
def put_sensor(aws: None) -> Any:
    """Write a sensor item exactly as telemetry ingest does (docs/access-patterns.md)."""

    def put(
        tenant: str,
        *,
        sensor_id: int,
        device_id: int,
        tag: str,
        asset_id: int | None,
        metric_type: str = "temp_supply",
        unit: str = "celsius",
        last_value: float | None = 21.5,
        last_reading_at: str | None = None,
    ) -> None:
        item: dict[str, Any] = {
            "pk": {"S": f"T#{tenant}"},
            "sk": {"S": f"SENSOR#{device_id:08d}#{tag}"},
            "kind": {"S": "sensor"},
            "id": {"N": str(sensor_id)},
            "tag": {"S": tag},
            "device_id": {"N": str(device_id)},
            "metric_type": {"S": metric_type},
            "unit": {"S": unit},
            "created_at": {"S": "2026-01-01T00:00:00.000Z"},
        }
        if asset_id is not None:
            item["asset_id"] = {"N": str(asset_id)}
            item["gsi1pk"] = {"S": f"T#{tenant}#ASSET#{asset_id:08d}"}
            item["gsi1sk"] = {"S": f"SENSOR#{tag}"}
        if last_value is not None:
            item["last_value"] = {"N": str(last_value)}
        if last_reading_at is not None:
            item["last_reading_at"] = {"S": last_reading_at}
        boto3.client("dynamodb", region_name=REGION).put_item(TableName=Settings.from_env().main_table, Item=item)

    return put
