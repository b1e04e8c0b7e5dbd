"""The lake's daily energy dataset: one row per asset and day (kWh by time of use and its cost),
written by the daily report and read back by the monthly one and by analysts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from climatrak.reports.lake_objects import write_rows

ENERGY_PREFIX = "aggregates/energy_daily"
ENERGY_SCHEMA = pa.schema(
    [
        pa.field("dt", pa.string(), nullable=False),
        pa.field("asset_tag", pa.string(), nullable=False),
        pa.field("asset_id", pa.int64()),
        pa.field("kwh_total", pa.float64(), nullable=False),
        pa.field("kwh_peak", pa.float64(), nullable=False),
        pa.field("kwh_off_peak", pa.float64(), nullable=False),
        pa.field("kwh_intermediate", pa.float64(), nullable=False),
        pa.field("cost", pa.decimal128(18, 2)),  # money is never a float
        pa.field("tariff", pa.string()),
        pa.field("flag", pa.string()),
    ]
)


def energy_key(tenant: str, day: str) -> str:
    return f"{ENERGY_PREFIX}/tenant={tenant}/dt={day}/part-0000.parquet"


def write_energy(s3: Any, bucket: str, tenant: str, day: str, rows: list[dict[str, Any]]) -> str:
    """The day's rows as one object (a rerun overwrites it)."""
    return write_rows(s3, bucket, energy_key(tenant, day), rows, ENERGY_SCHEMA)


def read_energy_month(s3: Any, bucket: str, tenant: str, month: str) -> Iterator[dict[str, Any]]:
    """Every row of the month's days that have one."""
    prefix = f"{ENERGY_PREFIX}/tenant={tenant}/dt={month}-"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for listed in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read()
            yield from pq.read_table(io.BytesIO(body)).to_pylist()
