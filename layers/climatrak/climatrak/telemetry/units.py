"""Unit normalisation and metric-type inference for telemetry readings.

Both run once per reading, millions of times a day, over a small set of distinct inputs, so every
lookup is memoised in a bounded dict: the hot path is one dict hit. Device-supplied strings are
unbounded in principle, hence the caps (a cache that only grows is a memory leak fed by devices).

Canonical units: celsius, percent_rh, percent, watt, kilowatt, volt, ampere, kwh, pascal, ppm, rpm,
hertz, dbm, db, cubic_meter_per_hour, power_factor, meter_per_second, second, lux. Unknown units are
kept lower-cased and stripped: a reading is never dropped for its unit.

Decisions worth knowing:
- SenML "/" (a 0..1 ratio, RFC 8428 §12.1) becomes `percent` (value x 100): dashboards show
  valve positions and dimmers as percentages, and one canonical unit per quantity keeps charts sane.
- SenML "%EL" (remaining battery) is a plain `percent`.
- Energy is always `kwh`; power keeps `watt` and `kilowatt` apart (both are in the product's set).
- dBW becomes dBm (+30): LoRaWAN gateways report RSSI in either.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

Converter = Callable[[float], float]

_CACHE_LIMIT = 4096

# canonical unit -> aliases (compared after _unit_key: lower-case, no degree sign, no spaces)
_ALIASES: dict[str, tuple[str, ...]] = {
    "celsius": ("cel", "c", "degc", "celsius", "celcius", "graus", "grausc"),
    "percent_rh": ("%rh", "rh", "percent_rh", "%ur", "ur", "rh%"),
    "percent": ("%", "percent", "pct", "%el"),
    "watt": ("w", "watt", "watts"),
    "kilowatt": ("kw", "kilowatt", "kilowatts"),
    "kwh": ("kwh", "kilowatt_hour", "kw.h", "kw*h"),
    "volt": ("v", "volt", "volts"),
    "ampere": ("a", "amp", "amps", "ampere", "amperes"),
    "pascal": ("pa", "pascal"),
    "ppm": ("ppm",),
    "rpm": ("rpm", "1/min", "r/min"),
    "hertz": ("hz", "hertz"),
    "dbm": ("dbm",),
    "db": ("db",),
    "cubic_meter_per_hour": ("m3/h", "m³/h", "m^3/h", "cmh", "cubic_meter_per_hour"),
    "power_factor": ("pf", "power_factor", "cosphi", "cosφ", "fp"),
    "meter_per_second": ("m/s", "meter_per_second"),
    "second": ("s", "sec", "second", "seconds"),
    "lux": ("lx", "lux"),
}

# alias -> (canonical unit, conversion into it)
_CONVERTED: dict[str, tuple[str, Converter]] = {
    "f": ("celsius", lambda v: (v - 32.0) * 5.0 / 9.0),
    "degf": ("celsius", lambda v: (v - 32.0) * 5.0 / 9.0),
    "fahrenheit": ("celsius", lambda v: (v - 32.0) * 5.0 / 9.0),
    "k": ("celsius", lambda v: v - 273.15),
    "kelvin": ("celsius", lambda v: v - 273.15),
    "wh": ("kwh", lambda v: v / 1000.0),
    "mwh": ("kwh", lambda v: v * 1000.0),  # after lower-casing "MWh" and "mWh" collide; MWh is the metering one
    "mw": ("kilowatt", lambda v: v * 1000.0),  # same reasoning: MW, nobody meters milliwatts on a chiller
    "mv": ("volt", lambda v: v / 1000.0),
    "kv": ("volt", lambda v: v * 1000.0),
    "ma": ("ampere", lambda v: v / 1000.0),
    "hpa": ("pascal", lambda v: v * 100.0),
    "mbar": ("pascal", lambda v: v * 100.0),
    "kpa": ("pascal", lambda v: v * 1000.0),
    "mpa": ("pascal", lambda v: v * 1_000_000.0),
    "bar": ("pascal", lambda v: v * 100_000.0),
    "psi": ("pascal", lambda v: v * 6894.757293168361),
    "inh2o": ("pascal", lambda v: v * 249.08891),
    "inwc": ("pascal", lambda v: v * 249.08891),
    "mmh2o": ("pascal", lambda v: v * 9.80665),
    "dbw": ("dbm", lambda v: v + 30.0),
    "/": ("percent", lambda v: v * 100.0),
    "ratio": ("percent", lambda v: v * 100.0),
    "cfm": ("cubic_meter_per_hour", lambda v: v * 1.6990107955),
    "l/s": ("cubic_meter_per_hour", lambda v: v * 3.6),
    "m3/s": ("cubic_meter_per_hour", lambda v: v * 3600.0),
    "khz": ("hertz", lambda v: v * 1000.0),
}

_IDENTITY: dict[str, str] = {alias: canonical for canonical, aliases in _ALIASES.items() for alias in aliases}

UnitResolution = tuple[str | None, Converter | None]
_unit_cache: dict[str, UnitResolution] = {}


def _unit_key(unit: str) -> str:
    return unit.strip().lower().replace("°", "").replace("º", "").replace(" ", "")


def _resolve_unit_uncached(unit: str) -> UnitResolution:
    key = _unit_key(unit)
    if not key:
        return None, None
    canonical = _IDENTITY.get(key)
    if canonical is not None:
        return canonical, None
    converted = _CONVERTED.get(key)
    if converted is not None:
        return converted
    return unit.strip().lower(), None


def resolve_unit(unit: str | None) -> UnitResolution:
    """The canonical unit for `unit` and the conversion into it (None when values pass unchanged)."""
    if unit is None:
        return None, None
    resolved = _unit_cache.get(unit)
    if resolved is None:
        resolved = _resolve_unit_uncached(unit)
        if len(_unit_cache) >= _CACHE_LIMIT:
            _unit_cache.clear()
        _unit_cache[unit] = resolved
    return resolved


def normalise(unit: str | None, value: float) -> tuple[str | None, float]:
    """Map `unit` to the canonical set and convert `value` accordingly."""
    canonical, convert = resolve_unit(unit)
    if convert is None:
        return canonical, value
    return canonical, convert(value)


# --- metric type ---------------------------------------------------------------------------------

# The frontend's vocabulary (API.md §7 "Sensor metric_type"), plus signal-quality types for the
# radio readings LoRaWAN gateways add, plus generic fallbacks.
METRIC_TYPES = frozenset(
    {
        "temp_supply",
        "temp_return",
        "temp_external",
        "temp_setpoint",
        "humidity",
        "dewpoint",
        "pressure_suction",
        "pressure_discharge",
        "dp_filter",
        "dp_fan",
        "airflow",
        "rpm_fan",
        "voltage",
        "current",
        "power_kw",
        "energy_kwh",
        "power_factor",
        "superheat",
        "subcooling",
        "vibration",
        "noise",
        "compressor_state",
        "valve_position",
        "cop",
        "eer",
        "maintenance",
        "maintenance_reminder",
        "rssi",
        "snr",
        "temperature",
        "pressure",
        "other",
    }
)

# Hints that name a quantity rather than a metric: resolved from the sensor name within that quantity.
_QUANTITY_HINTS: dict[str, str] = {
    "temperature": "temperature",
    "temp": "temperature",
    "temperatura": "temperature",
    "pressure": "pressure",
    "pressao": "pressure",
}

_HINT_ALIASES: dict[str, str] = {
    "power": "power_kw",
    "potencia": "power_kw",
    "active_power": "power_kw",
    "energy": "energy_kwh",
    "energia": "energy_kwh",
    "humid": "humidity",
    "umidade": "humidity",
    "rh": "humidity",
    "tensao": "voltage",
    "volt": "voltage",
    "corrente": "current",
    "amperage": "current",
    "pf": "power_factor",
    "fan_speed": "rpm_fan",
    "rpm": "rpm_fan",
    "signal": "rssi",
    "flow": "airflow",
    "vazao": "airflow",
    "dew_point": "dewpoint",
    "setpoint": "temp_setpoint",
}

_GENERIC_BY_UNIT: dict[str, str] = {
    "celsius": "temperature",
    "pascal": "pressure",
    "percent_rh": "humidity",
    "volt": "voltage",
    "ampere": "current",
    "watt": "power_kw",
    "kilowatt": "power_kw",
    "kwh": "energy_kwh",
    "rpm": "rpm_fan",
    "cubic_meter_per_hour": "airflow",
    "power_factor": "power_factor",
    "dbm": "rssi",
}

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_metric_cache: dict[tuple[str, str | None, str | None], str] = {}
_METRIC_CACHE_LIMIT = 65536


def _plain(text: str) -> str:
    """Lower-case ASCII: 'Sucção' -> 'succao', so Portuguese names match with or without accents."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _has(text: str, words: set[str], *needles: str) -> bool:
    """True if any needle occurs: short needles (<= 3 chars) must be whole words, longer ones substrings."""
    return any((needle in words) if len(needle) <= 3 else (needle in text) for needle in needles)


