"""Chart series for the telemetry read API (API.md §4.5): raw points or time buckets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from climatrak.core.errors import DomainError
from climatrak.core.timeutil import iso_ms

Interval = Literal["raw", "1m", "5m", "15m", "1h", "auto"]
INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}
HOUR_MS = 3_600_000
RAW_LIMIT = 10_000
BUCKET_LIMIT = 2_000


@dataclass(frozen=True, slots=True)
class Point:
    sensor_id: str
    ts_ms: int
    value: float


def resolve_interval(interval: str, span_ms: int, allow_15m: bool) -> str:
    """The frontend's own choice for `auto`: <1h raw, <=6h 1m, <=24h 5m, <=168h 15m, else 1h."""
    if interval != "auto":
        if interval not in INTERVAL_MS and interval != "raw":
            raise DomainError("Select a valid choice.", field="interval")
        if interval == "15m" and not allow_15m:
            raise DomainError("Select a valid choice.", field="interval")
        return interval
    if span_ms < HOUR_MS:
        return "raw"
    if span_ms <= 6 * HOUR_MS:
        return "1m"
    if span_ms <= 24 * HOUR_MS:
        return "5m"
    if span_ms <= 168 * HOUR_MS and allow_15m:
        return "15m"
    return "1h"


@dataclass
class _Bucket:
    first_ts: int
    last_ts: int
    last_value: float
    minimum: float
    maximum: float
    total: float
    count: int


def bucketed(points: Iterable[Point], width_ms: int) -> list[tuple[str, int, _Bucket]]:
    buckets: dict[tuple[str, int], _Bucket] = {}
    for point in points:
        start = point.ts_ms - point.ts_ms % width_ms
        bucket = buckets.get((point.sensor_id, start))
        if bucket is None:
            buckets[(point.sensor_id, start)] = _Bucket(
                point.ts_ms, point.ts_ms, point.value, point.value, point.value, point.value, 1
            )
            continue
        bucket.count += 1
        bucket.total += point.value
        bucket.minimum = min(bucket.minimum, point.value)
        bucket.maximum = max(bucket.maximum, point.value)
        if point.ts_ms >= bucket.last_ts:
            bucket.last_ts, bucket.last_value = point.ts_ms, point.value
    return [(sensor, start, bucket) for (sensor, start), bucket in sorted(buckets.items())]


def _most_recent(rows: list[Any], limit: int, ts_of: Any) -> tuple[list[Any], bool]:
    """Keep the newest `limit` rows (charts show 'now'), still ordered per sensor and time."""
    if len(rows) <= limit:
        return rows, False
    newest = sorted(rows, key=ts_of, reverse=True)[:limit]
    return sorted(newest, key=lambda row: (row["sensor_id"], ts_of(row))), True


def asset_series(
    points: list[Point], interval: str, limit: int | None = None
) -> tuple[list[dict[str, Any]], bool, int]:
    """Asset history points: raw `{sensor_id, ts, value}`, aggregated `{sensor_id, ts, avg_value,
    min_value, max_value, count}`. Returns (data, truncated, limit)."""
    if interval == "raw":
        cap = limit or RAW_LIMIT
        rows = [{"sensor_id": p.sensor_id, "ts": iso_ms(p.ts_ms), "value": p.value} for p in sorted(points, key=_key)]
        data, truncated = _most_recent(rows, cap, lambda row: row["ts"])
        return data, truncated, cap
    cap = limit or BUCKET_LIMIT
    rows = [
        {
            "sensor_id": sensor,
            "ts": iso_ms(start),
            "avg_value": bucket.total / bucket.count,
            "min_value": bucket.minimum,
            "max_value": bucket.maximum,
            "count": bucket.count,
        }
        for sensor, start, bucket in bucketed(points, INTERVAL_MS[interval])
    ]
    data, truncated = _most_recent(rows, cap, lambda row: row["ts"])
    return data, truncated, cap


def device_series(points: list[Point], interval: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Device history points: raw `{sensor_id, ts, value}`, aggregated `{bucket, sensor_id,
    avg_value, min_value, max_value, last_value, count}`."""
    if interval == "raw":
        rows = [{"sensor_id": p.sensor_id, "ts": iso_ms(p.ts_ms), "value": p.value} for p in sorted(points, key=_key)]
        return _most_recent(rows, limit, lambda row: row["ts"])
    rows = [
        {
            "bucket": iso_ms(start),
            "sensor_id": sensor,
            "avg_value": bucket.total / bucket.count,
            "min_value": bucket.minimum,
            "max_value": bucket.maximum,
            "last_value": bucket.last_value,
            "count": bucket.count,
        }
        for sensor, start, bucket in bucketed(points, INTERVAL_MS[interval])
    ]
    return _most_recent(rows, limit, lambda row: row["bucket"])


def _key(point: Point) -> tuple[str, int]:
    return point.sensor_id, point.ts_ms
