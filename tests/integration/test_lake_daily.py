"""The daily lake job on S3 (moto): raw objects as ingest writes them, compacted into one object,
idempotent across reruns, lifecycle expiry and late arrivals; aggregates written beside it."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from climatrak.core.config import Settings
from climatrak.reports.lake_daily import (
    AGGREGATES_SCHEMA,
    compact_day,
    daily_key,
    day_bounds_ms,
    run_daily_lake,
    sensor_daily_key,
)
from climatrak.telemetry.lake import RAW_PREFIX, RAW_SCHEMA, LakeWriter, RawColumns

TENANT = "acme"
DAY = "2026-03-10"
TIMEZONE = "America/Sao_Paulo"
START, END = day_bounds_ms(DAY, TIMEZONE)
MINUTE = 60_000
SENSORS = ["temp_supply", "power"]
UNITS = ["celsius", "kilowatt"]
METRICS = ["temp_supply", "power_kw"]


@pytest.fixture
def s3(aws: None, clean_aws: None) -> Any:
    return boto3.client("s3", region_name="us-east-1")


def batch(minutes: range, devices: int = 3, received_delay_ms: int = 900, offset: float = 0.0) -> RawColumns:
    """One ingest batch: every device's two sensors at each minute."""
    columns = RawColumns()
    for minute in minutes:
        ts = START + minute * MINUTE
        for device in range(devices):
            columns.add_instant(
                (ts, f"dev-{device}", 1, f"AST-{device}", ts + received_delay_ms, "iot"),
                SENSORS,
                [20.0 + device + minute / 100 + offset, 100.0 + device + offset],
                UNITS,
                METRICS,
            )
    return columns


def write_day(s3: Any, bucket: str, tenant: str = TENANT, day: str = DAY) -> list[str]:
    """Eight batches of three hours, the fourth delivered twice (the copy 5 minutes later)."""
    writer = LakeWriter(s3, bucket)
    keys = [
        writer.write_raw(tenant, day, f"batch-{index}", batch(range(index * 180, (index + 1) * 180)))
        for index in range(8)
    ]
    keys.append(
        writer.write_raw(tenant, day, "batch-3-again", batch(range(540, 720), received_delay_ms=300_900, offset=0.5))
    )
    return keys


def object_body(s3: Any, bucket: str, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_compaction_writes_one_sorted_deduplicated_zstd_object_and_keeps_the_raw(s3: Any, settings: Settings) -> None:
    bucket = settings.lake_bucket
    raw_keys = write_day(s3, bucket)
    result = compact_day(s3, bucket, TENANT, DAY)
    assert result.raw_objects == 9
    assert result.rows == 1_440 * 3 * 2
    assert result.written_key == daily_key(TENANT, DAY)
    assert result.written_key == f"telemetry/daily/tenant={TENANT}/dt={DAY}/part-0000.parquet"
    parquet = pq.ParquetFile(io.BytesIO(object_body(s3, bucket, result.written_key)))
    table = parquet.read()
    assert table.schema.equals(RAW_SCHEMA)
    assert table.num_rows == result.rows
    metadata = parquet.metadata.row_group(0)
    assert metadata.column(0).compression == "ZSTD"
    assert metadata.column(0).statistics.has_min_max  # ts
    assets = metadata.column(RAW_SCHEMA.get_field_index("asset_tag")).statistics
    assert assets.has_min_max and assets.min == min(table.column("asset_tag").to_pylist())
    rows = table.select(["asset_tag", "sensor_id", "device_id", "ts"]).to_pylist()
    assert rows == sorted(rows, key=lambda row: (row["asset_tag"], row["sensor_id"], row["device_id"], row["ts"]))
    # the redelivered copy was received later: its copies won
    delays = table.column("received_at").cast(pa.int64()).to_numpy() - table.column("ts").cast(pa.int64()).to_numpy()
    assert int((delays == 300_900).sum()) == 180 * 3 * 2
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=f"{RAW_PREFIX}/")["Contents"]]
    assert sorted(listed) == sorted(raw_keys)


def test_a_rerun_leaves_the_same_object_even_after_the_raw_objects_expired(s3: Any, settings: Settings) -> None:
    bucket = settings.lake_bucket
    raw_keys = write_day(s3, bucket)
    first = compact_day(s3, bucket, TENANT, DAY)
    body = object_body(s3, bucket, daily_key(TENANT, DAY))
    again = compact_day(s3, bucket, TENANT, DAY)
    assert again.unchanged and again.rows == first.rows
    assert object_body(s3, bucket, daily_key(TENANT, DAY)) == body
    for key in raw_keys[:5]:  # the lifecycle rule expires raw objects
        s3.delete_object(Bucket=bucket, Key=key)
    after_expiry = compact_day(s3, bucket, TENANT, DAY)
    assert after_expiry.unchanged and after_expiry.rows == first.rows and after_expiry.raw_objects == 4
    assert object_body(s3, bucket, daily_key(TENANT, DAY)) == body


def test_a_rerun_takes_in_readings_that_arrived_late(s3: Any, settings: Settings) -> None:
    bucket = settings.lake_bucket
    write_day(s3, bucket)
    first = compact_day(s3, bucket, TENANT, DAY)
    LakeWriter(s3, bucket).write_raw(TENANT, DAY, "late", batch(range(0, 10), devices=4))  # dev-3 is new
    later = compact_day(s3, bucket, TENANT, DAY)
    assert not later.unchanged
    assert later.rows == first.rows + 10 * 2


def test_only_the_tenants_own_day_is_compacted(s3: Any, settings: Settings) -> None:
    bucket = settings.lake_bucket
    write_day(s3, bucket)
    write_day(s3, bucket, tenant="acme2")  # a tenant whose name starts with ours
    write_day(s3, bucket, day="2026-03-11")
    assert compact_day(s3, bucket, TENANT, DAY).rows == 1_440 * 3 * 2


def test_a_day_without_data_writes_nothing(s3: Any, settings: Settings) -> None:
    result = compact_day(s3, settings.lake_bucket, TENANT, DAY)
    assert (result.rows, result.raw_objects, result.written_key) == (0, 0, None)
    assert "Contents" not in s3.list_objects_v2(Bucket=settings.lake_bucket, Prefix="telemetry/daily/")


def test_the_daily_job_writes_the_aggregates_and_returns_the_power_series(s3: Any, settings: Settings) -> None:
    bucket = settings.lake_bucket
    write_day(s3, bucket)
    result = run_daily_lake(s3, bucket, TENANT, DAY, TIMEZONE)
    assert result.compaction.rows == 1_440 * 3 * 2
    assert result.aggregates_key == sensor_daily_key(TENANT, DAY)
    stored = pq.read_table(io.BytesIO(object_body(s3, bucket, result.aggregates_key)))
    assert stored.schema.equals(AGGREGATES_SCHEMA)
    assert stored.equals(result.aggregates)
    assert stored.num_rows == 3 * 2
    assert stored.column("count").to_pylist() == [1_440] * 6
    assert stored.column("coverage").to_pylist() == [1.0] * 6
    assert [(one.device_id, one.unit, len(one.ts_ms)) for one in result.series] == [
        (f"dev-{device}", "kilowatt", 1_440) for device in range(3)
    ]
    power = next(one for one in result.series if one.device_id == "dev-0")
    # minutes 540-719 were redelivered with +0.5, received later: those values won
    assert power.values[600] == 100.5 and power.values[0] == 100.0
