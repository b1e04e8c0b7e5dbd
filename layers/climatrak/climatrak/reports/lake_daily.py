"""The daily lake job of one tenant and business day: compaction of the raw telemetry, per-sensor
aggregates, and the power/energy series that `reports.energy` integrates.

Runs in a Lambda with pyarrow and numpy only (no DuckDB or pandas in the layer). String columns
become integer codes in string order (`lake_columns`), so the sort, the deduplication and the
grouping are numpy work on int64 keys, and the aggregates are `reduceat` over the sorted rows.

Outputs (bucket `settings.lake_bucket`; `dt` is the tenant's business day):
    telemetry/daily/tenant={t}/dt={day}/part-0000.parquet        RAW_SCHEMA, one row per
        (device_id, sensor_id, ts) - the latest received_at wins - sorted by asset_tag (nulls last),
        sensor_id, device_id, ts; zstd, row groups of 1 Mi rows, statistics on asset_tag
        and ts
    aggregates/sensor_daily/tenant={t}/dt={day}/part-0000.parquet   AGGREGATES_SCHEMA

`run_daily_lake` runs the three steps with the write of the compacted file beside the aggregates;
`compact_day`, `sensor_aggregates`, `write_aggregates` and `power_series` are the same steps alone.

Rerunning a day gives the same bytes. The compaction merges the raw objects INTO the day's
compacted file (reading it as one more input), so a rerun after the lifecycle rule expired the
raw objects, or after late raw objects arrived, never loses rows; raw objects are never deleted.
The compacted file's footer names the raw objects it holds, so a rerun reads only the ones that
arrived since.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from climatrak.core.errors import DomainError
from climatrak.core.timeutil import to_ms, zone
from climatrak.reports.lake_columns import (
    WORKERS,
    Coded,
    Recoding,
    code_strings,
    combine,
    empty,
    float64s,
    int64s,
    is_mixed_radix,
    is_ordered,
    order_by,
    sorted_by,
    split_mixed_radix,
    take,
)
from climatrak.reports.lake_objects import LakeObjects, lake_objects, read_each
from climatrak.telemetry.lake import RAW_PREFIX, RAW_SCHEMA
from climatrak.telemetry.lake import SORT_COLUMNS as RAW_SORT_COLUMNS

DAILY_PREFIX = "telemetry/daily"
SENSOR_DAILY_PREFIX = "aggregates/sensor_daily"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"

STRING_COLUMNS = ("device_id", "sensor_id", "unit", "metric_type", "asset_tag", "via")
NUMBER_COLUMNS = ("ts", "value", "site_id", "received_at")
# asset_tag (nulls last), sensor_id, device_id, ts: the order raw objects are written in too
SORT_COLUMNS = RAW_SORT_COLUMNS
SORT_STRINGS = SORT_COLUMNS[:-1]
OTHER_STRINGS = tuple(name for name in STRING_COLUMNS if name not in SORT_STRINGS)
# the aggregates' group, in the order the output is sorted
GROUP_COLUMNS = ("asset_tag", "sensor_id", "device_id", "metric_type", "unit")
# Dictionary pages for the strings and the site; readings are all distinct floats, and sorted
# timestamps take less time and space plain, as zstd sees them.
COMPACTED_DICTIONARY = [*STRING_COLUMNS, "site_id"]
# Row groups hold 1 Mi rows in sort order: only the leading sort column's min/max can skip one (a
# group holds a narrow range of assets, but every sensor name and, in general, devices from all
# over the alphabet; each string column's statistics cost a twentieth of the encoding). ts: cheap.
COMPACTED_STATISTICS = ["asset_tag", "ts"]
# The writer works (and updates min/max statistics) in batches of this many rows: the default
# 1,024 makes statistics of dictionary columns cost as much as zstd does.
WRITE_BATCH_ROWS = 16_384
# Athena splits work by row group; 1 Mi rows is ~8 MB of zstd here (~60 MB in memory)
ROW_GROUP_ROWS = 1 << 20
P95 = 0.95
EXPECTED_INTERVAL_MS = 60_000

# The compacted file's footer lists the raw objects it holds (their names under the day's prefix),
# up to this many (~35 bytes each).
MERGED_METADATA_KEY = b"climatrak.merged_raw_objects"
MERGED_NAMES_LIMIT = 20_000

# metric_type -> the (normalised) units whose readings make a power or energy series
SERIES_UNITS: dict[str, tuple[str, ...]] = {
    "power_kw": ("kilowatt", "watt"),
    # units.py normalises energy to "kwh"; "kilowatt_hour" is accepted as well
    "energy_kwh": ("kwh", "kilowatt_hour"),
}

_TIMESTAMP = pa.timestamp("ms", tz="UTC")
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())

# The compacted table in memory: RAW_SCHEMA with its strings as dictionaries (the file is plain
# RAW_SCHEMA when read back: the Arrow schema is not stored, Parquet's own types say the same).
COMPACTED_SCHEMA = pa.schema(
    [column.with_type(_DICTIONARY) if column.name in STRING_COLUMNS else column for column in RAW_SCHEMA]
)

AGGREGATES_SCHEMA = pa.schema(
    [
        pa.field("device_id", pa.string(), nullable=False),
        pa.field("asset_tag", pa.string()),
        pa.field("sensor_id", pa.string(), nullable=False),
        pa.field("metric_type", pa.string(), nullable=False),
        pa.field("unit", pa.string()),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("min", pa.float64(), nullable=False),
        pa.field("max", pa.float64(), nullable=False),
        pa.field("avg", pa.float64(), nullable=False),
        pa.field("p95", pa.float64(), nullable=False),  # linear interpolation (numpy's default)
        pa.field("first_ts", _TIMESTAMP, nullable=False),
        pa.field("last_ts", _TIMESTAMP, nullable=False),
        # share of the day's expected slots (1 min) holding at least one reading, 0..1
        pa.field("coverage", pa.float64(), nullable=False),
        # longest stretch of the day without a reading, day start and end included
        pa.field("longest_gap_s", pa.float64(), nullable=False),
    ]
)


# ---- keys and days ------------------------------------------------------------------------------


def _checked_day(day: str) -> date:
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        parsed = None
    if parsed is None or parsed.isoformat() != day:  # fromisoformat also takes 20260310
        raise DomainError(f"'{day}' is not a date (YYYY-MM-DD)", field="date")
    return parsed


def raw_day_prefix(tenant: str, day: str) -> str:
    _checked_day(day)
    return f"{RAW_PREFIX}/tenant={tenant}/dt={day}/"


def daily_key(tenant: str, day: str) -> str:
    _checked_day(day)
    return f"{DAILY_PREFIX}/tenant={tenant}/dt={day}/part-0000.parquet"


def sensor_daily_key(tenant: str, day: str) -> str:
    _checked_day(day)
    return f"{SENSOR_DAILY_PREFIX}/tenant={tenant}/dt={day}/part-0000.parquet"


def day_bounds_ms(day: str, timezone: str | None = None) -> tuple[int, int]:
    """[start, end) of business day `day` in the tenant's time zone, epoch ms (23 or 25 h on DST days)."""
    local = _checked_day(day)
    tz = zone(timezone)
    start = datetime(local.year, local.month, local.day, tzinfo=tz)
    following = local + timedelta(days=1)
    return to_ms(start), to_ms(datetime(following.year, following.month, following.day, tzinfo=tz))