def _temperature_metric(text: str, words: set[str]) -> str:
    if _has(text, words, "setpoint", "set point", "sp", "ajuste"):
        return "temp_setpoint"
    if _has(text, words, "dewpoint", "dew point", "orvalho"):
        return "dewpoint"
    if _has(text, words, "superheat", "superaquecimento"):
        return "superheat"
    if _has(text, words, "subcool", "subresfriamento"):
        return "subcooling"
    if _has(text, words, "return", "retorno", "rat"):
        return "temp_return"
    if _has(text, words, "supply", "insuflamento", "insuflacao", "saida", "sat"):
        return "temp_supply"
    if _has(text, words, "external", "externa", "externo", "outdoor", "outside", "ambient", "ambiente", "oat"):
        return "temp_external"
    return "temperature"


def _pressure_metric(text: str, words: set[str]) -> str:
    if _has(text, words, "filter", "filtro"):
        return "dp_filter"
    if _has(text, words, "fan", "ventilador"):
        return "dp_fan"
    if _has(text, words, "suction", "succao", "baixa", "low", "lp"):
        return "pressure_suction"
    if _has(text, words, "discharge", "descarga", "alta", "high", "hp"):
        return "pressure_discharge"
    return "pressure"


def _infer_from_name(name: str, unit: str | None) -> str | None:
    text = _plain(name)
    words = set(_WORD_SPLIT.split(text))
    if _has(text, words, "rssi"):
        return "rssi"
    if _has(text, words, "snr"):
        return "snr"
    if _has(text, words, "setpoint", "set point"):
        return "temp_setpoint"
    if _has(text, words, "dewpoint", "dew point", "orvalho"):
        return "dewpoint"
    if _has(text, words, "superheat", "superaquecimento"):
        return "superheat"
    if _has(text, words, "subcool", "subresfriamento"):
        return "subcooling"
    if unit == "celsius" or "temp" in words or "temperat" in text or ("temp" in text and "tempo" not in text):
        return _temperature_metric(text, words)
    if _has(text, words, "humidity", "humidade", "umidade", "rh", "ur"):
        return "humidity"
    if unit == "pascal" or _has(text, words, "pressure", "pressao", "dp", "differential", "diferencial"):
        return _pressure_metric(text, words)
    if _has(text, words, "filter", "filtro"):
        return "dp_filter"
    if _has(text, words, "airflow", "air flow", "vazao", "fluxo de ar", "cfm"):
        return "airflow"
    if _has(text, words, "power factor", "power_factor", "fator de potencia", "fp", "pf", "cos phi", "cosphi"):
        return "power_factor"
    if _has(text, words, "voltage", "tensao", "volt"):
        return "voltage"
    if _has(text, words, "current", "corrente", "amp", "amperage"):
        return "current"
    if _has(text, words, "energy", "energia", "consumo", "kwh"):
        return "energy_kwh"
    if _has(text, words, "power", "potencia", "kw"):
        return "power_kw"
    if unit == "rpm" or _has(text, words, "rpm", "rotacao", "speed", "velocidade"):
        return "rpm_fan"
    if _has(text, words, "vibration", "vibracao"):
        return "vibration"
    if _has(text, words, "noise", "ruido"):
        return "noise"
    if _has(text, words, "compressor"):
        return "compressor_state"
    if _has(text, words, "valve", "valvula"):
        return "valve_position"
    if _has(text, words, "cop"):
        return "cop"
    if _has(text, words, "eer"):
        return "eer"
    return None


