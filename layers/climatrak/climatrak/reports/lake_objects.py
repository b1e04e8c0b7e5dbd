"""Where the daily lake job reads and writes objects: S3 (boto3 client) or a local directory.

The job only needs to list a prefix, read whole objects and put one; a local directory standing
in for the bucket lets the benchmark run on local disk with the same code, and moto stands in for
S3 in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from climatrak.core.resources import LakeTableSpec
from climatrak.reports.lake_columns import WORKERS

T = TypeVar("T")

# Reads are many small GETs (one raw object per ingest batch): their latency, not bandwidth,
# bounds the job, so they overlap.
READ_CONCURRENCY = 16


class LakeObjects(Protocol):
    # Threads that only fetch (latency-bound reads); 0: the decoding workers read themselves.
    fetch_concurrency: int

    def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix`, sorted."""
        ...

    def read(self, key: str) -> bytes | None:
        """The object's bytes, None when it does not exist."""
        ...

    def write(self, key: str, body: bytes | memoryview, content_type: str) -> None: ...


class S3Objects:
    fetch_concurrency = READ_CONCURRENCY

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def read(self, key: str) -> bytes | None:
        try:
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        return body

    def write(self, key: str, body: bytes | memoryview, content_type: str) -> None:
        # S3 checks the body against the digest, so a truncated upload can never replace a good file
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body if isinstance(body, bytes) else body.tobytes(),  # botocore takes bytes or files
            ContentType=content_type,
            ContentMD5=_content_md5(body),
        )


class LocalObjects:
    """A directory standing in for a bucket: key `a/b.parquet` is the file `{root}/a/b.parquet`."""

    fetch_concurrency = 0  # a local read is not worth a thread of its own

    def __init__(self, root: Path) -> None:
        self._root = root

    def keys(self, prefix: str) -> list[str]:
        # walk only the prefix's deepest directory, not the whole bucket (os.walk: pathlib's rglob
        # costs more than the reads of a day's small objects)
        directory = prefix.rpartition("/")[0]
        keys: list[str] = []
        for folder, _, files in os.walk(self._root / directory):
            relative = Path(folder).relative_to(self._root).as_posix()
            base = "" if relative == "." else f"{relative}/"
            keys.extend(key for name in files if (key := base + name).startswith(prefix))
        return sorted(keys)

    def read(self, key: str) -> bytes | None:
        path = self._root / key
        return path.read_bytes() if path.is_file() else None

    def write(self, key: str, body: bytes | memoryview, content_type: str) -> None:
        path = self._root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(body)
        partial.replace(path)  # readers never see half a file


def lake_objects(s3: Any, bucket: str) -> LakeObjects:
    """`s3` is a boto3 S3 client, or a local directory (Path) whose subdirectory `bucket` is the bucket."""
    if isinstance(s3, Path):
        return LocalObjects(s3 / bucket)
    return S3Objects(s3, bucket)


def read_each(objects: LakeObjects, keys: list[str], parse: Callable[[bytes], T]) -> list[T]:
    """`parse` of every object among `keys` that exists, in the order of `keys`. On S3 many
    threads fetch (latency-bound) while one per core parses (pyarrow decodes outside the GIL);
    local files are read by the parsing workers themselves."""
    if not keys:
        return []
    if objects.fetch_concurrency == 0:

        def read_and_parse(key: str) -> T | None:
            body = objects.read(key)
            return None if body is None else parse(body)

        with ThreadPoolExecutor(max_workers=WORKERS) as workers:
            return [parsed for parsed in workers.map(read_and_parse, keys) if parsed is not None]
    with (
        ThreadPoolExecutor(max_workers=min(objects.fetch_concurrency, len(keys))) as fetch,
        ThreadPoolExecutor(max_workers=WORKERS) as decode,
    ):
        parsed = [decode.submit(parse, body) for body in fetch.map(objects.read, keys) if body is not None]
        return [future.result() for future in parsed]


def _content_md5(body: bytes | memoryview) -> str:
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


# Athena DDL types of LakeTableSpec columns, as Arrow types.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "decimal(18,2)": pa.decimal128(18, 2),
}


def arrow_schema(table: LakeTableSpec) -> pa.Schema:
    """A dataset's writer schema from its declaration (its Glue table and DuckDB view agree)."""
    return pa.schema([pa.field(name, _ARROW_TYPES[kind]) for name, kind in table.columns])


def write_rows(s3: Any, bucket: str, key: str, rows: list[dict[str, Any]], schema: pa.Schema) -> str:
    """Rows as one zstd Parquet object at `key` (a rerun overwrites it)."""
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, compression="zstd")
    S3Objects(s3, bucket).write(key, sink.getvalue().to_pybytes(), "application/vnd.apache.parquet")
    return key