def _parquet(
    table: pa.Table,
    sort_columns: Sequence[str],
    dictionary: bool | list[str] = True,
    statistics: bool | list[str] = True,
    metadata: dict[bytes, str] | None = None,
) -> bytes:
    sink = pa.BufferOutputStream()
    with _parquet_writer(sink, table.schema, sort_columns, dictionary, statistics) as writer:
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        if metadata:
            writer.add_key_value_metadata(metadata)
    return bytes(sink.getvalue())


def _parquet_writer(
    sink: pa.NativeFile,
    schema: pa.Schema,
    sort_columns: Sequence[str],
    dictionary: bool | list[str],
    statistics: bool | list[str],
) -> pq.ParquetWriter:
    return pq.ParquetWriter(
        sink,
        schema,
        compression="zstd",
        write_batch_size=WRITE_BATCH_ROWS,
        use_dictionary=dictionary,
        write_statistics=statistics,
        store_schema=False,
        sorting_columns=[pq.SortingColumn(schema.get_field_index(name), nulls_first=False) for name in sort_columns],
    )


class _CompactedEncoder:
    """Encodes the compacted file on a thread of its own, row group by row group as the
    compaction hands them over: the encoding runs beside the taking of the next row groups and
    the aggregates, not after them. The bytes are those `_parquet` gives for the whole table."""

    def __init__(self, metadata: dict[bytes, str]) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._sink = pa.BufferOutputStream()
        self._metadata = metadata
        self._writer: pq.ParquetWriter | None = None
        # The first failure ends the file (the thread runs the tasks in order): a file missing a
        # row group must never be stored, or its footer would name raw objects it does not hold.
        self._failure: BaseException | None = None

    def put(self, row_group: pa.Table) -> None:
        self._thread.submit(self._write_unless_failed, row_group)

    def _write_unless_failed(self, row_group: pa.Table) -> None:
        if self._failure is None:
            try:
                self._write(row_group)
            except BaseException as failure:
                self._failure = failure

    def _write(self, row_group: pa.Table) -> None:
        if self._writer is None:
            self._writer = _parquet_writer(
                self._sink, row_group.schema, SORT_COLUMNS, COMPACTED_DICTIONARY, COMPACTED_STATISTICS
            )
        self._writer.write_table(row_group, row_group_size=ROW_GROUP_ROWS)

    def finish(self) -> Future[memoryview]:
        """The file's bytes once every row group put so far is written (the thread then ends)."""
        encoded = self._thread.submit(self._close)
        self._thread.shutdown(wait=False)
        return encoded

    def _close(self) -> memoryview:
        if self._failure is not None:
            raise self._failure
        if self._writer is None:
            return memoryview(b"")
        if self._metadata:
            self._writer.add_key_value_metadata(self._metadata)
        self._writer.close()
        return memoryview(self._sink.getvalue()).cast("B")  # bytes-like without a copy


