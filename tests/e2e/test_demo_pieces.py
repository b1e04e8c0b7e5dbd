"""Pieces of `climatrak demo`, on small data: the simulated fleet's messages (parsed by the real
parser), its MQTT publisher against the local runtime, and DuckDB over the runtime's lake."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from climatrak.telemetry.lake import RAW_SCHEMA, quarantine_key, raw_key
from climatrak.telemetry.parsing import PayloadError, parse_payload
from climatrak_local import lake
from climatrak_local.runtime import LocalRuntime
from climatrak_local.simulator import (
    MINUTES_PER_DAY,
    FleetPublisher,
    SimDevice,
    bad_messages,
    day_bounds_ms,
    device_messages,
    fleet_messages,
    yesterday,
)

pytestmark = pytest.mark.e2e

TZ = "America/Sao_Paulo"
DAY = date(2026, 3, 10)
DEVICES = [
    SimDevice("umc-ch-001", "CH-001", "chiller", "umc", 1),
    SimDevice("umc-ahu-001", "AHU-001", "ahu", "umc", 1),
    SimDevice("umc-spl-001", "SPL-001", "split", "umc", 1),
]
WIDE_WINDOW = {"max_future_ms": 600_000, "max_age_ms": 400 * 86_400_000}


def parse(payload: bytes, now_ms: int) -> tuple[str, list[tuple[str, int, float, str | None, str]]]:
    parsed = parse_payload(payload, default_ts_ms=now_ms, now_ms=now_ms, **WIDE_WINDOW)
    assert parsed.rejected == []
    return parsed.format, [(r.sensor, r.ts_ms, r.value, r.unit, r.metric_type) for r in parsed.readings]


# -- simulator -----------------------------------------------------------------------------------


def test_day_bounds_are_local_midnights() -> None:
    start, end = day_bounds_ms(DAY, TZ)
    assert datetime.fromtimestamp(start / 1000, ZoneInfo(TZ)).isoformat() == "2026-03-10T00:00:00-03:00"
    assert end - start == 24 * 3_600_000
    assert yesterday(TZ, datetime(2026, 3, 11, 1, 0, tzinfo=ZoneInfo("UTC"))) == date(2026, 3, 9)  # 22:00 local


def test_a_day_has_one_message_per_minute_per_device_in_both_formats() -> None:
    start, _ = day_bounds_ms(DAY, TZ)
    now = start + 2 * 86_400_000
    messages = fleet_messages(DEVICES, start)
    assert len(messages) == MINUTES_PER_DAY * len(DEVICES)
    assert [m.client_id for m in messages[:3]] == [d.client_id for d in DEVICES]  # interleaved by minute

    chiller_format, chiller = parse(messages[0].payload, now)
    ahu_format, ahu = parse(messages[1].payload, now)
    split_format, split = parse(messages[2].payload, now)
    assert (chiller_format, ahu_format, split_format) == ("standard", "standard", "senml")
    assert {metric for *_, metric in chiller} == {
        "temp_supply",
        "temp_return",
        "pressure_suction",
        "pressure_discharge",
        "current",
        "power_kw",
    }
    assert {metric for *_, metric in ahu} >= {"temp_supply", "temp_return", "humidity", "current", "power_kw"}
    assert {metric for *_, metric in split} >= {"temp_supply", "humidity", "current", "power_kw", "rssi"}
    assert all(ts == start for _, ts, *_ in chiller + ahu + split)
    units = {sensor: unit for sensor, _, _, unit, _ in chiller + split}
    assert units["pressure_suction"] == "pascal"  # sent in kPa
    assert units["umc-spl-001:power"] == "watt"
    assert units["umc-spl-001:rssi"] == "dbm"  # sent in dBW, as some Khomp gateways do

    last_ts = parse(messages[-1].payload, now)[1][0][1]
    assert last_ts == start + (MINUTES_PER_DAY - 1) * 60_000


def test_split_units_send_a_khomp_model_record_as_metadata() -> None:
    start, _ = day_bounds_ms(DAY, TZ)
    payload = device_messages(DEVICES[2], start, minutes=1)[0].payload
    parsed = parse_payload(payload, default_ts_ms=start, now_ms=start, **WIDE_WINDOW)
    assert str(parsed.metadata["umc-spl-001:model"]).startswith("Khomp")
    assert orjson.loads(payload)[0]["bn"] == "umc-spl-001:"


def test_values_are_plausible_and_reproducible() -> None:
    start, _ = day_bounds_ms(DAY, TZ)
    now = start + 2 * 86_400_000
    first = device_messages(DEVICES[0], start, minutes=MINUTES_PER_DAY)
    assert first == device_messages(DEVICES[0], start, minutes=MINUTES_PER_DAY)  # same seed, same bytes
    assert first != device_messages(DEVICES[0], start, minutes=MINUTES_PER_DAY, seed=7)
    supply = [v for m in first for s, _, v, _, _ in parse(m.payload, now)[1] if s == "temp_supply"]
    power = [v for m in first for s, _, v, _, _ in parse(m.payload, now)[1] if s == "power_kw"]
    assert min(supply) > 5.5 and max(supply) < 9.0
    # the afternoon draws more power than the small hours
    assert sum(power[14 * 60 : 16 * 60]) > 1.3 * sum(power[3 * 60 : 5 * 60])


def test_bad_messages_are_rejected_for_their_stated_reasons() -> None:
    start, _ = day_bounds_ms(DAY, TZ)
    now = start + 86_400_000
    bad = {item.expected_reason: item.message for item in bad_messages(DEVICES, start, now)}
    assert set(bad) == {"malformed_json", "non_numeric_value", "timestamp_in_future", "unknown_device"}
    with pytest.raises(PayloadError) as error:
        parse_payload(bad["malformed_json"].payload, default_ts_ms=now, now_ms=now, **WIDE_WINDOW)
    assert error.value.reason == "malformed_json"
    for reason in ("non_numeric_value", "timestamp_in_future"):
        parsed = parse_payload(bad[reason].payload, default_ts_ms=now, now_ms=now, **WIDE_WINDOW)
        assert [r.reason for r in parsed.rejected] == [reason]
    assert bad["unknown_device"].client_id not in {d.client_id for d in DEVICES}


def test_fleet_publisher_gets_every_publish_acknowledged(local_runtime: LocalRuntime) -> None:
    # A topic under a tenant nobody created: the pipeline quarantines it, nothing else notices.
    tenant = f"demo{uuid.uuid4().hex[:6]}"
    device = SimDevice(f"{tenant}-ch-001", "CH-001", "chiller", tenant, 1)
    start, _ = day_bounds_ms(DAY, TZ)
    messages = device_messages(device, start, minutes=30)
    publisher = FleetPublisher("127.0.0.1", local_runtime.mqtt_port, max_inflight=5)
    seen: list[int] = []
    try:
        publisher.publish_all(messages)
        publisher.wait_acked(timeout=30, on_progress=seen.append)
    finally:
        publisher.close()
    assert publisher.acked == len(messages) == seen[-1]
    assert publisher.first_publish_at is not None and publisher.last_ack_at is not None
    local_runtime.wait_until_idle(timeout=60)


# -- lake ------------------------------------------------------------------------------------------


@pytest.fixture
def lake_location(local_runtime: LocalRuntime) -> Iterator[lake.LakeLocation]:
    """A bucket of this test's own, so other tests' ingest does not change the counts."""
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3 = local_runtime.client("s3")
    s3.create_bucket(Bucket=bucket)
    yield lake.LakeLocation(local_runtime.endpoint_url, bucket)
    for key in lake.object_keys(s3, bucket, ""):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


def write_raw(
    s3: Any, bucket: str, tenant: str, day: str, digest: str, rows: list[tuple[str, str, float, str]]
) -> None:
    """A raw object as ingest writes it: RAW_SCHEMA (the documented, stable schema) at raw_key."""
    ts = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    records = [
        {
            "ts": ts + timedelta(minutes=index),
            "device_id": f"umc-{asset.lower()}",
            "sensor_id": metric,
            "value": value,
            "unit": unit,
            "metric_type": metric,
            "site_id": 1,
            "asset_tag": asset,
            "received_at": ts,
            "via": "iot",
        }
        for index, (asset, metric, value, unit) in enumerate(rows)
    ]
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records, schema=RAW_SCHEMA), sink)
    s3.put_object(Bucket=bucket, Key=raw_key(tenant, day, digest), Body=sink.getvalue())


def test_an_empty_lake_has_an_empty_view_with_the_full_schema(lake_location: lake.LakeLocation) -> None:
    names, rows = lake.query(lake_location, "SELECT * FROM telemetry_raw")
    assert rows == []
    assert names == [*RAW_SCHEMA.names, "tenant", "dt"]


def test_sql_over_the_lake_sees_partitions_and_values(
    local_runtime: LocalRuntime, lake_location: lake.LakeLocation
) -> None:
    s3, bucket = local_runtime.client("s3"), lake_location.bucket
    write_raw(s3, bucket, "umc", "2026-03-10", "a", [("CH-001", "temp_supply", 7.0, "celsius")] * 2)
    write_raw(
        s3,
        bucket,
        "umc",
        "2026-03-10",
        "b",
        [("CH-001", "temp_supply", 8.0, "celsius"), ("CH-001", "power_kw", 100.0, "kilowatt")],
    )
    write_raw(s3, bucket, "umc", "2026-03-11", "c", [("AHU-001", "temp_supply", 14.0, "celsius")])
    write_raw(s3, bucket, "other", "2026-03-10", "d", [("CH-001", "temp_supply", 99.0, "celsius")])

    names, rows = lake.query(
        lake_location,
        "SELECT dt, asset_tag, count(*) AS readings, "
        "round(avg(value) FILTER (WHERE metric_type = 'temp_supply'), 3) AS avg_supply "
        "FROM telemetry_raw WHERE tenant = 'umc' GROUP BY dt, asset_tag ORDER BY dt",
    )
    assert names == ["dt", "asset_tag", "readings", "avg_supply"]
    assert rows == [("2026-03-10", "CH-001", 4, 7.333), ("2026-03-11", "AHU-001", 1, 14.0)]
    assert len(lake.raw_object_keys(local_runtime.client("s3"), lake_location.bucket, "umc")) == 3


def test_quarantine_records_are_counted_by_reason(
    local_runtime: LocalRuntime, lake_location: lake.LakeLocation
) -> None:
    s3 = local_runtime.client("s3")
    records = [
        {"message_id": "1", "reason": "malformed_json"},
        {"message_id": "2", "reason": "unknown_device"},
        {
            "message_id": "3",
            "reason": "rejected_readings",
            "readings": [
                {"sensor": "a", "reason": "non_numeric_value"},
                {"sensor": "b", "reason": "non_numeric_value"},
            ],
        },
    ]
    body = b"".join(orjson.dumps(record) + b"\n" for record in records)
    s3.put_object(Bucket=lake_location.bucket, Key=quarantine_key("umc", "2026-03-10", "x"), Body=body)
    found = lake.quarantine_records(s3, lake_location.bucket)
    assert len(found) == 3
    assert lake.reject_reasons(found) == {"malformed_json": 1, "unknown_device": 1, "non_numeric_value": 2}
    assert lake.quarantine_records(s3, lake_location.bucket, tenant="nobody") == []


def test_the_demo_day_has_one_incident_on_ch_002() -> None:
    """The chiller fault the demo's alert rules catch: CH-002 only, 14:00-15:00 local time."""
    start, _ = day_bounds_ms(DAY, TZ)
    now = start + 2 * 86_400_000
    faulty = SimDevice("umc-ch-002", "CH-002", "chiller", "umc", 1)

    def supply_by_minute(device: SimDevice) -> list[float]:
        messages = device_messages(device, start, minutes=MINUTES_PER_DAY)
        return [v for m in messages for s, _, v, _, _ in parse(m.payload, now)[1] if s == "temp_supply"]

    supply = supply_by_minute(faulty)
    warm = [minute for minute, value in enumerate(supply) if value > 9.0]
    assert warm and warm[0] >= 14 * 60 and warm[-1] < 15 * 60
    assert len(warm) > 30  # held far longer than the demo rule's 10 minutes
    assert max(supply_by_minute(DEVICES[0])) < 9.0  # the healthy chiller never crosses it
