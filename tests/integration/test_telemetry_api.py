"""Signed HTTP ingest (POST /ingest) and the telemetry read API, on moto."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from climatrak.core.config import Settings
from climatrak.core.timeutil import iso_ms
from climatrak.telemetry.ingest import QueueRecord
from climatrak.telemetry.signing import sign
from functions.ingest_http import handler as http_handler
from tests.integration.conftest import ApiClient, LambdaContextStub
from tests.integration.telemetry_world import World, standard

HOUR_S = 3600
START_S = (int(time.time()) // HOUR_S - 4) * HOUR_S  # four whole hours ago


@pytest.fixture
def world(settings: Settings, clean_aws: None) -> Iterator[World]:
    http_handler.gateway.cache_clear()
    world = World.build(settings, "acme")
    world.add_device("dev-1")
    yield world


def gateway_post(
    body: bytes, *, tenant: str | None = "acme", secret: str = "", timestamp: int | None = None, signature: str = ""
) -> tuple[int, dict[str, Any]]:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json", "X-Ingest-Timestamp": str(ts)}
    headers["X-Ingest-Signature"] = signature or sign(secret, ts, body)
    if tenant is not None:
        headers["X-Tenant"] = tenant
    event = {
        "resource": "/ingest",
        "path": "/ingest",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "requestContext": {"requestId": "r", "stage": "prod", "identity": {"sourceIp": "127.0.0.1"}},
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    response = http_handler.handler(event, LambdaContextStub())
    return response["statusCode"], json.loads(response["body"] or "null")


def gateway_body(world: World, client_id: str = "dev-1", ts_s: int | None = None, **values: float) -> bytes:
    payload = standard(ts_s or int(time.time()) - 60, **(values or {"temp_supply": 7.5}))
    return json.dumps({"client_id": client_id, "topic": world.devices["dev-1"].topic, "payload": payload}).encode()


def drain_ingest_queue() -> list[QueueRecord]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="climatrak-ingest")["QueueUrl"]
    records = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"):
        for message in messages:
            records.append(
                QueueRecord(message["MessageId"], message["Body"], int(message["Attributes"]["SentTimestamp"]))
            )
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return records


# -- POST /ingest -------------------------------------------------------------------------------


def test_a_signed_gateway_message_joins_the_ingest_pipeline(world: World, api: ApiClient) -> None:
    device = world.devices["dev-1"]
    status, body = gateway_post(gateway_body(world, temp_supply=6.25), secret=device.secret)

    assert status == 202 and body["status"] == "accepted"
    records = drain_ingest_queue()
    assert len(records) == 1
    assert world.ingest(records).readings == 1
    status, history = api.get("/api/telemetry/history/dev-1/", query={"interval": "raw"})
    assert status == 200
    assert [(p["sensor_id"], p["value"]) for p in history["data"]] == [("temp_supply", 6.25)]


def test_gateway_requests_are_refused_with_the_right_status(world: World) -> None:
    secret = world.devices["dev-1"].secret
    body = gateway_body(world)
    old = int(time.time()) - 3600

    assert gateway_post(body, secret="not-the-secret")[0] == 401
    assert gateway_post(body, secret=secret, timestamp=old)[1]["code"] == "timestamp_skew"
    assert gateway_post(body, secret=secret, tenant="globex")[1]["code"] == "tenant_mismatch"
    assert gateway_post(body, secret=secret, tenant=None)[0] == 401
    unknown = json.dumps({"client_id": "ghost", "topic": world.devices["dev-1"].topic, "payload": {}}).encode()
    assert gateway_post(unknown, secret=secret)[1]["code"] == "unknown_device"
    assert gateway_post(b"x" * (128 * 1024 + 1), secret=secret)[0] == 413
    assert gateway_post(b"{not json", secret=secret)[0] == 400
    assert drain_ingest_queue() == []  # nothing refused was enqueued


def test_a_replayed_signature_is_refused_even_spelled_differently(world: World) -> None:
    secret = world.devices["dev-1"].secret
    body = gateway_body(world)
    ts = int(time.time())
    signature = sign(secret, ts, body)

    assert gateway_post(body, timestamp=ts, signature=signature)[0] == 202
    assert gateway_post(body, timestamp=ts, signature=signature)[0] == 409
    assert gateway_post(body, timestamp=ts, signature="sha256=" + signature.upper())[0] == 409
    assert len(drain_ingest_queue()) == 1


# -- telemetry read API -------------------------------------------------------------------------


@pytest.fixture
def three_hours(world: World) -> World:
    """Three hours of 1-minute readings of two sensors: temp_supply = minute index, humidity = 50."""
    records = [
        world.record("dev-1", standard(START_S + 60 * i, temp_supply=float(i), humidity=50.0)) for i in range(180)
    ]
    for start in range(0, len(records), 60):
        assert world.ingest(records[start : start + 60]).failed_message_ids == set()
    return world


def history(api: ApiClient, path: str, tenant: str = "acme", **query: Any) -> tuple[int, Any]:
    return api.get(path, tenant=tenant, query={k.rstrip("_"): v for k, v in query.items()})


def test_raw_asset_history_returns_every_point_in_range_per_sensor_in_order(three_hours: World, api: ApiClient) -> None:
    status, body = history(
        api,
        "/api/telemetry/assets/CH-1/history/",
        from_=iso_ms(START_S * 1000),
        to=iso_ms((START_S + 29 * 60) * 1000),
        interval="raw",
        sensor_id="temp_supply",
    )

    assert status == 200
    assert body["interval"] == "raw" and body["count"] == 30
    assert [p["value"] for p in body["data"]] == [float(i) for i in range(30)]
    assert {p["sensor_id"] for p in body["data"]} == {"temp_supply"}
    assert "truncated" not in body


def test_aggregated_history_buckets_by_the_hour(three_hours: World, api: ApiClient) -> None:
    status, body = history(
        api,
        "/api/telemetry/assets/CH-1/history/",
        from_=iso_ms(START_S * 1000),
        to=iso_ms((START_S + 3 * HOUR_S - 1) * 1000),
        interval="1h",
    )

    assert status == 200
    temp = [p for p in body["data"] if p["sensor_id"] == "temp_supply"]
    assert [(p["min_value"], p["max_value"], p["avg_value"], p["count"]) for p in temp] == [
        (0.0, 59.0, 29.5, 60),
        (60.0, 119.0, 89.5, 60),
        (120.0, 179.0, 149.5, 60),
    ]
    assert temp[0]["ts"] == iso_ms(START_S * 1000)


def test_auto_interval_follows_the_frontends_choice(three_hours: World, api: ApiClient) -> None:
    _, body = history(
        api,
        "/api/telemetry/assets/CH-1/history/",
        from_=iso_ms(START_S * 1000),
        to=iso_ms((START_S + 3 * HOUR_S) * 1000),
    )
    assert body["interval"] == "1m"


def test_device_history_honours_the_limit_and_flags_truncation(three_hours: World, api: ApiClient) -> None:
    status, body = history(
        api,
        "/api/telemetry/history/dev-1/",
        from_=iso_ms(START_S * 1000),
        to=iso_ms((START_S + 3 * HOUR_S) * 1000),
        interval="raw",
        limit="50",
        sensor_id="temp_supply",
    )

    assert status == 200
    assert body["truncated"] is True and body["limit"] == 50 and body["count"] == 50
    assert body["data"][-1]["value"] == 179.0  # the newest points are kept
    assert body["sensor_ids"] == ["temp_supply"]


def test_bad_ranges_and_unknown_names_are_clear_errors(three_hours: World, api: ApiClient) -> None:
    now = iso_ms(int(time.time() * 1000))
    assert history(api, "/api/telemetry/history/dev-1/", from_=now, to=now)[0] == 400
    assert history(api, "/api/telemetry/assets/CH-1/history/", interval="2m")[0] == 400
    assert history(api, "/api/telemetry/assets/NOPE/history/")[0] == 404
    assert history(api, "/api/telemetry/history/ghost/")[0] == 404


def test_another_tenant_cannot_read_this_telemetry(three_hours: World, api: ApiClient, settings: Settings) -> None:
    World.build(settings, "globex", asset_tag="GX-1")

    assert history(api, "/api/telemetry/assets/CH-1/history/", tenant="globex")[0] == 404
    assert history(api, "/api/telemetry/history/dev-1/", tenant="globex")[0] == 404


def test_summaries_show_the_newest_value_even_between_stored_refreshes(world: World, api: ApiClient) -> None:
    now_s = int(time.time()) - 120
    world.ingest([world.record("dev-1", standard(now_s - 60, temp_supply=1.0))])
    world.ingest([world.record("dev-1", standard(now_s, temp_supply=2.0))])  # not yet in the sensor item

    status, summary = api.get(f"/api/devices/{world.devices['dev-1'].id}/summary/")

    assert status == 200
    (variable,) = summary["variables"]
    assert variable["last_value"] == 2.0
    assert variable["last_reading_at"] == iso_ms(now_s * 1000)
    assert variable["is_online"] is True and summary["device_status"] == "ONLINE"