# ---- compaction ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompactionResult:
    rows: int
    raw_objects: int  # under the day's raw prefix
    written_key: str | None  # None when the day has no data at all
    unchanged: bool = False  # the compacted object already held exactly these bytes
    table: pa.Table | None = field(default=None, repr=False, compare=False)  # COMPACTED_SCHEMA
    raw_objects_read: int = 0  # the raw objects the compacted object did not hold yet


@dataclass(frozen=True)
class Compacted:
    """A compacted day: the table, and its columns as numpy (reused by the aggregates)."""

    table: pa.Table  # COMPACTED_SCHEMA
    coded: dict[str, Coded]  # STRING_COLUMNS, in the table's row order
    ts: np.ndarray
    values: np.ndarray

    @classmethod
    def empty(cls) -> Compacted:
        table = COMPACTED_SCHEMA.empty_table()
        coded = {name: code_strings(table.column(name)) for name in STRING_COLUMNS}
        return cls(table, coded, np.zeros(0, np.int64), np.zeros(0, np.float64))


@dataclass(frozen=True)
class LoadedDay:
    compacted: Compacted
    raw_objects: int
    previous: bytes | None  # the compacted object as it was
    merged: tuple[str, ...] = ()  # names of the raw objects the compacted table holds, sorted
    raw_objects_read: int = 0
    encoded: Future[memoryview] | None = field(default=None, repr=False, compare=False)  # the file to store

    @property
    def table(self) -> pa.Table:
        return self.compacted.table


def _read_parquet(body: bytes) -> pa.Table:
    # Raw objects are dictionary-encoded: read as dictionaries, no strings are built. (ParquetFile,
    # not read_table, which imports pyarrow.dataset: a cold-start cost.)
    table = pq.ParquetFile(pa.BufferReader(body), read_dictionary=STRING_COLUMNS).read(
        columns=RAW_SCHEMA.names, use_threads=False
    )
    return table if table.schema.equals(COMPACTED_SCHEMA) else table.cast(COMPACTED_SCHEMA)


def compact_tables(tables: Sequence[pa.Table]) -> pa.Table:
    """The rows of `tables` (RAW_SCHEMA, strings plain or dictionary) with one row per
    (device_id, sensor_id, ts) - the one received last; input order breaks a tie - sorted by
    asset_tag (nulls last), sensor_id, device_id, ts. COMPACTED_SCHEMA, sorted dictionaries."""
    return _compact(list(tables)).table


