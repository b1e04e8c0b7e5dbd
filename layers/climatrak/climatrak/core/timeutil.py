"""Time helpers: UTC in storage (ISO 8601, milliseconds, 'Z'), tenant time zones for business days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from climatrak.core.config import DEFAULT_TIMEZONE


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@lru_cache(maxsize=8192)  # a batch repeats the same few instants across devices
def iso_ms(ts_ms: int) -> str:
    """Storage form: lexically sortable UTC with milliseconds, e.g. 2026-11-25T10:00:00.000Z."""
    seconds, millis = divmod(ts_ms, 1000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)
    # isoformat pads the year to four digits (strftime's %Y does not on every platform)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now_iso() -> str:
    return iso_ms(now_ms())


def parse_iso(value: str) -> datetime:
    """Parse ISO 8601 (with Z, an offset, or naive meaning UTC) to an aware UTC datetime."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@lru_cache(maxsize=64)
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


class LocalDay:
    """Maps epoch ms to the business day in one time zone, remembering the last day's bounds
    so that a batch (almost always within one day) costs two comparisons per reading."""

    __slots__ = ("_end", "_start", "_tz", "_value")

    def __init__(self, tz_name: str | None) -> None:
        self._tz = zone(tz_name)
        self._start = 0
        self._end = -1
        self._value = ""

    def of(self, ts_ms: int) -> str:
        if self._start <= ts_ms < self._end:
            return self._value
        local = datetime.fromtimestamp(ts_ms / 1000, self._tz)
        day: date = local.date()
        start = datetime(day.year, day.month, day.day, tzinfo=self._tz)
        self._start = to_ms(start)
        # local midnight to local midnight: a day is not always 24 h where DST applies
        self._end = to_ms(datetime.combine(day + timedelta(days=1), datetime.min.time(), self._tz))
        self._value = day.isoformat()
        return self._value


def month_of(moment_iso: str, tz_name: str | None) -> str:
    """The business month (`YYYY-MM`) of an instant in the tenant's time zone."""
    return parse_iso(moment_iso).astimezone(zone(tz_name)).strftime("%Y-%m")


def month_start(month: str, tz_name: str | None) -> datetime:
    """The first instant (UTC) of business month `YYYY-MM` in the tenant's time zone."""
    year, number = (int(part) for part in month.split("-")[:2])
    return datetime(year, number, 1, tzinfo=zone(tz_name)).astimezone(UTC)


def next_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-")[:2])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"
