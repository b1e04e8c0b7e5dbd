"""Alerts on the local runtime: MQTT readings → ingest evaluates the rule saved through the API →
alert.raised through the outbox, relay and EventBridge → the work order and the e-mail; then the
condition clears and the alert resolves itself."""

from __future__ import annotations

import time

import orjson
import pytest

from climatrak.alerts.items import NotificationItem
from climatrak.core.items import bind_main_table
from climatrak.core.keys import TenantKeys
from climatrak_local.runtime import LocalRuntime
from tests.e2e.conftest import Publish
from tests.e2e.test_telemetry_end_to_end import call, setup_tenant

pytestmark = pytest.mark.e2e


def reading(client_id: str, ts_s: int, value: float) -> bytes:
    return orjson.dumps(
        {"device_id": client_id, "timestamp": ts_s, "sensors": [{"sensor_id": "temp_supply", "value": value}]}
    )


def test_a_sustained_breach_raises_an_alert_that_opens_a_work_order_and_clears_itself(
    local_runtime: LocalRuntime, mqtt_publish: Publish, unique: str
) -> None:
    tenant = f"e2e{unique}"
    world = setup_tenant(local_runtime, tenant)
    token, client_id = world["token"], world["device"]["mqtt_client_id"]
    topic = f"tenants/{tenant}/sites/{world['site']['id']}/assets/CH-001/telemetry"
    start = (int(time.time()) // 60) * 60 - 3600
    mqtt_publish(client_id, topic, reading(client_id, start, 7.0))  # the sensor exists once ingested
    local_runtime.wait_until_idle()
    rule = {
        "name": "Supply water too warm",
        "equipment": world["asset"]["id"],
        "parameters": [
            {
                "parameter_key": "temp_supply",
                "operator": ">",
                "threshold": 9,
                "unit": "°C",
                "duration": 5,
                "severity": "CRITICAL",
            }
        ],
        "actions": ["IN_APP", "EMAIL"],
        "create_work_order": True,
    }
    status, created = call(local_runtime, "POST", "/api/alerts/rules/", token, rule)
    assert status == 201, created
    time.sleep(local_runtime.settings.alert_rules_cache_seconds)  # ingest's cached "no rules" expires

    for minute in range(1, 8):  # above 9 °C from minute 1: held for 5 minutes at minute 6
        mqtt_publish(client_id, topic, reading(client_id, start + minute * 60, 11.0))
    local_runtime.wait_until_idle()

    status, page = call(local_runtime, "GET", "/api/alerts/alerts/?status=active", token)
    assert status == 200 and page["count"] == 1
    (alert,) = page["results"]
    assert (alert["severity"], alert["parameter_value"], alert["asset_tag"]) == ("Critical", 11, "CH-001")
    assert alert["work_order_number"], "the alert_actions consumer opened its work order"
    status, work_order = call(local_runtime, "GET", f"/api/cmms/work-orders/{alert['work_order']}/", token)
    assert status == 200 and work_order["type"] == "CORRECTIVE" and work_order["priority"] == "CRITICAL"
    bind_main_table(local_runtime.settings.main_table)
    channels = {
        item.channel: item.status
        for item in NotificationItem.query(TenantKeys(tenant).pk, NotificationItem.sk.startswith("ALERTNOTIFY#"))
    }
    assert channels == {"EMAIL": "sent", "IN_APP": "recorded"}
    topics = local_runtime.client("sns").list_topics()["Topics"]
    assert any(topic["TopicArn"].endswith(f":climatrak-alerts-{tenant}") for topic in topics)

    mqtt_publish(client_id, topic, reading(client_id, start + 8 * 60, 8.0))  # back under the threshold
    local_runtime.wait_until_idle()

    status, alert = call(local_runtime, "GET", f"/api/alerts/alerts/{alert['id']}/", token)
    assert status == 200 and alert["resolved"] and alert["resolution"] == "condition_cleared"
    status, statistics = call(local_runtime, "GET", "/api/alerts/alerts/statistics/", token)
    assert (statistics["total"], statistics["resolved"], statistics["by_severity"]["CRITICAL"]) == (1, 1, 1)