def _compact(tables: list[pa.Table], encoder: _CompactedEncoder | None = None) -> Compacted:
    """`compact_tables`, emptying `tables` (their columns are released once converted). The
    output is taken row group by row group, each handed to `encoder` as soon as it is whole."""
    inputs = [
        table if table.schema.equals(COMPACTED_SCHEMA) else table.select(RAW_SCHEMA.names).cast(COMPACTED_SCHEMA)
        for table in tables
        if table.num_rows
    ]
    tables.clear()
    if not inputs:
        return Compacted.empty()
    table = pa.concat_tables(inputs)  # zero-copy: the columns hold the inputs' chunks
    del inputs
    source = {name: table.column(name) for name in RAW_SCHEMA.names}
    del table
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        # the sort's string columns first; the others, and every string's count, beside the sort
        coding = {name: pool.submit(code_strings, source.pop(name)) for name in (*SORT_STRINGS, *OTHER_STRINGS)}
        counting = {name: pool.submit(_counts, future) for name, future in coding.items()}
        value = pool.submit(float64s, source.pop("value"))
        site = pool.submit(int64s, source.pop("site_id"))
        ts = int64s(source.pop("ts"))
        received = int64s(source.pop("received_at"))
        asset, sensor, device = (coding[name].result() for name in SORT_STRINGS)
        latest = _latest_per_reading(asset, sensor, device, ts, received)
        rows = latest.rows
        strings = {name: coding.pop(name).result() for name in STRING_COLUMNS}
        # the kept rows' strings: every row's counts less the dropped copies'
        recodings = {
            name: Recoding.of(column, counting.pop(name).result() - _code_counts(column, latest.dropped))
            for name, column in strings.items()
        }
        # the sort columns as the sort left them: runs of equal codes and the key's ts
        kept = _sort_strings_of(latest, asset, sensor, device, recodings)
        taken = {} if latest.ts is None else {"ts": latest.ts}
        del asset, sensor, device
        numbers = {"ts": ts, "received_at": received, "value": value.result(), "site_id": site.result()}
        del ts, received, value, site
        gathered = [name for name in RAW_SCHEMA.names if name not in kept and name not in taken]
        kept |= {name: empty(len(rows), np.int32) for name in gathered if name in strings}
        taken |= {name: empty(len(rows), numbers[name].dtype) for name in gathered if name in numbers}

        def take_part(name: str, part: slice) -> None:
            if name in strings:
                recodings[name].take(strings[name], rows[part], kept[name][part])
            else:
                np.take(numbers[name], rows[part], out=taken[name][part])

        for start in range(0, len(rows), ROW_GROUP_ROWS):
            part = slice(start, start + ROW_GROUP_ROWS)
            for _ in pool.map(take_part, gathered, itertools.repeat(part)):
                pass
            if encoder is not None:
                encoder.put(
                    _compacted_table(
                        {name: codes[part] for name, codes in kept.items()},
                        {name: array[part] for name, array in taken.items()},
                        recodings,
                    )
                )
    coded = {name: recodings[name].coded(codes) for name, codes in kept.items()}
    return Compacted(_compacted_table(kept, taken, recodings), coded, taken["ts"], taken["value"])


def _sort_strings_of(
    latest: _Latest, asset: Coded, sensor: Coded, device: Coded, recodings: dict[str, Recoding]
) -> dict[str, np.ndarray]:
    """The kept rows' asset, sensor and device codes from the sort's runs (empty when the sort
    key does not hold them)."""
    if latest.run_primaries is None or latest.run_lengths is None or not is_mixed_radix(asset, sensor, device):
        return {}
    runs = split_mixed_radix(latest.run_primaries, asset, sensor, device)
    codes = {}
    for name, run_codes in zip(SORT_STRINGS, runs, strict=True):
        remap = recodings[name].remap
        codes[name] = np.repeat(run_codes if remap is None else remap[run_codes], latest.run_lengths)
    return codes


def _counts(coding: Future[Coded]) -> np.ndarray:
    return _code_counts(coding.result())


def _code_counts(column: Coded, rows: np.ndarray | None = None) -> np.ndarray:
    """How many of `rows` (all when None) hold each code."""
    return np.bincount(column.codes if rows is None else column.codes[rows], minlength=column.radix)


def _compacted_table(
    codes: dict[str, np.ndarray], numbers: dict[str, np.ndarray], recodings: dict[str, Recoding]
) -> pa.Table:
    columns = [
        recodings[name].coded(codes[name]).to_arrow()
        if name in codes
        else pa.array(numbers[name]).view(_TIMESTAMP)
        if name in ("ts", "received_at")
        else pa.array(numbers[name])
        for name in RAW_SCHEMA.names
    ]
    return pa.Table.from_arrays(columns, schema=COMPACTED_SCHEMA)


@dataclass(frozen=True)
class _Latest:
    """The rows a compaction keeps, in output order, and what the sort tells about them."""

    rows: np.ndarray  # input rows in (primary, ts) order, one per distinct (primary, ts)
    dropped: np.ndarray  # the input rows left out (older copies)
    # When the sort key was primary * span + ts: the runs of equal primary in `rows` (each run's
    # primary and length) and the rows' ts, read off the sorted key (no gather of the columns)
    run_primaries: np.ndarray | None = None
    run_lengths: np.ndarray | None = None
    ts: np.ndarray | None = None


