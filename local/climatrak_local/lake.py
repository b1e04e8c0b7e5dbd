"""The lake of the local runtime, queried with DuckDB under the Athena tables' names.

DuckDB reads S3 through its httpfs extension, which it downloads on first use: not an option
offline. So pyarrow reads the lake from moto (pyarrow.fs.S3FileSystem speaks S3 itself) and
each dataset of `climatrak.core.resources.LAKE_TABLES` is handed to DuckDB as a view of the
Glue table's name and columns (partitions `tenant`, `dt` or `month` as strings): telemetry_raw,
telemetry_daily, sensor_daily, energy_daily, ledger_transactions. SQL is written for Athena
(Trino) and transpiled to DuckDB with sqlglot, so the same text runs in both places; `?`
placeholders are bound in both (Athena's execution parameters, DuckDB's prepared statements).
Timestamps are UTC instants: the connection's time zone is UTC, as Athena's is.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import duckdb
import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import sqlglot
import sqlglot.errors

from climatrak.core.resources import LAKE_BUCKET, LAKE_TABLES, TELEMETRY_RAW_TABLE, LakeTableSpec
from climatrak.telemetry.lake import QUARANTINE_PREFIX, RAW_PREFIX

RAW_VIEW = TELEMETRY_RAW_TABLE.name
# The Parquet datasets of the lake bucket (the reports table is JSON in the reports bucket).
LOCAL_TABLES: tuple[LakeTableSpec, ...] = tuple(
    table for table in LAKE_TABLES if table.bucket == LAKE_BUCKET and table.data_format == "parquet"
)
_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")
_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    # Parquet instants in UTC, as the writers store them (telemetry.lake.RAW_SCHEMA).
    "timestamp": pa.timestamp("ms", tz="UTC"),
}
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


def arrow_type(athena_type: str) -> pa.DataType:
    """The Arrow type of a Glue/Athena column type (the lake's types only)."""
    decimal = _DECIMAL.fullmatch(athena_type)
    if decimal:
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    try:
        return _SIMPLE_TYPES[athena_type]
    except KeyError:
        raise ValueError(f"no Arrow type for the column type {athena_type!r}") from None


def arrow_schema(table: LakeTableSpec) -> pa.Schema:
    """The table's columns, then its partitions (strings), as Athena lists them."""
    columns = [pa.field(name, arrow_type(kind)) for name, kind in table.columns]
    return pa.schema(columns + [pa.field(p.name, pa.string()) for p in table.partitions])


def table_dataset(
    location: LakeLocation, table: LakeTableSpec, filesystem: pafs.FileSystem | None = None
) -> ds.Dataset:
    """Every Parquet object under the table's prefix, read with the table's schema (missing
    columns are null, narrower types widen); an empty dataset of that schema if none yet."""
    filesystem = filesystem or s3_filesystem(location)
    base = f"{location.bucket}/{table.prefix}"
    files = [
        info.path
        for info in filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        if info.type == pafs.FileType.File and info.path.endswith(".parquet")
    ]
    schema = arrow_schema(table)
    if not files:
        return ds.dataset(schema.empty_table())
    partitions = pa.schema([pa.field(p.name, pa.string()) for p in table.partitions])
    return ds.dataset(
        files,
        schema=schema,
        filesystem=filesystem,
        format="parquet",
        partitioning=ds.partitioning(partitions, flavor="hive"),
        partition_base_dir=base,
    )


def raw_dataset(location: LakeLocation) -> ds.Dataset:
    """Every raw Parquet object under telemetry/raw/, partitioned tenant=/dt=; empty if none yet."""
    return table_dataset(location, TELEMETRY_RAW_TABLE)


def to_duckdb(sql: str) -> str:
    """Athena (Trino) SQL in DuckDB's dialect; text sqlglot cannot parse is passed on unchanged
    (DuckDB then says what is wrong with it)."""
    try:
        statements = sqlglot.transpile(sql, read="athena", write="duckdb")
    except sqlglot.errors.SqlglotError:
        return sql
    return ";\n".join(statements) if statements else sql


class LakeQuery:
    """A DuckDB connection with a view per lake table (telemetry_raw, telemetry_daily, ...).

    The datasets are listed once, when the connection is made: objects written later need a new one.
    """

    def __init__(self, location: LakeLocation, filesystem: pafs.FileSystem | None = None) -> None:
        """`filesystem`: where `location.bucket` is (default: moto's S3 at `location.endpoint_url`;
        a local directory works too, e.g. in tests)."""
        self._connection = duckdb.connect(":memory:")
        self._connection.execute("SET TimeZone = 'UTC'")
        filesystem = filesystem or s3_filesystem(location)
        for table in LOCAL_TABLES:
            self._connection.register(table.name, table_dataset(location, table, filesystem))

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run Athena SQL (`?` placeholders bound to `parameters` in order): (column names, rows)."""
        relation = self._connection.execute(to_duckdb(sql), list(parameters) or None)
        columns = [column[0] for column in relation.description or []]
        return columns, relation.fetchall()

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> LakeQuery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def query(
    location: LakeLocation, sql: str, parameters: Sequence[Any] = (), filesystem: pafs.FileSystem | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SQL statement over the lake: (column names, rows)."""
    with LakeQuery(location, filesystem) as lake:
        return lake.query(sql, parameters)


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
