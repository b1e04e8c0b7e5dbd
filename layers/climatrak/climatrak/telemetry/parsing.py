"""Telemetry payload parsing: the standard ClimaTrak format and SenML (RFC 8428).

`parse_payload` turns one device message into readings with canonical units, epoch-ms times and a
metric type. Bad readings become `Rejected` entries and never spoil the rest of the message; only a
message that cannot be read at all raises `PayloadError`.

This is the hottest code of ingest (hundreds of thousands of readings per second per core), so the
common case - numeric value, no per-reading timestamp, a sensor seen before - costs a handful of
dict lookups: unit resolution and metric inference are memoised per (sensor, unit, type hint), and
datetime objects only appear when a timestamp is an ISO 8601 string.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from climatrak.telemetry.units import infer_metric_type, resolve_unit

STANDARD = "standard"
SENML = "senml"

# RFC 8428 §4.5.3: resolved times below 2**28 s are relative to now.
SENML_RELATIVE_TIME_LIMIT_S = 2**28
# Standard-format numeric timestamps above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_THRESHOLD = 1e11
# Sensor tags become parts of DynamoDB keys (1 KB sort-key limit) and S3 rows; keep them sane.
MAX_SENSOR_ID_LENGTH = 256
_MAX_SCALAR_TEXT = 64  # longest numeric/ISO string worth trying to parse
_SENML_RECORD_KEYS = frozenset({"bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"})
_SENML_BASE_KEYS = frozenset({"bn", "bt", "bu", "bv", "bs", "bver"})
_SENML_METADATA_KEYS = ("vs", "vb", "vd")
# Standard-format entry fields beyond sensor_id/value/unit; most entries have none of them.
_STANDARD_OPTIONAL_KEYS = frozenset({"timestamp", "ts", "type", "labels"})
# Integer timestamps up to this magnitude convert exactly without going through float.
_EXACT_INT_LIMIT = 2**53
# A tuple, not `bytes | bytearray | ...`: that expression builds a new union object on every call.
_JSON_TEXT_TYPES = (bytes, bytearray, memoryview, str)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


@dataclass(slots=True)
class Reading:
    sensor: str  # sensor tag (standard: sensor_id; SenML: resolved name bn+n)
    ts_ms: int  # epoch milliseconds UTC
    value: float
    unit: str | None  # canonical unit (after units.normalise) or None
    metric_type: str  # inferred, see units.infer_metric_type
    labels: dict[str, str] | None


@dataclass(slots=True)
class Rejected:
    sensor: str | None
    reason: str  # short snake_case code
    detail: str  # human sentence, never the raw payload


@dataclass(slots=True)
class ParsedMessage:
    format: str  # "standard" | "senml"
    device_id: str | None  # standard format's optional device_id; SenML: None
    readings: list[Reading]
    rejected: list[Rejected]  # per-reading rejects; the rest of the message is still good
    metadata: dict[str, object] = field(default_factory=dict)  # SenML vs/vb/vd records, name -> value


class PayloadError(ValueError):
    """The whole message is unusable (malformed_json, unknown_format, empty_payload, invalid_senml_base)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --- memoised per-sensor profile: (canonical unit, converter, metric type) ---------------------------

_Profile = tuple[str | None, Callable[[float], float] | None, str]
_profiles: dict[tuple[str, str | None, str | None], _Profile] = {}
_PROFILE_CACHE_LIMIT = 65536


def _new_profile(sensor: str, unit: str | None, hint: str | None) -> _Profile:
    canonical, convert = resolve_unit(unit)
    profile = (canonical, convert, infer_metric_type(sensor, canonical, hint))
    if len(_profiles) >= _PROFILE_CACHE_LIMIT:
        _profiles.clear()  # device-controlled keys: bound the memory, a refill is cheap
    _profiles[(sensor, unit, hint)] = profile
    return profile


# --- scalar coercion -------------------------------------------------------------------------------