def _latest_per_reading(asset: Coded, sensor: Coded, device: Coded, ts: np.ndarray, received: np.ndarray) -> _Latest:
    """One row per (device, sensor, ts), in output order (asset, sensor, device, ts)."""
    # A device reports for one asset all day (almost always): then duplicates are neighbours in
    # the output order and one sort does both jobs.
    latest = _latest(combine(asset, sensor, device), ts, received)
    if _one_asset_per_device(latest, asset, sensor, device):
        return latest
    # a device moved between assets during the day: deduplicate first, then sort for output
    deduplicated = _latest(combine(sensor, device), ts, received)
    kept = deduplicated.rows
    output_key = combine(asset, sensor, device)
    return _Latest(np.take(kept, order_by(np.take(output_key, kept), np.take(ts, kept))), deduplicated.dropped)


def _one_asset_per_device(latest: _Latest, asset: Coded, sensor: Coded, device: Coded) -> bool:
    if latest.run_primaries is not None and is_mixed_radix(asset, sensor, device):
        # the runs' primaries are the day's distinct (asset, sensor, device)
        assets, _, devices = split_mixed_radix(latest.run_primaries, asset, sensor, device)
        pairs = _distinct(np.sort(devices.astype(np.int64) * asset.radix + assets))
    elif device.radix * asset.radix <= 4 * len(device.codes):
        pairs = np.flatnonzero(np.bincount(combine(device, asset), minlength=device.radix * asset.radix))
    else:  # too many (device, asset) combinations for a table of counts: sort the pairs
        pairs = _distinct(np.sort(combine(device, asset)))
    owners = pairs // asset.radix  # ascending, once per (device, asset)
    return bool((owners[1:] != owners[:-1]).all())


def _latest(primary: np.ndarray, ts: np.ndarray, received: np.ndarray) -> _Latest:
    """Rows in (primary, ts) order, one per distinct (primary, ts): the latest `received`, the
    first in input order among equals. `primary` is overwritten (it becomes the sort key)."""
    order, key, span = sorted_by(primary, ts, overwrite=True)
    key = take(key, order)
    # Memory touched for the first time is what costs most here: one mask, no index arrays.
    repeat = empty(len(order), bool)
    repeat[:1] = False
    np.equal(key[1:], key[:-1], out=repeat[1:])
    if not repeat.any():
        return _runs(order, np.zeros(0, np.int64), key, span, ts)
    # The runs of copies only: each one's latest arrival, then its first row holding it.
    repeats = np.flatnonzero(repeat)
    members = _merged_ascending(repeats - 1, repeats)  # positions (in sorted order) of every copy
    run = np.cumsum(~repeat[members]) - 1
    run_starts = np.flatnonzero(~repeat[members])
    arrived = np.take(received, np.take(order, members))
    candidates = np.flatnonzero(arrived == np.maximum.reduceat(arrived, run_starts)[run])
    first = np.ones(len(candidates), bool)
    first[1:] = run[candidates[1:]] != run[candidates[:-1]]
    keep = np.logical_not(repeat, out=repeat)
    keep[members] = False
    keep[members[candidates[first]]] = True
    dropped = np.take(order, members[~keep[members]])
    kept = int(np.count_nonzero(keep))
    rows = np.compress(keep, order, out=empty(kept, order.dtype))
    del order
    return _runs(rows, dropped, np.compress(keep, key, out=empty(kept, key.dtype)), span, ts)


def _runs(rows: np.ndarray, dropped: np.ndarray, key: np.ndarray, span: int | None, ts: np.ndarray) -> _Latest:
    """`_Latest` of the kept `rows` and their sorted `key` (overwritten: it becomes their ts)."""
    if span is None or len(rows) == 0:
        return _Latest(rows, dropped)
    first = int(ts[rows[0]]) - int(key[0]) % span  # key = primary * span + ts - first
    primaries = np.floor_divide(key, span, out=empty(len(key), np.int64))
    starts = np.flatnonzero(np.append(True, primaries[1:] != primaries[:-1]))
    run_primaries = primaries[starts]
    np.multiply(primaries, span, out=primaries)
    kept_ts = np.subtract(key, primaries, out=key)
    kept_ts += first
    return _Latest(rows, dropped, run_primaries, np.diff(np.append(starts, len(rows))), kept_ts)


