"""The telemetry lake of the local runtime, queried with DuckDB.

DuckDB reads S3 through its httpfs extension, which it downloads on first use: not an option
offline. So pyarrow reads the lake from moto (pyarrow.fs.S3FileSystem speaks S3 itself) and the
dataset is handed to DuckDB as the view `telemetry_raw` - the same name and columns as the
Athena table on AWS (the schema of `climatrak.telemetry.lake.RAW_SCHEMA` plus the hive
partitions `tenant` and `dt`, both strings), so the same SQL text runs in both places.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import duckdb
import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from climatrak.telemetry.lake import QUARANTINE_PREFIX, RAW_PREFIX, RAW_SCHEMA

RAW_VIEW = "telemetry_raw"
PARTITIONS = pa.schema([pa.field("tenant", pa.string()), pa.field("dt", pa.string())])
LOCAL_REGION = "us-east-1"
LOCAL_KEY = "local"  # moto accepts any credentials


@dataclass(frozen=True)
class LakeLocation:
    """Where a local lake lives: the moto endpoint and the bucket name."""

    endpoint_url: str
    bucket: str
    region: str = LOCAL_REGION


def s3_filesystem(location: LakeLocation) -> pafs.S3FileSystem:
    endpoint = urlparse(location.endpoint_url)
    return pafs.S3FileSystem(
        access_key=LOCAL_KEY,
        secret_key=LOCAL_KEY,
        region=location.region,
        scheme=endpoint.scheme or "http",
        endpoint_override=endpoint.netloc,
        # moto serves path-style URLs; no retries or the first failure would hide behind backoff
        force_virtual_addressing=False,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
    )


def raw_dataset(location: LakeLocation) -> ds.Dataset:
    """Every raw Parquet object under telemetry/raw/, partitioned tenant=/dt=; empty if none yet."""
    filesystem = s3_filesystem(location)
    base = f"{location.bucket}/{RAW_PREFIX}"
    files = [
        info.path
        for info in filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        if info.type == pafs.FileType.File and info.path.endswith(".parquet")
    ]
    schema = pa.unify_schemas([RAW_SCHEMA, PARTITIONS])
    if not files:
        return ds.dataset(schema.empty_table())
    return ds.dataset(
        files,
        schema=schema,
        filesystem=filesystem,
        format="parquet",
        partitioning=ds.partitioning(PARTITIONS, flavor="hive"),
        partition_base_dir=base,
    )


class LakeQuery:
    """A DuckDB connection with the lake registered as the view `telemetry_raw`.

    The dataset is listed once, when the connection is made: objects written later need a new one.
    """

    def __init__(self, location: LakeLocation) -> None:
        self._connection = duckdb.connect(":memory:")
        self._connection.register(RAW_VIEW, raw_dataset(location))

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        relation = self._connection.execute(sql)
        columns = [column[0] for column in relation.description or []]
        return columns, relation.fetchall()

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> LakeQuery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def query(location: LakeLocation, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SQL statement over the lake: (column names, rows)."""
    with LakeQuery(location) as lake:
        return lake.query(sql)


# -- plain S3 listings (the summary counts objects and reads quarantine records) --------------


def object_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def raw_object_keys(s3: Any, bucket: str, tenant: str | None = None) -> list[str]:
    prefix = f"{RAW_PREFIX}/tenant={tenant}/" if tenant else f"{RAW_PREFIX}/"
    return [key for key in object_keys(s3, bucket, prefix) if key.endswith(".parquet")]


def quarantine_records(s3: Any, bucket: str, tenant: str | None = None) -> list[dict[str, Any]]:
    """Every record of quarantine/tenant=*/dt=*/*.jsonl (of one tenant if given)."""
    prefix = f"{QUARANTINE_PREFIX}/tenant={tenant}/" if tenant else f"{QUARANTINE_PREFIX}/"
    records: list[dict[str, Any]] = []
    for key in object_keys(s3, bucket, prefix):
        if key.endswith(".jsonl"):
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            records.extend(orjson.loads(line) for line in body.splitlines() if line.strip())
    return records


def reject_reasons(records: list[dict[str, Any]]) -> collections.Counter[str]:
    """Rejects by reason; a `rejected_readings` record counts each of its readings' reasons."""
    reasons: collections.Counter[str] = collections.Counter()
    for record in records:
        if record.get("reason") == "rejected_readings":
            reasons.update(str(reading.get("reason", "unknown")) for reading in record.get("readings", []))
        else:
            reasons[str(record.get("reason", "unknown"))] += 1
    return reasons
