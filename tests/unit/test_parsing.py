"""Payload parsing: the standard format, SenML (RFC 8428 examples, Khomp gateways) and every reject reason."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from climatrak.telemetry.parsing import ParsedMessage, PayloadError, Reading, parse_payload

NOW_MS = 1_732_528_800_000  # 2024-11-25T10:00:00Z
RECEIVED_MS = NOW_MS - 2_000
MINUTE_MS = 60_000
DAY_MS = 86_400_000


def parse(raw: object, *, now_ms: int = NOW_MS, default_ts_ms: int = RECEIVED_MS) -> ParsedMessage:
    return parse_payload(
        raw, default_ts_ms=default_ts_ms, now_ms=now_ms, max_future_ms=5 * MINUTE_MS, max_age_ms=7 * DAY_MS
    )


def by_sensor(message: ParsedMessage) -> dict[str, Reading]:
    return {reading.sensor: reading for reading in message.readings}


def reasons(message: ParsedMessage) -> list[tuple[str | None, str]]:
    return [(rejected.sensor, rejected.reason) for rejected in message.rejected]


# --- standard format -------------------------------------------------------------------------------


def test_standard_message_with_message_timestamp() -> None:
    body = orjson.dumps(
        {
            "device_id": "gw-01",
            "timestamp": 1_732_528_740,
            "sensors": [
                {"sensor_id": "CH-01_temp_supply", "value": 7.5, "unit": "°C"},
                {"sensor_id": "CH-01_current", "value": 12, "unit": "A", "labels": {"phase": "L1", "ct": 100}},
            ],
        }
    )
    message = parse(body)
    assert message.format == "standard"
    assert message.device_id == "gw-01"
    assert message.rejected == []
    assert message.metadata == {}
    assert message.readings == [
        Reading("CH-01_temp_supply", 1_732_528_740_000, 7.5, "celsius", "temp_supply", None),
        Reading("CH-01_current", 1_732_528_740_000, 12.0, "ampere", "current", {"phase": "L1", "ct": "100"}),
    ]
    assert type(message.readings[1].value) is float


def test_reading_without_any_timestamp_takes_the_default() -> None:
    message = parse({"sensors": [{"sensor_id": "s1", "value": 1.0}]})
    assert message.readings[0].ts_ms == RECEIVED_MS
    assert message.readings[0].unit is None
    assert message.device_id is None


def test_reading_timestamp_beats_the_message_timestamp() -> None:
    message = parse(
        {
            "timestamp": "2024-11-25T09:58:00Z",
            "sensors": [
                {"sensor_id": "a", "value": 1, "timestamp": "2024-11-25T09:59:00Z"},
                {"sensor_id": "b", "value": 2, "ts": NOW_MS - 30_000},
                {"sensor_id": "c", "value": 3},
            ],
        }
    )
    times = {reading.sensor: reading.ts_ms for reading in message.readings}
    assert times == {"a": NOW_MS - MINUTE_MS, "b": NOW_MS - 30_000, "c": NOW_MS - 2 * MINUTE_MS}


@pytest.mark.parametrize(
    ("raw_ts", "expected_ms"),
    [
        (1_732_528_800, NOW_MS),  # seconds
        (1_732_528_799.25, NOW_MS - 750),  # fractional seconds
        (1_732_528_800_123, NOW_MS + 123),  # milliseconds (> 1e11)
        ("1732528800", NOW_MS),  # numeric string
        ("2024-11-25T10:00:00Z", NOW_MS),
        ("2024-11-25T10:00:00.5+00:00", NOW_MS + 500),
        ("2024-11-25T07:00:00-03:00", NOW_MS),  # offset (America/Sao_Paulo)
        ("2024-11-25T10:00:00", NOW_MS),  # naive means UTC
        ("2024-11-25 09:59:59.999", NOW_MS - 1),
    ],
)
def test_accepted_timestamp_forms(raw_ts: object, expected_ms: int) -> None:
    message = parse({"sensors": [{"sensor_id": "s", "value": 1.0, "timestamp": raw_ts}]})
    assert message.rejected == []
    assert message.readings[0].ts_ms == expected_ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [(23.5, 23.5), (-4, -4.0), (0, 0.0), (True, 1.0), (False, 0.0), ("23.5", 23.5), (" -1e3 ", -1000.0)],
)
def test_accepted_values(value: object, expected: float) -> None:
    message = parse({"sensors": [{"sensor_id": "s", "value": value}]})
    assert message.rejected == []
    assert message.readings[0].value == expected
    assert type(message.readings[0].value) is float


@pytest.mark.parametrize("value", ["abc", "NaN", "inf", "-Infinity", [1], {"v": 1}, 10**400, "1" * 100])
def test_non_numeric_values_are_rejected_without_echoing_them(value: object) -> None:
    message = parse({"sensors": [{"sensor_id": "s", "value": value}, {"sensor_id": "ok", "value": 1}]})
    assert reasons(message) == [("s", "non_numeric_value")]
    assert [reading.sensor for reading in message.readings] == ["ok"]
    assert str(value) not in message.rejected[0].detail


def test_decoded_nan_and_infinity_floats_are_rejected() -> None:
    message = parse({"sensors": [{"sensor_id": "nan", "value": math.nan}, {"sensor_id": "inf", "value": math.inf}]})
    assert reasons(message) == [("nan", "non_numeric_value"), ("inf", "non_numeric_value")]


def test_value_that_overflows_on_conversion_is_rejected() -> None:
    message = parse({"sensors": [{"sensor_id": "p", "value": 1e306, "unit": "bar"}]})
    assert reasons(message) == [("p", "non_numeric_value")]


def test_units_are_normalised_and_metric_types_inferred() -> None:
    message = parse(
        {
            "sensors": [
                {"sensor_id": "AHU-1_Pressão de sucção", "value": 5.2, "unit": "bar"},
                {"sensor_id": "AHU-1_retorno", "value": 77.0, "unit": "°F", "type": "temperature"},
                {"sensor_id": "AHU-1_kw", "value": 2500, "unit": "W", "type": "power"},
                {"sensor_id": "AHU-1_x", "value": 1, "unit": "furlong", "type": "dp_filter"},
            ]
        }
    )
    readings = by_sensor(message)
    suction = readings["AHU-1_Pressão de sucção"]
    assert (suction.unit, suction.value, suction.metric_type) == ("pascal", 520_000.0, "pressure_suction")
    ret = readings["AHU-1_retorno"]
    assert (ret.unit, ret.value, ret.metric_type) == ("celsius", pytest.approx(25.0), "temp_return")
    assert (readings["AHU-1_kw"].unit, readings["AHU-1_kw"].metric_type) == ("watt", "power_kw")
    assert (readings["AHU-1_x"].unit, readings["AHU-1_x"].metric_type) == ("furlong", "dp_filter")


def test_numeric_sensor_and_device_ids_are_coerced_to_text() -> None:
    message = parse({"device_id": 42, "sensors": [{"sensor_id": 7, "value": 1}]})
    assert message.device_id == "42"
    assert message.readings[0].sensor == "7"


@pytest.mark.parametrize("labels", ["phase=L1", ["L1"], 3])
def test_labels_that_are_not_objects_are_ignored(labels: object) -> None:
    message = parse({"sensors": [{"sensor_id": "s", "value": 1, "labels": labels}]})
    assert message.readings[0].labels is None


def test_labels_drop_nulls_and_stringify_values() -> None:
    message = parse({"sensors": [{"sensor_id": "s", "value": 1, "labels": {"a": None, "b": True, "c": "x"}}]})
    assert message.readings[0].labels == {"b": "True", "c": "x"}


def test_non_string_unit_and_type_are_ignored() -> None:
    message = parse({"sensors": [{"sensor_id": "Corrente", "value": 1, "unit": 5, "type": ["x"]}]})
    reading = message.readings[0]
    assert (reading.unit, reading.metric_type) == (None, "current")


# --- per-reading rejects (standard) -----------------------------------------------------------------


def test_every_reject_reason_in_one_message_leaves_the_good_readings() -> None:
    message = parse(
        {
            "sensors": [
                {"value": 1},
                {"sensor_id": "", "value": 1},
                {"sensor_id": "x" * 300, "value": 1},
                "not-an-object",
                {"sensor_id": "no_value"},
                {"sensor_id": "null_value", "value": None},
                {"sensor_id": "text", "value": "high"},
                {"sensor_id": "future", "value": 1, "timestamp": NOW_MS + 6 * MINUTE_MS},
                {"sensor_id": "old", "value": 1, "timestamp": NOW_MS - 8 * DAY_MS},
                {"sensor_id": "garbled", "value": 1, "timestamp": "yesterday-ish"},
                {"sensor_id": "bool_ts", "value": 1, "timestamp": True},
                {"sensor_id": "good", "value": 21.5},
            ]
        }
    )
    assert reasons(message) == [
        (None, "missing_sensor_id"),
        (None, "missing_sensor_id"),
        ("x" * 64 + "...", "sensor_id_too_long"),
        (None, "invalid_record"),
        ("no_value", "missing_value"),
        ("null_value", "missing_value"),
        ("text", "non_numeric_value"),
        ("future", "timestamp_in_future"),
        ("old", "timestamp_too_old"),
        ("garbled", "invalid_timestamp"),
        ("bool_ts", "invalid_timestamp"),
    ]
    assert [reading.sensor for reading in message.readings] == ["good"]
    assert all(rejected.detail for rejected in message.rejected)


def test_bad_message_timestamp_rejects_only_readings_that_rely_on_it() -> None:
    message = parse(
        {
            "timestamp": "not a time",
            "sensors": [{"sensor_id": "relies", "value": 1}, {"sensor_id": "own", "value": 2, "ts": NOW_MS}],
        }
    )
    assert reasons(message) == [("relies", "invalid_timestamp")]
    assert [reading.sensor for reading in message.readings] == ["own"]


def test_future_message_timestamp_is_rejected_per_reading() -> None:
    message = parse({"timestamp": (NOW_MS + DAY_MS) // 1000, "sensors": [{"sensor_id": "a", "value": 1}]})
    assert reasons(message) == [("a", "timestamp_in_future")]


def test_window_edges_are_inclusive() -> None:
    message = parse(
        {
            "sensors": [
                {"sensor_id": "latest", "value": 1, "ts": NOW_MS + 5 * MINUTE_MS},
                {"sensor_id": "earliest", "value": 1, "ts": NOW_MS - 7 * DAY_MS},
            ]
        }
    )
    assert message.rejected == []


def test_default_timestamp_is_checked_against_the_window_too() -> None:
    message = parse({"sensors": [{"sensor_id": "a", "value": 1}]}, default_ts_ms=NOW_MS - 30 * DAY_MS)
    assert reasons(message) == [("a", "timestamp_too_old")]


# --- whole-message errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty_payload"),
        ("", "empty_payload"),
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b'{"sensors": [{"sensor_id": "a", "value": NaN}]}', "malformed_json"),
        (b"42", "unknown_format"),
        (b'"hello"', "unknown_format"),
        (b"null", "unknown_format"),
        (b'{"device": "x", "readings": []}', "unknown_format"),
        (b'{"sensors": {"sensor_id": "a"}}', "unknown_format"),
        (b"[1, 2, 3]", "unknown_format"),
        (b'{"sensors": []}', "empty_payload"),
        (b"[]", "empty_payload"),
        (b'[{"bn": 5, "n": "x", "v": 1}]', "invalid_senml_base"),
        (b'[{"bt": "yesterday", "n": "x", "v": 1}]', "invalid_senml_base"),
        (b'[{"bu": ["Cel"], "n": "x", "v": 1}]', "invalid_senml_base"),
        (b'[{"bv": "1", "n": "x", "v": 1}]', "invalid_senml_base"),
        (3.14, "unknown_format"),
    ],
)
def test_unusable_messages_raise_payload_error(raw: object, reason: str) -> None:
    with pytest.raises(PayloadError) as excinfo:
        parse(raw)
    assert excinfo.value.reason == reason
    assert excinfo.value.detail


def test_malformed_json_detail_does_not_dump_the_payload() -> None:
    with pytest.raises(PayloadError) as excinfo:
        parse(b'{"secret-ish": "do-not-log-me", oops}')
    assert "do-not-log-me" not in excinfo.value.detail


def test_payload_error_is_a_value_error() -> None:
    error = PayloadError("unknown_format", "nope")
    assert isinstance(error, ValueError)
    assert (error.reason, error.detail, str(error)) == ("unknown_format", "nope", "nope")


def test_text_bytes_and_decoded_inputs_parse_the_same() -> None:
    doc: dict[str, Any] = {"sensors": [{"sensor_id": "a", "value": 1.5, "unit": "Cel"}]}
    text = orjson.dumps(doc).decode()
    assert parse(doc) == parse(text) == parse(text.encode()) == parse(bytearray(text.encode()))


# --- SenML: RFC 8428 §5.1 examples --------------------------------------------------------------------

RFC_2010_NOW_MS = 1_276_020_076_001  # Tue Jun 8 18:01:16.001 UTC 2010 (§5.1.2)
RFC_2011_NOW_MS = 1_320_078_429_000  # Mon Oct 31 16:27:09 UTC 2011 (§5.1.6)
URN = "urn:dev:ow:10e2073a01080063"


def test_rfc8428_single_datapoint() -> None:  # §5.1.1
    message = parse(b'[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]')
    assert message.format == "senml"
    assert message.device_id is None
    assert message.readings == [Reading(URN, RECEIVED_MS, 23.1, "celsius", "temperature", None)]


def test_rfc8428_multiple_datapoints_now() -> None:  # §5.1.2, first example
    message = parse(
        b'[{"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},{"n":"current","u":"A","v":1.2}]'
    )
    assert message.readings == [
        Reading(f"{URN}:voltage", RECEIVED_MS, 120.1, "volt", "voltage", None),
        Reading(f"{URN}:current", RECEIVED_MS, 1.2, "ampere", "current", None),
    ]


def test_rfc8428_multiple_datapoints_with_base_time_and_unit() -> None:  # §5.1.2, second example
    pack = [
        {"bn": f"{URN}:", "bt": 1.276020076001e09, "bu": "A", "bver": 5, "n": "voltage", "u": "V", "v": 120.1},
        {"n": "current", "t": -5, "v": 1.2},
        {"n": "current", "t": -4, "v": 1.3},
        {"n": "current", "t": -3, "v": 1.4},
        {"n": "current", "t": -2, "v": 1.5},
        {"n": "current", "t": -1, "v": 1.6},
        {"n": "current", "v": 1.7},
    ]
    message = parse(pack, now_ms=RFC_2010_NOW_MS)
    assert message.rejected == []
    assert message.readings[0] == Reading(f"{URN}:voltage", RFC_2010_NOW_MS, 120.1, "volt", "voltage", None)
    currents = [(reading.ts_ms, reading.value, reading.unit) for reading in message.readings[1:]]
    expected = [(5, 1.2), (4, 1.3), (3, 1.4), (2, 1.5), (1, 1.6), (0, 1.7)]  # (seconds ago, value)
    assert currents == [(RFC_2010_NOW_MS - ago * 1000, value, "ampere") for ago, value in expected]


MULTIPLE_MEASUREMENTS = [  # §5.1.3
    {"bn": URN, "bt": 1.320067464e09, "bu": "%RH", "v": 20},
    {"u": "lon", "v": 24.30621},
    {"u": "lat", "v": 60.07965},
    {"t": 60, "v": 20.3},
    {"u": "lon", "t": 60, "v": 24.30622},
    {"u": "lat", "t": 60, "v": 60.07965},
    {"t": 120, "v": 20.7},
    {"u": "lon", "t": 120, "v": 24.30623},
    {"u": "lat", "t": 120, "v": 60.07966},
    {"u": "%EL", "t": 150, "v": 98},
    {"t": 180, "v": 21.2},
    {"u": "lon", "t": 180, "v": 24.30628},
    {"u": "lat", "t": 180, "v": 60.07967},
]
RESOLVED = [  # §5.1.4: the same pack in resolved form
    {"n": URN, "u": unit, "t": t, "v": v}
    for unit, t, v in [
        ("%RH", 1.320067464e09, 20),
        ("lon", 1.320067464e09, 24.30621),
        ("lat", 1.320067464e09, 60.07965),
        ("%RH", 1.320067524e09, 20.3),
        ("lon", 1.320067524e09, 24.30622),
        ("lat", 1.320067524e09, 60.07965),
        ("%RH", 1.320067584e09, 20.7),
        ("lon", 1.320067584e09, 24.30623),
        ("lat", 1.320067584e09, 60.07966),
        ("%EL", 1.320067614e09, 98),
        ("%RH", 1.320067644e09, 21.2),
        ("lon", 1.320067644e09, 24.30628),
        ("lat", 1.320067644e09, 60.07967),
    ]
]


def test_rfc8428_multiple_measurements_and_resolved_form_agree() -> None:  # §5.1.3 and §5.1.4
    packed = parse(MULTIPLE_MEASUREMENTS, now_ms=1_320_067_700_000)
    resolved = parse(RESOLVED, now_ms=1_320_067_700_000)
    assert packed.rejected == resolved.rejected == []
    assert packed.readings == resolved.readings
    assert len(packed.readings) == 13
    first, battery, last = packed.readings[0], packed.readings[9], packed.readings[12]
    assert (first.ts_ms, first.value, first.unit, first.metric_type) == (
        1_320_067_464_000,
        20.0,
        "percent_rh",
        "humidity",
    )
    assert (battery.ts_ms, battery.value, battery.unit) == (1_320_067_614_000, 98.0, "percent")
    assert (last.ts_ms, last.value, last.unit) == (1_320_067_644_000, 60.07967, "lat")


def test_rfc8428_multiple_data_types_keep_vs_vb_vd_as_metadata() -> None:  # §5.1.5
    message = parse(
        [
            {"bn": f"{URN}:", "n": "temp", "u": "Cel", "v": 23.1},
            {"n": "label", "vs": "Machine Room"},
            {"n": "open", "vb": False},
            {"n": "nfc-reader", "vd": "aGkgCg"},
        ]
    )
    assert message.readings == [Reading(f"{URN}:temp", RECEIVED_MS, 23.1, "celsius", "temperature", None)]
    assert message.metadata == {f"{URN}:label": "Machine Room", f"{URN}:open": False, f"{URN}:nfc-reader": "aGkgCg"}
    assert message.rejected == []


def test_rfc8428_collection_of_resources_changes_base_name_keeps_base_time() -> None:  # §5.1.6
    message = parse(
        [
            {"bn": "2001:db8::2/", "bt": 1.320078429e09, "n": "temperature", "u": "Cel", "v": 25.2},
            {"n": "humidity", "u": "%RH", "v": 30},
            {"bn": "2001:db8::1/", "n": "temperature", "u": "Cel", "v": 12.3},
            {"n": "humidity", "u": "%RH", "v": 67},
        ],
        now_ms=RFC_2011_NOW_MS,
    )
    assert [(r.sensor, r.ts_ms, r.value, r.metric_type) for r in message.readings] == [
        ("2001:db8::2/temperature", RFC_2011_NOW_MS, 25.2, "temperature"),
        ("2001:db8::2/humidity", RFC_2011_NOW_MS, 30.0, "humidity"),
        ("2001:db8::1/temperature", RFC_2011_NOW_MS, 12.3, "temperature"),
        ("2001:db8::1/humidity", RFC_2011_NOW_MS, 67.0, "humidity"),
    ]


def test_rfc8428_base_only_record_and_ratio_unit() -> None:  # §5.1.7 setting an actuator
    message = parse(
        [
            {"bn": f"{URN}:"},
            {"n": "temp", "u": "Cel", "v": 23.1},
            {"n": "heat", "u": "/", "v": 1},
            {"n": "fan", "u": "/", "v": 0},
        ]
    )
    assert message.rejected == []
    assert [(r.sensor, r.value, r.unit) for r in message.readings] == [
        (f"{URN}:temp", 23.1, "celsius"),
        (f"{URN}:heat", 100.0, "percent"),
        (f"{URN}:fan", 0.0, "percent"),
    ]


# --- SenML: time resolution (RFC 8428 §4.5.3) ---------------------------------------------------------


def test_relative_time_without_base_time_is_relative_to_now() -> None:
    message = parse([{"n": "s", "t": -5, "v": 1}, {"n": "s", "t": -0.25, "v": 2}, {"n": "s", "t": 0, "v": 3}])
    assert [reading.ts_ms for reading in message.readings] == [NOW_MS - 5000, NOW_MS - 250, NOW_MS]


def test_small_base_time_is_relative_to_now_as_well() -> None:
    message = parse([{"bt": -60, "n": "s", "v": 1}, {"n": "s", "t": 10, "v": 2}])
    assert [reading.ts_ms for reading in message.readings] == [NOW_MS - 60_000, NOW_MS - 50_000]


def test_absolute_time_boundary_is_two_to_the_28() -> None:
    message = parse([{"n": "s", "t": 2**28, "v": 1}], now_ms=2**28 * 1000)
    assert message.readings[0].ts_ms == 2**28 * 1000


def test_record_time_without_base_time_can_be_absolute() -> None:
    message = parse([{"n": "s", "t": 1_732_528_790.5, "v": 1}])
    assert message.readings[0].ts_ms == NOW_MS - 9_500


@pytest.mark.parametrize("bad_time", ["2024-11-25T10:00:00Z", True, [1]])
def test_senml_record_time_must_be_a_number(bad_time: object) -> None:
    message = parse([{"n": "bad", "t": bad_time, "v": 1}, {"n": "good", "v": 2}])
    assert reasons(message) == [("bad", "invalid_timestamp")]
    assert [reading.sensor for reading in message.readings] == ["good"]


def test_senml_time_window() -> None:
    message = parse(
        [
            {"bn": "d_", "n": "future", "t": (NOW_MS + DAY_MS) / 1000, "v": 1},
            {"n": "old", "t": (NOW_MS - 30 * DAY_MS) / 1000, "v": 1},
            {"n": "milliseconds_by_mistake", "t": NOW_MS, "v": 1},  # SenML time is seconds
        ]
    )
    assert reasons(message) == [
        ("d_future", "timestamp_in_future"),
        ("d_old", "timestamp_too_old"),
        ("d_milliseconds_by_mistake", "timestamp_in_future"),
    ]


def test_base_value_is_added_and_base_unit_carries_until_changed() -> None:
    message = parse(
        [
            {"bn": "m_", "bv": 1000, "bu": "kWh", "n": "energia", "v": 5},
            {"n": "energia", "v": 7.5},
            {"bv": 0, "bu": "Cel", "n": "temp", "v": 21},
        ]
    )
    assert [(r.sensor, r.value, r.unit) for r in message.readings] == [
        ("m_energia", 1005.0, "kwh"),
        ("m_energia", 1007.5, "kwh"),
        ("m_temp", 21.0, "celsius"),
    ]


def test_sum_only_records_are_ignored_and_value_less_records_rejected() -> None:
    message = parse([{"bn": "d_", "n": "meter", "s": 1234}, {"n": "empty"}, {"n": "nulled", "v": None}, {}])
    assert reasons(message) == [("d_empty", "missing_value"), ("d_nulled", "missing_value"), ("d_", "missing_value")]
    assert message.readings == []


def test_senml_record_rejects() -> None:
    message = parse(
        [
            {"n": "", "v": 1},
            {"n": 7, "v": 1},
            "record",
            {"n": "y" * 300, "v": 1},
            {"n": "word", "v": "warm"},
            {"n": "numeric_text", "v": "21.5"},
            {"vs": "nameless"},
        ]
    )
    assert reasons(message) == [
        (None, "missing_sensor_id"),
        (None, "invalid_record"),
        (None, "invalid_record"),
        ("y" * 64 + "...", "sensor_id_too_long"),
        ("word", "non_numeric_value"),
        (None, "missing_sensor_id"),
    ]
    assert [(r.sensor, r.value) for r in message.readings] == [("numeric_text", 21.5)]


def test_a_single_senml_record_object_is_accepted() -> None:
    message = parse(b'{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}')
    assert message.format == "senml"
    assert [(r.sensor, r.value) for r in message.readings] == [(URN, 23.1)]


# --- SenML: Khomp LoRaWAN gateway ---------------------------------------------------------------------

KHOMP = (
    b'[{"bn":"F80332010002C857_","bt":1732528800},'
    b'{"n":"Temperatura de retorno","u":"Cel","v":23.5},'
    b'{"n":"Temperatura de insuflamento","u":"Cel","v":12.25,"t":-60},'
    b'{"n":"Umidade","u":"%RH","v":55.1},'
    b'{"n":"model","vs":"nit21li"},'
    b'{"n":"rssi","u":"dBW","v":-97},'
    b'{"n":"snr","u":"dB","v":7.5},'
    b'{"n":"status","vb":true}]'
)


def test_khomp_gateway_payload() -> None:
    message = parse(KHOMP)
    assert message.format == "senml"
    assert message.rejected == []
    assert message.readings == [
        Reading("F80332010002C857_Temperatura de retorno", NOW_MS, 23.5, "celsius", "temp_return", None),
        Reading(
            "F80332010002C857_Temperatura de insuflamento", NOW_MS - MINUTE_MS, 12.25, "celsius", "temp_supply", None
        ),
        Reading("F80332010002C857_Umidade", NOW_MS, 55.1, "percent_rh", "humidity", None),
        Reading("F80332010002C857_rssi", NOW_MS, -67.0, "dbm", "rssi", None),
        Reading("F80332010002C857_snr", NOW_MS, 7.5, "db", "snr", None),
    ]
    assert message.metadata == {"F80332010002C857_model": "nit21li", "F80332010002C857_status": True}


# --- property ------------------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
sensor_ids = st.text(min_size=1, max_size=40).filter(lambda text: text.strip() != "")


@given(st.dictionaries(sensor_ids, finite, min_size=1, max_size=20))
def test_standard_message_round_trips_finite_floats_exactly(values: dict[str, float]) -> None:
    body = orjson.dumps({"sensors": [{"sensor_id": sensor, "value": value} for sensor, value in values.items()]})
    message = parse(body)
    assert message.rejected == []
    assert {reading.sensor: reading.value for reading in message.readings} == values
    assert all(reading.ts_ms == RECEIVED_MS for reading in message.readings)
