"""The ingest pipeline on moto: good input stored once everywhere, bad input quarantined."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from climatrak.core.config import Settings
from climatrak.telemetry.ingest import LATEST_REFRESH_MS
from functions.ingest import handler as ingest_handler
from tests.integration.conftest import LambdaContextStub
from tests.integration.telemetry_world import (
    World,
    lake_rows,
    objects,
    quarantine_records,
    standard,
    telemetry_items,
)

NOW_S = int(time.time()) - 120


@pytest.fixture
def world(settings: Settings, clean_aws: None) -> Iterator[World]:
    world = World.build(settings, "acme")
    world.add_device("dev-1")
    world.add_device("dev-2")
    yield world


def sensor_items(tenant: str) -> dict[str, dict[str, Any]]:
    dynamodb = boto3.client("dynamodb")
    response = dynamodb.query(
        TableName="climatrak-main",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"T#{tenant}"}, ":prefix": {"S": "SENSOR#"}},
    )
    return {item["tag"]["S"]: item for item in response["Items"]}


def test_a_mixed_batch_keeps_the_good_and_quarantines_the_bad_with_reasons(world: World) -> None:
    khomp = [
        {"bn": "F80332010002C857_", "bt": NOW_S},
        {"n": "Temperatura de retorno", "u": "Cel", "v": 23.5},
        {"n": "Umidade", "u": "%RH", "v": 55.1},
        {"n": "model", "vs": "nit21li"},
    ]
    batch = [
        world.record("dev-1", standard(NOW_S, temp_supply=7.5, temp_return=12.0)),
        world.record("dev-2", khomp),
        world.record("dev-1", b"{not json"),
        world.record("ghost", standard(NOW_S, temp_supply=1.0), topic=world.devices["dev-1"].topic),
        world.record("dev-1", standard(NOW_S, temp_supply=1.0), topic="tenants/acme/sites/999/assets/CH-1/telemetry"),
        world.record("dev-1", standard(NOW_S + 60, temp_supply="warm", temp_return=11.0)),
        world.record("dev-1", standard(NOW_S + 86_400 * 30, temp_supply=3.0)),
    ]

    result = world.ingest(batch)

    assert result.failed_message_ids == set()
    assert result.readings == 2 + 2 + 1
    assert dict(result.rejected) == {
        "malformed_json": 1,
        "unknown_device": 1,
        "topic_mismatch": 1,
        "non_numeric_value": 1,
        "timestamp_in_future": 1,
    }
    reasons = sorted(r["reason"] for r in quarantine_records("acme"))
    assert reasons == ["malformed_json", "rejected_readings", "rejected_readings", "topic_mismatch", "unknown_device"]
    # the original bytes are kept, so a quarantined message can be fixed and replayed
    malformed = next(r for r in quarantine_records("acme") if r["reason"] == "malformed_json")
    assert malformed["payload_b64"] and malformed["client_id"] == "dev-1"

    sensors = sensor_items("acme")
    assert set(sensors) == {
        "temp_supply",
        "temp_return",
        "F80332010002C857_Temperatura de retorno",
        "F80332010002C857_Umidade",
    }
    assert sensors["F80332010002C857_Umidade"]["unit"]["S"] == "percent_rh"
    assert float(sensors["temp_return"]["last_value"]["N"]) == 11.0  # the newer of two readings
    assert len(lake_rows("acme")) == 5
    assert {row["device_id"] for row in lake_rows("acme")} == {"dev-1", "dev-2"}


def test_a_redelivered_batch_duplicates_nothing_anywhere(world: World) -> None:
    batch = [world.record("dev-1", standard(NOW_S - 60 * i, temp_supply=7.0 + i, temp_return=12.0)) for i in range(5)]
    batch.append(world.record("dev-1", b"garbage"))

    first = world.ingest(batch)
    lake_after_first = objects("telemetry/raw/")
    quarantine_after_first = objects("quarantine/")
    items_after_first = telemetry_items("acme", "dev-1")
    second = world.ingest(batch)

    assert first.readings == second.readings == 10
    assert objects("telemetry/raw/") == lake_after_first  # same object names: overwritten, not added
    assert objects("quarantine/").keys() == quarantine_after_first.keys()
    assert telemetry_items("acme", "dev-1") == items_after_first
    assert len(items_after_first) == 5
    assert len(lake_rows("acme")) == 10
    assert len(sensor_items("acme")) == 2


def test_the_same_reading_in_two_messages_is_stored_once(world: World) -> None:
    world.ingest([world.record("dev-1", standard(NOW_S, temp_supply=7.0))])
    world.ingest([world.record("dev-1", standard(NOW_S, temp_supply=7.0, temp_return=9.0))])

    (item,) = telemetry_items("acme", "dev-1")
    assert item["s:temp_supply"] == {"N": "7.0"}
    assert item["s:temp_return"] == {"N": "9.0"}


def test_one_telemetry_item_carries_every_reading_of_a_message(world: World) -> None:
    world.ingest([world.record("dev-1", standard(NOW_S, a=1.0, b=2.0, c=3.0, d=4.0, e=5.0))])

    (item,) = telemetry_items("acme", "dev-1")
    assert sorted(name for name in item if name.startswith("s:")) == ["s:a", "s:b", "s:c", "s:d", "s:e"]
    assert int(item["expires_at"]["N"]) == NOW_S + 30 * 86_400


def test_a_late_reading_never_moves_the_latest_value_backwards(world: World, settings: Settings) -> None:
    world.ingest([world.record("dev-1", standard(NOW_S, temp_supply=9.0))])
    # a fresh container (no refresh memory) receives an older reading
    world.service = None
    world.ingest([world.record("dev-1", standard(NOW_S - 3600, temp_supply=1.0))])

    latest = sensor_items("acme")["temp_supply"]
    assert float(latest["last_value"]["N"]) == 9.0


def test_the_stored_latest_value_is_refreshed_at_most_every_refresh_interval(world: World) -> None:
    step_s = LATEST_REFRESH_MS // 1000
    world.ingest([world.record("dev-1", standard(NOW_S - 2 * step_s, temp_supply=1.0))])
    world.ingest([world.record("dev-1", standard(NOW_S - 2 * step_s + 60, temp_supply=2.0))])
    assert float(sensor_items("acme")["temp_supply"]["last_value"]["N"]) == 1.0  # within the interval
    world.ingest([world.record("dev-1", standard(NOW_S, temp_supply=3.0))])
    assert float(sensor_items("acme")["temp_supply"]["last_value"]["N"]) == 3.0


def test_another_tenants_device_cannot_publish_into_this_tenant(world: World, settings: Settings) -> None:
    other = World.build(settings, "globex", asset_tag="GX-1")
    other.add_device("gx-dev")
    # gx-dev exists only in globex; a message naming acme's topic is refused
    result = world.ingest(
        [world.record("gx-dev", standard(NOW_S, temp_supply=5.0), topic=world.devices["dev-1"].topic)]
    )

    assert dict(result.rejected) == {"unknown_device": 1}
    assert telemetry_items("acme", "gx-dev") == []
    assert lake_rows("acme") == []


def test_unknown_tenants_go_to_a_shared_quarantine_partition(world: World) -> None:
    result = world.ingest(
        [world.record("dev-1", standard(NOW_S, temp_supply=5.0), topic="tenants/nobody/sites/1/assets/X/telemetry")]
    )

    assert dict(result.rejected) == {"unknown_tenant": 1}
    assert [r["reason"] for r in quarantine_records("_unknown")] == ["unknown_tenant"]


def test_the_handler_reports_only_messages_whose_writes_failed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_handler, "_service", world.pipeline())
    store = world.pipeline()._store
    original = store.put_readings

    def flaky(tenant: str, client_id: str, ts_ms: int, values: dict[str, float]) -> None:
        if client_id == "dev-2":
            raise RuntimeError("throttled")
        original(tenant, client_id, ts_ms, values)

    monkeypatch.setattr(store, "put_readings", flaky)
    good = world.record("dev-1", standard(NOW_S, temp_supply=7.0))
    bad = world.record("dev-2", standard(NOW_S, temp_supply=8.0))
    event = {
        "Records": [
            {"messageId": r.message_id, "body": r.body, "attributes": {"SentTimestamp": str(r.sent_at_ms)}}
            for r in (good, bad)
        ]
    }

    response = ingest_handler.handler(event, LambdaContextStub())

    assert response == {"batchItemFailures": [{"itemIdentifier": bad.message_id}]}
    assert len(telemetry_items("acme", "dev-1")) == 1