def _infer_uncached(name: str, unit: str | None, type_hint: str | None) -> str:
    hint = _plain(type_hint).strip().replace(" ", "_").replace("-", "_") if type_hint else ""
    if hint in METRIC_TYPES and hint not in _QUANTITY_HINTS:
        return hint
    if hint in _HINT_ALIASES:
        return _HINT_ALIASES[hint]
    quantity = _QUANTITY_HINTS.get(hint)
    if quantity is not None:
        text = _plain(name)
        words = set(_WORD_SPLIT.split(text))
        if quantity == "temperature":
            return _temperature_metric(text, words)
        return _pressure_metric(text, words)
    from_name = _infer_from_name(name, unit)
    if from_name is not None:
        return from_name
    return _GENERIC_BY_UNIT.get(unit or "", "other")


def infer_metric_type(name: str, unit: str | None, type_hint: str | None) -> str:
    """The frontend's metric type for a sensor: a valid hint wins, then name keywords, then the unit.

    `unit` is the canonical unit (after `normalise`). Portuguese and English names are understood,
    with or without accents. When the name says nothing, a generic type from the unit
    (celsius -> "temperature", pascal -> "pressure", volt -> "voltage", ...), else "other".
    """
    key = (name, unit, type_hint)
    metric = _metric_cache.get(key)
    if metric is None:
        metric = _infer_uncached(name, unit, type_hint)
        if len(_metric_cache) >= _METRIC_CACHE_LIMIT:
            _metric_cache.clear()
        _metric_cache[key] = metric
    return metric
