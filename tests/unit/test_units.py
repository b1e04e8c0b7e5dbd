"""Unit normalisation and metric-type inference."""

from __future__ import annotations

import pytest

from climatrak.telemetry import units
from climatrak.telemetry.units import METRIC_TYPES, infer_metric_type, normalise, resolve_unit


@pytest.mark.parametrize("alias", ["Cel", "°C", "C", "c", "degC", "celsius", "ºC", " °c ", "CEL"])
def test_celsius_aliases_pass_values_unchanged(alias: str) -> None:
    assert normalise(alias, 23.5) == ("celsius", 23.5)


@pytest.mark.parametrize(
    ("unit", "value", "expected_unit", "expected_value"),
    [
        ("°F", 212.0, "celsius", 100.0),
        ("degF", 32.0, "celsius", 0.0),
        ("F", -40.0, "celsius", -40.0),
        ("fahrenheit", 50.0, "celsius", 10.0),
        ("K", 273.15, "celsius", 0.0),
        ("Wh", 1500.0, "kwh", 1.5),
        ("kWh", 1.5, "kwh", 1.5),
        ("W", 750.0, "watt", 750.0),
        ("kW", 3.2, "kilowatt", 3.2),
        ("V", 220.0, "volt", 220.0),
        ("mV", 3300.0, "volt", 3.3),
        ("A", 12.0, "ampere", 12.0),
        ("mA", 20.0, "ampere", 0.02),
        ("Pa", 250.0, "pascal", 250.0),
        ("kPa", 1.5, "pascal", 1500.0),
        ("bar", 2.0, "pascal", 200_000.0),
        ("mbar", 3.0, "pascal", 300.0),
        ("psi", 1.0, "pascal", 6894.757293168361),
        ("dBW", -97.0, "dbm", -67.0),
        ("dBm", -67.0, "dbm", -67.0),
        ("dB", 7.5, "db", 7.5),
        ("%RH", 55.1, "percent_rh", 55.1),
        ("RH", 55.1, "percent_rh", 55.1),
        ("percent_rh", 55.1, "percent_rh", 55.1),
        ("%", 40.0, "percent", 40.0),
        ("%EL", 98.0, "percent", 98.0),
        ("/", 0.5, "percent", 50.0),
        ("ppm", 800.0, "ppm", 800.0),
        ("rpm", 1450.0, "rpm", 1450.0),
        ("Hz", 60.0, "hertz", 60.0),
        ("m3/h", 1200.0, "cubic_meter_per_hour", 1200.0),
        ("m³/h", 1200.0, "cubic_meter_per_hour", 1200.0),
        ("l/s", 10.0, "cubic_meter_per_hour", 36.0),
        ("PF", 0.92, "power_factor", 0.92),
    ],
)
def test_aliases_map_to_the_canonical_unit_with_conversion(
    unit: str, value: float, expected_unit: str, expected_value: float
) -> None:
    canonical, converted = normalise(unit, value)
    assert canonical == expected_unit
    assert converted == pytest.approx(expected_value, abs=1e-9)


def test_unknown_units_are_kept_lower_cased_and_stripped() -> None:
    assert normalise("  Lon ", 24.30621) == ("lon", 24.30621)
    assert normalise("kVA", 5.0) == ("kva", 5.0)


def test_no_unit_and_blank_unit_mean_none() -> None:
    assert normalise(None, 1.0) == (None, 1.0)
    assert normalise("  ", 1.0) == (None, 1.0)


def test_resolve_unit_reports_no_converter_for_canonical_units() -> None:
    assert resolve_unit("Cel") == ("celsius", None)
    canonical, convert = resolve_unit("Wh")
    assert canonical == "kwh"
    assert convert is not None
    assert convert(2000.0) == 2.0


def test_unit_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(units, "_CACHE_LIMIT", 10)
    units._unit_cache.clear()
    for i in range(25):
        resolve_unit(f"unit-{i}")
    assert len(units._unit_cache) <= 10
    assert resolve_unit("unit-3") == ("unit-3", None)


