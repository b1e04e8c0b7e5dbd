"""The local runtime's emulations (API Gateway, IoT Core rule, SQS event source mapping) and
the `climatrak` CLI, against real sockets. Fake handlers stand in for the functions here."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from climatrak.core.resources import BUCKETS, INGEST_QUEUE, MAIN_TABLE, QUEUES, TABLES
from climatrak_local.runtime import LocalRuntime

Publish = Callable[[str, str, bytes], None]

pytestmark = pytest.mark.e2e

TOPIC = "tenants/umc/sites/1/assets/7/telemetry"


class Recorder:
    """A fake function that records every event; optionally fails chosen records."""

    def __init__(self, response: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.response = response

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        assert context.aws_request_id and context.get_remaining_time_in_millis() > 0
        with self._lock:
            self.events.append(event)
        return self.response(event) if callable(self.response) else self.response

    @property
    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record for event in self.events for record in event["Records"]]


def http(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def echo_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"X-Echo": ["a", "b"]},
        "body": json.dumps(event),
        "isBase64Encoded": False,
    }


# -- resources ---------------------------------------------------------------------------------


def test_every_table_bucket_and_queue_exists_as_specified(local_runtime: LocalRuntime) -> None:
    dynamodb, s3, sqs = (local_runtime.client(name) for name in ("dynamodb", "s3", "sqs"))
    for spec in TABLES:
        table = dynamodb.describe_table(TableName=spec.local_name)["Table"]
        keys = {key["KeyType"]: key["AttributeName"] for key in table["KeySchema"]}
        assert keys == ({"HASH": spec.partition_key} | ({"RANGE": spec.sort_key} if spec.sort_key else {}))
        indexes = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == {index.name for index in spec.indexes}
        ttl = dynamodb.describe_time_to_live(TableName=spec.local_name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == spec.ttl_attribute
        stream = table.get("StreamSpecification", {})
        assert stream.get("StreamEnabled", False) is spec.stream
    main = dynamodb.describe_table(TableName=MAIN_TABLE.local_name)["Table"]
    assert main["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    for bucket in BUCKETS:
        s3.head_bucket(Bucket=bucket.local_name)
    for queue in QUEUES:
        url = local_runtime.queue_urls[queue.env_var]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert int(redrive["maxReceiveCount"]) == queue.max_receive_count
        assert redrive["deadLetterTargetArn"].endswith(f":{queue.local_name}-dlq")
        assert local_runtime.dead_letter_queue_url(queue).endswith(f"/{queue.local_name}-dlq")


def test_handlers_get_the_settings_of_the_runtime(local_runtime: LocalRuntime) -> None:
    settings = local_runtime.settings

    assert settings.main_table == MAIN_TABLE.local_name
    assert settings.ingest_queue_url == local_runtime.queue_urls[INGEST_QUEUE.env_var]
    assert settings.local_jwt_secret == local_runtime.jwt_secret
    assert os.environ["AWS_ENDPOINT_URL"] == local_runtime.endpoint_url


# -- IoT Core topic rule -> SQS -> ingest function ----------------------------------------------


def test_mqtt_publish_reaches_the_ingest_function_as_an_sqs_event(
    local_runtime: LocalRuntime, mqtt_publish: Publish, unique: str
) -> None:
    ingest = Recorder()
    payload = json.dumps({"sensors": [{"sensor_id": unique, "value": 21.5}]}).encode()
    before_ms = int(time.time() * 1000)
    with local_runtime.use_handlers(ingest=ingest):
        mqtt_publish("dev-1", "tenants/umc/sites/1/assets/7/status", b"not telemetry")
        mqtt_publish("dev-1", TOPIC, payload)
        local_runtime.wait_until_idle(timeout=15)

    [record] = ingest.records
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(f":{INGEST_QUEUE.local_name}")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    body = json.loads(record["body"])
    assert set(body) == {"payload_b64", "topic", "client_id", "received_at"}
    assert base64.b64decode(body["payload_b64"]) == payload
    assert body["topic"] == TOPIC
    assert body["client_id"] == "dev-1"
    assert body["received_at"] >= before_ms


def test_a_failed_record_is_redelivered_and_the_others_are_not(
    local_runtime: LocalRuntime, mqtt_publish: Publish, unique: str
) -> None:
    def fail_first_delivery_of_bad(event: dict[str, Any]) -> dict[str, Any]:
        failures = [
            {"itemIdentifier": record["messageId"]}
            for record in event["Records"]
            if b"bad" in base64.b64decode(json.loads(record["body"])["payload_b64"])
            and record["attributes"]["ApproximateReceiveCount"] == "1"
        ]
        return {"batchItemFailures": failures}

    ingest = Recorder(fail_first_delivery_of_bad)
    with local_runtime.use_handlers(ingest=ingest):
        for label in ("good-1", "bad", "good-2"):
            mqtt_publish("dev-1", TOPIC, f"{unique}-{label}".encode())
        local_runtime.wait_until_idle(timeout=20)

    deliveries: dict[str, list[str]] = {}
    for record in ingest.records:
        label = base64.b64decode(json.loads(record["body"])["payload_b64"]).decode().removeprefix(f"{unique}-")
        deliveries.setdefault(label, []).append(record["attributes"]["ApproximateReceiveCount"])
    assert deliveries == {"good-1": ["1"], "bad": ["1", "2"], "good-2": ["1"]}


def test_a_raising_handler_gets_the_whole_batch_again(
    local_runtime: LocalRuntime, mqtt_publish: Publish, unique: str
) -> None:
    calls = {"count": 0}

    def raise_on_first_call(event: dict[str, Any]) -> None:
        calls["count"] += 1
        if calls["count"] == 1:
            raise RuntimeError("simulated function error")

    ingest = Recorder(raise_on_first_call)
    with local_runtime.use_handlers(ingest=ingest):
        mqtt_publish("dev-1", TOPIC, unique.encode())
        local_runtime.wait_until_idle(timeout=20)

    assert [record["attributes"]["ApproximateReceiveCount"] for record in ingest.records] == ["1", "2"]


# -- API Gateway emulation ---------------------------------------------------------------------


def test_api_request_with_a_valid_token_reaches_the_function_with_claims(local_runtime: LocalRuntime) -> None:
    token = local_runtime.issue_token("umc", "operator", user_id=9)
    with local_runtime.use_handlers(api=echo_event):
        status, event = http(
            "GET", f"{local_runtime.api_url}/api/sites/?page=2", headers={"Authorization": f"Bearer {token}"}
        )

    assert status == 200
    assert event["resource"] == "/api/{proxy+}"
    assert event["path"] == "/api/sites/"
    assert event["pathParameters"] == {"proxy": "sites/"}
    assert event["queryStringParameters"] == {"page": "2"}
    claims = event["requestContext"]["authorizer"]["claims"]
    assert claims["custom:tenant_id"] == "umc"
    assert claims["custom:role"] == "operator"
    assert claims["custom:user_id"] == "9"


def test_api_accepts_the_token_from_the_access_token_cookie(local_runtime: LocalRuntime) -> None:
    token = local_runtime.issue_token("umc", "viewer")
    with local_runtime.use_handlers(api=echo_event):
        status, event = http(
            "GET", f"{local_runtime.api_url}/api/auth/me/", headers={"Cookie": f"theme=dark; access_token={token}"}
        )

    assert status == 200
    assert event["requestContext"]["authorizer"]["claims"]["custom:role"] == "viewer"


@pytest.mark.parametrize("credentials", ["none", "tampered", "foreign"])
def test_api_without_a_valid_token_is_401_and_never_invokes_the_function(
    local_runtime: LocalRuntime, credentials: str
) -> None:
    token = local_runtime.issue_token("umc", "viewer")
    header, payload, signature = token.split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged_claims["custom:role"] = "owner"
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    headers = {
        "none": {},
        "tampered": {"Authorization": f"Bearer {header}.{forged_payload}.{signature}"},
        "foreign": {"Authorization": "Bearer " + LocalRuntime(jwt_secret="x" * 40).issue_token("umc", "owner")},
    }[credentials]
    api = Recorder()
    with local_runtime.use_handlers(api=api):
        status, body = http("GET", f"{local_runtime.api_url}/api/sites/", headers=headers)

    assert status == 401
    assert body["code"] == "not_authenticated"
    assert body["detail"] == body["error"]
    assert api.events == []


def test_docs_and_ingest_need_no_token(local_runtime: LocalRuntime) -> None:
    with local_runtime.use_handlers(api=echo_event, ingest_http=echo_event):
        docs_status, docs_event = http("GET", f"{local_runtime.api_url}/api/openapi.json")
        ingest_status, ingest_event = http(
            "POST", f"{local_runtime.api_url}/ingest", headers={"X-Tenant": "umc"}, body=b'{"client_id": "gw-1"}'
        )

    assert docs_status == 200
    assert "authorizer" not in docs_event["requestContext"]
    assert ingest_status == 200
    assert ingest_event["resource"] == "/ingest"
    assert ingest_event["httpMethod"] == "POST"
    assert ingest_event["body"] == '{"client_id": "gw-1"}'
    assert ingest_event["headers"]["X-Tenant"] == "umc"


def test_the_function_response_is_passed_back_faithfully(local_runtime: LocalRuntime) -> None:
    def created(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Single": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": '{"id": 3}',
            "isBase64Encoded": False,
        }

    token = local_runtime.issue_token("umc", "owner")
    request = urllib.request.Request(
        f"{local_runtime.api_url}/api/sites/", data=b"{}", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    with local_runtime.use_handlers(api=created), urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        assert response.headers["X-Single"] == "1"
        assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
        assert json.loads(response.read()) == {"id": 3}


def test_unknown_routes_get_api_gateways_answer(local_runtime: LocalRuntime) -> None:
    status, body = http("GET", f"{local_runtime.api_url}/ingest")

    assert status == 403
    assert body == {"message": "Missing Authentication Token"}


# -- the CLI -----------------------------------------------------------------------------------


def climatrak(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "climatrak_local.cli", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
        env={**os.environ, "CLIMATRAK_HOME": str(home)},
    )


def test_local_up_token_and_ctrl_c(tmp_path: Path) -> None:
    not_running = climatrak("local", "token", "--tenant", "umc", "--role", "viewer", home=tmp_path)
    assert not_running.returncode == 1
    assert not_running.stderr.strip() == "error: no local runtime is running; start it with `climatrak local up`"

    up = subprocess.Popen(
        [sys.executable, "-m", "climatrak_local.cli", "local", "up", "--api-port", "0", "--mqtt-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CLIMATRAK_HOME": str(tmp_path)},
    )
    try:
        assert up.stdout is not None
        ready = up.stdout.readline()  # blocks until the runtime prints its ready line (or exits)
        assert "ready" in ready, up.stderr.read() if up.stderr else ready
        state = json.loads((tmp_path / "runtime.json").read_text())
        assert (tmp_path / "runtime.json").stat().st_mode & 0o077 == 0
        assert state["api_url"] in ready

        issued = climatrak("local", "token", "--tenant", "umc", "--role", "viewer", home=tmp_path)
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip()
        accepted, _ = http("GET", f"{state['api_url']}/api/openapi.json/", headers={"Authorization": f"Bearer {token}"})
        authorized, _ = http("GET", f"{state['api_url']}/api/auth/me/", headers={"Authorization": f"Bearer {token}"})
        rejected, _ = http("GET", f"{state['api_url']}/api/auth/me/", headers={"Authorization": f"Bearer {token}x"})
        assert accepted != 401
        assert authorized != 401
        assert rejected == 401

        bad_role = climatrak("local", "token", "--tenant", "umc", "--role", "boss", home=tmp_path)
        assert bad_role.returncode != 0
        assert "Traceback" not in bad_role.stderr
    finally:
        up.send_signal(signal.SIGINT)
        exit_code = up.wait(timeout=20)

    assert exit_code == 0
    assert not (tmp_path / "runtime.json").exists()
