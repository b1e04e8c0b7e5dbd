"""End to end on the local runtime: device -> MQTT -> topic rule -> queue -> ingest -> API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from climatrak.registry.logic import create_tenant
from climatrak.telemetry.signing import sign
from climatrak_local.runtime import LocalRuntime
from tests.e2e.conftest import Publish

pytestmark = pytest.mark.e2e


def call(runtime: LocalRuntime, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(runtime.api_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def setup_tenant(runtime: LocalRuntime, tenant: str) -> dict[str, Any]:
    create_tenant(runtime.settings, tenant, tenant.title(), "America/Sao_Paulo")
    token = runtime.issue_token(tenant, "owner")
    _, site = call(runtime, "POST", "/api/sites/", token, {"name": "Uberlandia"})
    _, asset = call(
        runtime,
        "POST",
        "/api/assets/",
        token,
        {"tag": "CH-001", "name": "Chiller", "site": site["id"], "asset_type": "CHILLER"},
    )
    status, device = call(
        runtime,
        "POST",
        "/api/devices/",
        token,
        {"name": "Chiller gateway", "mqtt_client_id": f"{tenant}-dev", "site": site["id"], "asset": asset["id"]},
    )
    assert status == 201
    return {"token": token, "site": site, "asset": asset, "device": device}


def test_mqtt_telemetry_is_readable_through_the_api(
    local_runtime: LocalRuntime, mqtt_publish: Publish, unique: str
) -> None:
    tenant = f"e2e{unique}"
    world = setup_tenant(local_runtime, tenant)
    topic = f"tenants/{tenant}/sites/{world['site']['id']}/assets/CH-001/telemetry"
    now_s = int(time.time()) - 300
    for minute in range(5):
        payload = {
            "timestamp": now_s + 60 * minute,
            "sensors": [{"sensor_id": "temp_supply", "value": 7.0 + minute, "unit": "°C"}],
        }
        mqtt_publish(f"{tenant}-dev", topic, json.dumps(payload).encode())
    khomp = [{"bn": "F803_", "bt": now_s}, {"n": "Umidade", "u": "%RH", "v": 55.0}, {"n": "model", "vs": "nit21li"}]
    mqtt_publish(f"{tenant}-dev", topic, json.dumps(khomp).encode())
    mqtt_publish(f"{tenant}-dev", topic, b"{broken")
    local_runtime.wait_until_idle(timeout=60)

    status, history = call(local_runtime, "GET", "/api/telemetry/assets/CH-001/history/?interval=raw", world["token"])
    assert status == 200
    supply = [p["value"] for p in history["data"] if p["sensor_id"] == "temp_supply"]
    assert supply == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert {p["sensor_id"] for p in history["data"]} == {"temp_supply", "F803_Umidade"}

    status, sensors = call(local_runtime, "GET", f"/api/assets/{world['asset']['id']}/sensors/", world["token"])
    assert status == 200 and isinstance(sensors, list)
    latest = {s["tag"]: s["last_value"] for s in sensors}
    assert latest == {"temp_supply": 11.0, "F803_Umidade": 55.0}
    quarantined = local_runtime.client("s3").list_objects_v2(
        Bucket="climatrak-lake", Prefix=f"quarantine/tenant={tenant}/"
    )
    assert quarantined["KeyCount"] == 1


def test_signed_http_ingest_is_readable_through_the_api(local_runtime: LocalRuntime, unique: str) -> None:
    tenant = f"gw{unique}"
    world = setup_tenant(local_runtime, tenant)
    topic = f"tenants/{tenant}/sites/{world['site']['id']}/assets/CH-001/telemetry"
    reading_ts = int(time.time()) - 60
    body = json.dumps(
        {
            "client_id": f"{tenant}-dev",
            "topic": topic,
            "payload": {"timestamp": reading_ts, "sensors": [{"sensor_id": "current", "value": 12.5, "unit": "A"}]},
        }
    ).encode()
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Tenant": tenant,
        "X-Ingest-Timestamp": str(ts),
        "X-Ingest-Signature": sign(world["device"]["ingest_secret"], ts, body),
    }

    def post() -> int:
        request = urllib.request.Request(local_runtime.api_url + "/ingest", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    assert post() == 202
    assert post() == 409  # the same signed request again is a replay
    local_runtime.wait_until_idle(timeout=60)

    status, history = call(local_runtime, "GET", f"/api/telemetry/history/{tenant}-dev/?interval=raw", world["token"])
    assert status == 200
    assert [(p["sensor_id"], p["value"]) for p in history["data"]] == [("current", 12.5)]


def test_a_token_of_another_tenant_sees_none_of_this_tenants_data(local_runtime: LocalRuntime, unique: str) -> None:
    world = setup_tenant(local_runtime, f"own{unique}")
    create_tenant(local_runtime.settings, f"oth{unique}", "Other", "America/Sao_Paulo")
    other = local_runtime.issue_token(f"oth{unique}", "owner")

    assert call(local_runtime, "GET", f"/api/assets/{world['asset']['id']}/", other)[0] == 404
    assert call(local_runtime, "GET", "/api/telemetry/assets/CH-001/history/", other)[0] == 404
    status, page = call(local_runtime, "GET", "/api/devices/", other)
    assert status == 200 and page["count"] == 0