# --- metric types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "unit", "expected"),
    [
        ("F80332010002C857_Temperatura de retorno", "celsius", "temp_return"),
        ("F80332010002C857_Temperatura de insuflamento", "celsius", "temp_supply"),
        ("Temperatura externa", "celsius", "temp_external"),
        ("temperatura ambiente", None, "temp_external"),
        ("return_air_temp", "celsius", "temp_return"),
        ("supply temperature", "celsius", "temp_supply"),
        ("outdoor temp", None, "temp_external"),
        ("Setpoint", "celsius", "temp_setpoint"),
        ("Ponto de orvalho", "celsius", "dewpoint"),
        ("Superaquecimento", "celsius", "superheat"),
        ("subcooling", "celsius", "subcooling"),
        ("F80332010002C857_Umidade", "percent_rh", "humidity"),
        ("humidity", None, "humidity"),
        ("Pressão de sucção", "pascal", "pressure_suction"),
        ("Pressao de succao", None, "pressure_suction"),
        ("discharge pressure", "pascal", "pressure_discharge"),
        ("Pressão de descarga", "pascal", "pressure_discharge"),
        ("dp filtro", "pascal", "dp_filter"),
        ("Filter differential", None, "dp_filter"),
        ("dp fan", "pascal", "dp_fan"),
        ("Vazão de ar", "cubic_meter_per_hour", "airflow"),
        ("fan rpm", "rpm", "rpm_fan"),
        ("Tensão L1", "volt", "voltage"),
        ("voltage", None, "voltage"),
        ("Corrente fase A", "ampere", "current"),
        ("current", None, "current"),
        ("Potência ativa", "kilowatt", "power_kw"),
        ("power", "watt", "power_kw"),
        ("Fator de potência", "power_factor", "power_factor"),
        ("Energia", "kwh", "energy_kwh"),
        ("energy total", None, "energy_kwh"),
        ("F80332010002C857_rssi", "dbm", "rssi"),
        ("F80332010002C857_snr", "db", "snr"),
        ("Vibração", None, "vibration"),
        ("compressor status", None, "compressor_state"),
        ("valvula de expansao", "percent", "valve_position"),
    ],
)
def test_metric_type_from_english_and_portuguese_names(name: str, unit: str | None, expected: str) -> None:
    assert infer_metric_type(name, unit, None) == expected


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("celsius", "temperature"),
        ("pascal", "pressure"),
        ("percent_rh", "humidity"),
        ("volt", "voltage"),
        ("ampere", "current"),
        ("kilowatt", "power_kw"),
        ("kwh", "energy_kwh"),
        ("dbm", "rssi"),
        ("lux", "other"),
        (None, "other"),
    ],
)
def test_nameless_metric_falls_back_to_the_unit(unit: str | None, expected: str) -> None:
    assert infer_metric_type("S1", unit, None) == expected


def test_time_words_are_not_mistaken_for_temperature() -> None:
    assert infer_metric_type("tempo de operacao", "second", None) == "other"


def test_a_valid_type_hint_wins_over_the_name() -> None:
    assert infer_metric_type("Temperatura de retorno", "celsius", "temp_supply") == "temp_supply"
    assert infer_metric_type("x", None, "DP_FILTER") == "dp_filter"


@pytest.mark.parametrize(
    ("name", "hint", "expected"),
    [
        ("Temperatura de retorno", "temperature", "temp_return"),
        ("sensor 7", "temperature", "temperature"),
        ("baixa", "pressure", "pressure_suction"),
        ("x", "power", "power_kw"),
        ("x", "energy", "energy_kwh"),
        ("x", "Umidade", "humidity"),
    ],
)
def test_quantity_hints_and_aliases(name: str, hint: str, expected: str) -> None:
    assert infer_metric_type(name, None, hint) == expected


def test_an_unknown_hint_is_ignored() -> None:
    assert infer_metric_type("Corrente", "ampere", "banana") == "current"


def test_every_inferred_type_is_in_the_vocabulary() -> None:
    names = ["a", "temp", "rssi", "pressure", "Umidade", "kW", "cop", "eer", "ruido"]
    for name in names:
        for unit in [None, "celsius", "pascal", "ampere", "lon"]:
            assert infer_metric_type(name, unit, None) in METRIC_TYPES


def test_metric_inference_is_memoised(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = units._infer_uncached

    def counting(name: str, unit: str | None, hint: str | None) -> str:
        calls.append(name)
        return real(name, unit, hint)

    monkeypatch.setattr(units, "_infer_uncached", counting)
    units._metric_cache.clear()
    for _ in range(3):
        assert infer_metric_type("Temperatura de retorno", "celsius", None) == "temp_return"
    assert calls == ["Temperatura de retorno"]