def _to_float(value: object) -> float | None:
    """A finite float from a JSON scalar (bool -> 1.0/0.0, numeric strings ok), else None."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        result = value
    elif isinstance(value, int):
        try:
            result = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str) and len(value) <= _MAX_SCALAR_TEXT:
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def _iso_to_ms(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive means UTC by contract
    return (moment - _EPOCH) // _ONE_MS


def _timestamp_ms(raw: object) -> int | None:
    """Epoch ms from a standard-format timestamp: seconds, milliseconds (> 1e11) or ISO 8601. None if invalid."""
    if type(raw) is int and -_EXACT_INT_LIMIT <= raw <= _EXACT_INT_LIMIT:
        # the usual epoch seconds: exact integer arithmetic gives what the float path below rounds to
        return raw * 1000 if -_MILLISECONDS_THRESHOLD <= raw <= _MILLISECONDS_THRESHOLD else raw
    if isinstance(raw, str):
        text = raw.strip()
        if not text or len(text) > _MAX_SCALAR_TEXT:
            return None
        number = _to_float(text)
        if number is None:
            return _iso_to_ms(text)
    elif isinstance(raw, bool):
        return None
    else:
        number = _to_float(raw)
        if number is None:
            return None
    if abs(number) > _MILLISECONDS_THRESHOLD:
        return round(number)
    return round(number * 1000.0)


def _sensor_tag(raw: object) -> str | None:
    if type(raw) is str:
        return raw
    if type(raw) is int:
        return str(raw)  # numeric ids happen on cheap firmware
    return None


def _labels(raw: object) -> dict[str, str] | None:
    if type(raw) is not dict or not raw:
        return None
    return {str(key): value if type(value) is str else str(value) for key, value in raw.items() if value is not None}


def _short(sensor: str) -> str:
    return sensor if len(sensor) <= 64 else sensor[:64] + "..."


class _Window:
    """The accepted time range; turns a candidate timestamp into a reject reason or None."""

    __slots__ = ("earliest", "latest", "max_age_ms", "max_future_ms")

    def __init__(self, now_ms: int, max_future_ms: int, max_age_ms: int) -> None:
        self.latest = now_ms + max_future_ms
        self.earliest = now_ms - max_age_ms
        self.max_future_ms = max_future_ms
        self.max_age_ms = max_age_ms

    def problem(self, ts_ms: int | None) -> tuple[str, str] | None:
        if ts_ms is None:
            return "invalid_timestamp", "timestamp is neither a number nor an ISO 8601 date-time"
        if ts_ms > self.latest:
            return "timestamp_in_future", f"timestamp is more than {self.max_future_ms // 1000} s in the future"
        if ts_ms < self.earliest:
            return "timestamp_too_old", f"timestamp is more than {self.max_age_ms // 1000} s in the past"
        return None


# --- standard format ---------------------------------------------------------------------------------


def _parse_standard(doc: dict[str, Any], sensors: list[Any], default_ts_ms: int, window: _Window) -> ParsedMessage:
    if not sensors:
        raise PayloadError("empty_payload", "the 'sensors' list is empty")
    device_id = _sensor_tag(doc.get("device_id"))
    raw_message_ts = doc.get("timestamp")
    if raw_message_ts is None:
        raw_message_ts = doc.get("ts")
    message_ts = default_ts_ms if raw_message_ts is None else _timestamp_ms(raw_message_ts)
    message_ts_problem = window.problem(message_ts)
    latest, earliest = window.latest, window.earliest

    readings: list[Reading] = []
    rejected: list[Rejected] = []
    add = readings.append
    profiles_get = _profiles.get
    optional_keys_absent = _STANDARD_OPTIONAL_KEYS.isdisjoint
    for item in sensors:
        if type(item) is not dict:
            rejected.append(Rejected(None, "invalid_record", "sensor entry is not a JSON object"))
            continue
        sensor = item.get("sensor_id")
        if type(sensor) is not str:
            sensor = _sensor_tag(sensor)
        if not sensor:
            rejected.append(Rejected(None, "missing_sensor_id", "sensor entry has no sensor_id"))
            continue
        if len(sensor) > MAX_SENSOR_ID_LENGTH:
            rejected.append(
                Rejected(_short(sensor), "sensor_id_too_long", f"sensor_id exceeds {MAX_SENSOR_ID_LENGTH} characters")
            )
            continue

        value = item.get("value")
        if type(value) is not float or value - value != 0.0:  # the second test catches NaN and inf
            if value is None:
                rejected.append(Rejected(sensor, "missing_value", "sensor entry has no value"))
                continue
            value = _to_float(value)
            if value is None:
                rejected.append(Rejected(sensor, "non_numeric_value", "value is not a finite number"))
                continue

        unit = item.get("unit")
        if unit is not None and type(unit) is not str:
            unit = None

        # Fast path: an entry of only sensor_id/value/unit (one C-level key scan instead of four lookups).
        if optional_keys_absent(item):
            if message_ts_problem is not None:
                rejected.append(Rejected(sensor, *message_ts_problem))
                continue
            ts_ms: int = message_ts  # type: ignore[assignment]  # no problem means not None
            hint = labels = None
        else:
            raw_ts = item.get("timestamp")
            if raw_ts is None:
                raw_ts = item.get("ts")
            if raw_ts is None:
                if message_ts_problem is not None:
                    rejected.append(Rejected(sensor, *message_ts_problem))
                    continue
                ts_ms = message_ts  # type: ignore[assignment]
            else:
                parsed_ts = _timestamp_ms(raw_ts)
                if parsed_ts is None or parsed_ts > latest or parsed_ts < earliest:
                    rejected.append(Rejected(sensor, *window.problem(parsed_ts)))  # type: ignore[misc]
                    continue
                ts_ms = parsed_ts
            hint = item.get("type")
            if hint is not None and type(hint) is not str:
                hint = None
            labels = item.get("labels")
            if labels is not None:
                labels = _labels(labels)

        canonical, convert, metric = profiles_get((sensor, unit, hint)) or _new_profile(sensor, unit, hint)
        if convert is not None:
            value = convert(value)
            if value - value != 0.0:
                rejected.append(Rejected(sensor, "non_numeric_value", "value overflows after unit conversion"))
                continue

        add(Reading(sensor, ts_ms, value, canonical, metric, labels))
    return ParsedMessage(STANDARD, device_id, readings, rejected, {})


# --- SenML (RFC 8428) ----------------------------------------------------------------------------------


def _senml_number(record: dict[str, Any], key: str) -> float:
    number = record[key]
    if type(number) not in (int, float) or not math.isfinite(number):
        raise PayloadError("invalid_senml_base", f"SenML base field '{key}' must be a finite number")
    return float(number)


def _senml_text(record: dict[str, Any], key: str) -> str:
    text = record[key]
    if type(text) is not str:
        raise PayloadError("invalid_senml_base", f"SenML base field '{key}' must be a string")
    return text


def _senml_base_ts(base_time: float | None, default_ts_ms: int, now_ms: int) -> int:
    """The time of records without their own 't' (resolved once per base time, not per record)."""
    if base_time is None:
        return default_ts_ms
    ts_ms = round(base_time * 1000.0)
    if base_time < SENML_RELATIVE_TIME_LIMIT_S:  # RFC 8428 §4.5.3: relative to now
        ts_ms += now_ms
    return ts_ms


def _parse_senml(records: list[Any], default_ts_ms: int, now_ms: int, window: _Window) -> ParsedMessage:
    if not records:
        raise PayloadError("empty_payload", "the SenML pack has no records")
    if type(records[0]) is not dict and not any(type(record) is dict for record in records):
        raise PayloadError("unknown_format", "a JSON array must hold SenML records (objects)")

    # Base values apply to every following record until changed (RFC 8428 §4.1).
    base_name = ""
    base_time: float | None = None
    base_unit: str | None = None
    base_value = 0.0
    base_ts_ms = default_ts_ms
    readings: list[Reading] = []
    rejected: list[Rejected] = []
    metadata: dict[str, object] = {}
    add = readings.append
    profiles_get = _profiles.get
    no_base_keys = _SENML_BASE_KEYS.isdisjoint
    latest, earliest = window.latest, window.earliest

    for record in records:
        if type(record) is not dict:
            rejected.append(Rejected(None, "invalid_record", "SenML record is not a JSON object"))
            continue
        # Fast path: most records carry no base field (one C-level key scan instead of six lookups).
        if no_base_keys(record):
            has_base = False
        else:
            has_base = True
            if "bn" in record:
                base_name = _senml_text(record, "bn")
            if "bt" in record:
                base_time = _senml_number(record, "bt")
                base_ts_ms = _senml_base_ts(base_time, default_ts_ms, now_ms)
            if "bu" in record:
                base_unit = _senml_text(record, "bu")
            if "bv" in record:
                base_value = _senml_number(record, "bv")

        local_name = record.get("n", "")
        if type(local_name) is not str:
            rejected.append(Rejected(None, "invalid_record", "SenML name 'n' is not a string"))
            continue
        name = base_name + local_name

        raw_value = record.get("v")
        if raw_value is None:
            for metadata_key in _SENML_METADATA_KEYS:
                if metadata_key in record:
                    if name:
                        metadata[name] = record[metadata_key]
                    else:
                        rejected.append(Rejected(None, "missing_sensor_id", "SenML record has no name"))
                    break
            else:
                if not ((has_base and "n" not in record) or "s" in record):  # base-only and sum records: no reading
                    rejected.append(Rejected(name or None, "missing_value", "SenML record has no v, vs, vb or vd"))
            continue

        if not name:
            rejected.append(Rejected(None, "missing_sensor_id", "SenML record has no name (bn + n)"))
            continue
        if len(name) > MAX_SENSOR_ID_LENGTH:
            rejected.append(
                Rejected(_short(name), "sensor_id_too_long", f"SenML name exceeds {MAX_SENSOR_ID_LENGTH} characters")
            )
            continue
        value = raw_value if type(raw_value) is float and raw_value - raw_value == 0.0 else _to_float(raw_value)
        if value is None:
            rejected.append(Rejected(name, "non_numeric_value", "value is not a finite number"))
            continue
        if base_value:
            value += base_value

        relative = record.get("t")
        if relative is None:
            ts_ms: int | None = base_ts_ms
        elif type(relative) not in (int, float) or not math.isfinite(relative):
            ts_ms = None
        else:
            resolved = (base_time or 0.0) + relative
            ts_ms = round(resolved * 1000.0)
            if resolved < SENML_RELATIVE_TIME_LIMIT_S:  # RFC 8428 §4.5.3: relative to now
                ts_ms += now_ms
        if ts_ms is None or ts_ms > latest or ts_ms < earliest:
            rejected.append(Rejected(name, *window.problem(ts_ms)))  # type: ignore[misc]
            continue

        unit = record.get("u", base_unit)
        if unit is not None and type(unit) is not str:
            unit = None
        canonical, convert, metric = profiles_get((name, unit, None)) or _new_profile(name, unit, None)
        if convert is not None:
            value = convert(value)
            if value - value != 0.0:  # overflowed to inf
                rejected.append(Rejected(name, "non_numeric_value", "value overflows after unit conversion"))
                continue
        add(Reading(name, ts_ms, value, canonical, metric, None))
    return ParsedMessage(SENML, None, readings, rejected, metadata)


# --- entry point ---------------------------------------------------------------------------------------


def parse_payload(
    raw: bytes | str | object, *, default_ts_ms: int, now_ms: int, max_future_ms: int, max_age_ms: int
) -> ParsedMessage:
    """Parse one device message (JSON text or an already-decoded list/dict), detecting its format.

    `default_ts_ms` is the time of readings that carry none (the envelope's ts or the receipt time);
    readings outside [now_ms - max_age_ms, now_ms + max_future_ms] are rejected.
    """
    if isinstance(raw, _JSON_TEXT_TYPES):
        if not raw:
            raise PayloadError("empty_payload", "the payload is empty")
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise PayloadError("malformed_json", f"payload is not valid JSON (position {error.pos})") from None
    else:
        doc = raw

    window = _Window(now_ms, max_future_ms, max_age_ms)
    if type(doc) is dict:
        sensors = doc.get("sensors")
        if sensors is not None:
            if type(sensors) is not list:
                raise PayloadError("unknown_format", "'sensors' must be a list")
            return _parse_standard(doc, sensors, default_ts_ms, window)
        if not _SENML_RECORD_KEYS.isdisjoint(doc):
            return _parse_senml([doc], default_ts_ms, now_ms, window)
        raise PayloadError("unknown_format", "object is neither a standard message nor a SenML record")
    if type(doc) is list:
        return _parse_senml(doc, default_ts_ms, now_ms, window)
    raise PayloadError("unknown_format", "payload must be a JSON object or a SenML array")