def _merged_ascending(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The distinct values of two ascending arrays, ascending. (np.union1d does the same through
    np.unique, which numpy 2.3+ runs as a hash table: 60x slower on these sorted halves.)"""
    merged = np.concatenate((first, second))
    merged.sort(kind="stable")  # two ascending runs: one merge
    return _distinct(merged)


def _distinct(ascending: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array."""
    if len(ascending) < 2:
        return ascending
    new = np.empty(len(ascending), bool)
    new[0] = True
    np.not_equal(ascending[1:], ascending[:-1], out=new[1:])
    return ascending[new]


def load_day(objects: LakeObjects, tenant: str, day: str) -> LoadedDay:
    """The day's raw objects merged into its compacted object (when there is one), compacted.

    Raw objects are written once per ingest batch (named by its digest), so those the compacted
    object records as merged are not read again: a rerun reads the compacted object, plus only
    what arrived since."""
    key = daily_key(tenant, day)
    prefix = raw_day_prefix(tenant, day)
    previous = objects.read(key)
    raw_keys = [name for name in objects.keys(prefix) if name.endswith(".parquet")]
    merged = _merged_names(previous) if previous is not None else frozenset()
    fresh = [name for name in raw_keys if name.removeprefix(prefix) not in merged]
    tables = read_each(objects, fresh, _read_parquet)
    if previous is not None:
        tables.insert(0, _read_parquet(previous))
    names = tuple(sorted(merged.union(name.removeprefix(prefix) for name in raw_keys)))
    if previous is not None and not fresh:
        # nothing arrived since: the compacted object holds these rows already, nothing to encode
        return LoadedDay(_compact(tables), len(raw_keys), previous, names, 0)
    # Beyond the limit nothing is recorded (a rerun then reads every raw object again).
    encoder = _CompactedEncoder({MERGED_METADATA_KEY: ",".join(names)} if len(names) <= MERGED_NAMES_LIMIT else {})
    try:
        compacted = _compact(tables, encoder)
    finally:
        encoded = encoder.finish()  # the encoder's thread ends either way
    return LoadedDay(compacted, len(raw_keys), previous, names, len(fresh), encoded)


def _merged_names(compacted: bytes) -> frozenset[str]:
    recorded = (pq.read_metadata(pa.BufferReader(compacted)).metadata or {}).get(MERGED_METADATA_KEY)
    return frozenset(recorded.decode().split(",")) if recorded else frozenset()


def store_compacted(objects: LakeObjects, tenant: str, day: str, loaded: LoadedDay) -> CompactionResult:
    table = loaded.table
    if table.num_rows == 0:
        return CompactionResult(0, loaded.raw_objects, None, table=table, raw_objects_read=loaded.raw_objects_read)
    key = daily_key(tenant, day)
    if loaded.encoded is None:
        # nothing arrived since: the table is the compacted object's own rows, already stored
        return CompactionResult(table.num_rows, loaded.raw_objects, key, True, table)
    body = loaded.encoded.result()
    unchanged = body == loaded.previous
    if not unchanged:
        objects.write(key, body, PARQUET_CONTENT_TYPE)
    return CompactionResult(table.num_rows, loaded.raw_objects, key, unchanged, table, loaded.raw_objects_read)


def compact_day(s3: Any, bucket: str, tenant: str, day: str) -> CompactionResult:
    """Compact the tenant-day's raw telemetry into one sorted, deduplicated Parquet object.

    `s3` is a boto3 S3 client, or a local directory (Path) holding the bucket as a subdirectory."""
    objects = lake_objects(s3, bucket)
    return store_compacted(objects, tenant, day, load_day(objects, tenant, day))


# ---- grouping -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Groups:
    """The rows in (group, ts) order with the bounds of each group."""

    coded: dict[str, Coded]  # GROUP_COLUMNS, codes in the table's row order
    order: np.ndarray | None  # table rows in group order; None when the table is in that order
    ts: np.ndarray
    values: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    def first_rows(self) -> np.ndarray:
        """The table row of each group's first reading (where its labels are read)."""
        return self.starts if self.order is None else self.order[self.starts]

    def labels(self, name: str, groups: np.ndarray | None = None) -> pa.Array:
        rows = self.first_rows()
        return self.coded[name].strings(rows if groups is None else rows[groups])


def _groups(table: pa.Table) -> _Groups:
    coded = {name: code_strings(table.column(name)) for name in GROUP_COLUMNS}
    return _groups_of(coded, int64s(table.column("ts")), float64s(table.column("value")))


def _groups_of(coded: dict[str, Coded], ts: np.ndarray, values: np.ndarray) -> _Groups:
    group_key = combine(*(coded[name] for name in GROUP_COLUMNS))
    order = None
    # a compacted day is in this order already, unless a sensor changed unit during the day
    if not is_ordered(group_key, ts):
        order = order_by(group_key, ts)
        group_key, ts, values = (take(column, order) for column in (group_key, ts, values))
    if len(ts) == 0:
        starts = np.zeros(0, np.int64)
    else:
        starts = np.concatenate(([0], np.flatnonzero(group_key[1:] != group_key[:-1]) + 1))
    ends = np.append(starts[1:], len(ts))
    return _Groups(coded, order, ts, values, starts, ends)


# ---- aggregates ---------------------------------------------------------------------------------


def sensor_aggregates(
    table: pa.Table, day_start_ms: int, day_end_ms: int, expected_interval_ms: int = EXPECTED_INTERVAL_MS
) -> pa.Table:
    """One row per (device_id, asset_tag, sensor_id, metric_type, unit) of `table` (RAW_SCHEMA;
    compact it first: every row counts), sorted like the compacted file. Coverage and gaps only
    see the readings inside [day_start_ms, day_end_ms)."""
    return _aggregate(_groups(table), day_start_ms, day_end_ms, expected_interval_ms)


def _aggregate(groups: _Groups, day_start_ms: int, day_end_ms: int, expected_interval_ms: int) -> pa.Table:
    if len(groups.ts) == 0:
        return AGGREGATES_SCHEMA.empty_table()
    ts, values, starts, ends = groups.ts, groups.values, groups.starts, groups.ends
    counts = ends - starts
    day_slots = -(-(day_end_ms - day_start_ms) // expected_interval_ms)
    # a slot counts once however many readings it holds (ts ascends within a group)
    slot = np.subtract(ts, day_start_ms, out=empty(len(ts), np.int64))
    slot //= expected_interval_ms
    new_slot = empty(len(ts), bool)
    new_slot[0] = True
    np.not_equal(slot[1:], slot[:-1], out=new_slot[1:])
    new_slot[starts] = True
    if ts.min() >= day_start_ms and ts.max() < day_end_ms:
        clipped = ts  # a compacted day holds only the day's readings
    else:
        # readings outside the day neither fill a slot nor open or close a gap
        new_slot &= (ts >= day_start_ms) & (ts < day_end_ms)
        clipped = np.clip(ts, day_start_ms, day_end_ms)
    gaps = slot  # the slot numbers are done with: the gaps take their memory
    np.subtract(clipped[1:], clipped[:-1], out=gaps[1:])
    gaps[starts] = clipped[starts] - day_start_ms
    longest_ms = np.maximum(np.maximum.reduceat(gaps, starts), day_end_ms - clipped[ends - 1])
    return pa.Table.from_arrays(
        [
            groups.labels("device_id"),
            groups.labels("asset_tag"),
            groups.labels("sensor_id"),
            groups.labels("metric_type"),
            groups.labels("unit"),
            pa.array(counts, pa.int64()),
            pa.array(np.minimum.reduceat(values, starts)),
            pa.array(np.maximum.reduceat(values, starts)),
            pa.array(np.add.reduceat(values, starts) / counts),
            pa.array(group_quantile(values, starts, counts, P95)),
            pa.array(ts[starts]).view(_TIMESTAMP),
            pa.array(ts[ends - 1]).view(_TIMESTAMP),
            pa.array(np.add.reduceat(new_slot, starts, dtype=np.int64) / day_slots),
            pa.array(longest_ms / 1000.0),
        ],
        schema=AGGREGATES_SCHEMA,
    )


def group_quantile(values: np.ndarray, starts: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Quantile `q` of each contiguous group, linear interpolation (numpy's default).

    Groups of equal size are gathered into one 2-D block and partitioned along its rows, so the
    Python loop runs once per distinct group size (at most ~sqrt(2 x rows) of them), not per group."""
    result = np.empty(len(starts), np.float64)
    if len(starts) == 0:
        return result
    by_size = np.argsort(counts, kind="stable")
    sizes = counts[by_size]
    for members in np.split(by_size, np.flatnonzero(sizes[1:] != sizes[:-1]) + 1):
        size = int(counts[members[0]])
        position = q * (size - 1)
        low = int(np.floor(position))
        high = min(low + 1, size - 1)
        if members[-1] - members[0] == len(members) - 1:  # neighbours (a day of equal groups): a view
            first = int(starts[members[0]])
            block = values[first : first + size * len(members)].reshape(len(members), size).copy()
        else:
            block = values[starts[members][:, None] + np.arange(size)]
        block.partition(high, axis=1)
        # the low-th value is the largest of those the high-th has below it
        below = block[:, high] if low == high else block[:, :high].max(axis=1)
        result[members] = below + (block[:, high] - below) * (position - low)
    return result


def write_aggregates(s3: Any, bucket: str, tenant: str, day: str, table: pa.Table) -> str:
    return _write_aggregates(lake_objects(s3, bucket), tenant, day, table)


def _write_aggregates(objects: LakeObjects, tenant: str, day: str, table: pa.Table) -> str:
    key = sensor_daily_key(tenant, day)
    objects.write(key, _parquet(table.cast(AGGREGATES_SCHEMA), GROUP_COLUMNS), PARQUET_CONTENT_TYPE)
    return key


# ---- power and energy series --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PowerSeries:
    """One sensor's power (kW or W) or energy counter (kWh) readings of the day, one per instant,
    ts ascending."""

    asset_tag: str | None
    device_id: str
    sensor_id: str
    metric_type: str  # power_kw | energy_kwh
    unit: str  # kilowatt | watt | kwh (or kilowatt_hour)
    ts_ms: np.ndarray  # int64 epoch ms
    values: np.ndarray  # float64


def power_series(table: pa.Table) -> list[PowerSeries]:
    """The power and energy sensors of `table` (RAW_SCHEMA), in the compacted file's order."""
    return _power_series(_groups(table))


def _power_series(groups: _Groups) -> list[PowerSeries]:
    if len(groups.starts) == 0:
        return []
    metric, unit = groups.coded["metric_type"], groups.coded["unit"]
    first_rows = groups.first_rows()
    group_metric, group_unit = metric.codes[first_rows], unit.codes[first_rows]
    wanted = np.zeros(len(groups.starts), bool)
    for metric_type, units in SERIES_UNITS.items():
        metric_code = metric.code_of(metric_type)
        unit_codes = [code for name in units if (code := unit.code_of(name)) is not None]
        if metric_code is not None and unit_codes:
            wanted |= (group_metric == metric_code) & np.isin(group_unit, unit_codes)
    chosen = np.flatnonzero(wanted)
    names = ("asset_tag", "device_id", "sensor_id", "metric_type", "unit")
    labels = zip(*(groups.labels(name, chosen).to_pylist() for name in names), strict=True)
    series = []
    for group, (asset_tag, device_id, sensor_id, metric_type, unit_name) in zip(chosen, labels, strict=True):
        ts = groups.ts[groups.starts[group] : groups.ends[group]]
        values = groups.values[groups.starts[group] : groups.ends[group]]
        once = np.ones(len(ts), bool)
        once[1:] = ts[1:] != ts[:-1]  # a reading per instant (the compacted day has no repeats)
        series.append(PowerSeries(asset_tag, device_id, sensor_id, metric_type, unit_name, ts[once], values[once]))
    return series


# ---- the whole daily job ------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyLake:
    compaction: CompactionResult
    aggregates: pa.Table  # AGGREGATES_SCHEMA
    aggregates_key: str | None  # None when the day has no data
    series: list[PowerSeries]


def run_daily_lake(
    s3: Any,
    bucket: str,
    tenant: str,
    day: str,
    timezone: str | None = None,
    expected_interval_ms: int = EXPECTED_INTERVAL_MS,
) -> DailyLake:
    """Compaction, sensor aggregates (written) and power series of one tenant-day."""
    objects = lake_objects(s3, bucket)
    day_start, day_end = day_bounds_ms(day, timezone)
    loaded = load_day(objects, tenant, day)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # encoding and uploading the compacted file run outside the GIL, beside the numpy work
        stored = pool.submit(store_compacted, objects, tenant, day, loaded)
        compacted = loaded.compacted
        groups = _groups_of({name: compacted.coded[name] for name in GROUP_COLUMNS}, compacted.ts, compacted.values)
        aggregates = _aggregate(groups, day_start, day_end, expected_interval_ms)
        series = _power_series(groups)
        aggregates_key = _write_aggregates(objects, tenant, day, aggregates) if aggregates.num_rows else None
        compaction = stored.result()
    return DailyLake(compaction, aggregates, aggregates_key, series)
