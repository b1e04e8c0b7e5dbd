"""kWh from power and counter readings, its split by time of use and its price (reports/energy.py),
checked against independent computations: numpy's trapezoid rule on the clean series, sums of
hand-made constant-power days, and hand arithmetic for prices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from climatrak.reports.energy import (
    EnergyDay,
    Segment,
    Segments,
    kwh_from_counter,
    kwh_from_power,
    price,
    split_by_time_of_use,
)

SAO_PAULO = "America/Sao_Paulo"
MINUTE = 60_000
HOUR = 60 * MINUTE
WEDNESDAY = date(2026, 11, 25)
SATURDAY = date(2026, 11, 28)


def local_ms(day: date, hour: int, minute: int = 0, tz: str = SAO_PAULO) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def minute_readings(day: date, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A chiller's day: one reading a minute from local midnight, 20-120 kW."""
    ts = local_ms(day, 0) + np.arange(1440, dtype=np.int64) * MINUTE
    return ts, rng.uniform(20, 120, ts.size)


def trapz_kwh(ts: np.ndarray, kw: np.ndarray) -> float:
    hours = (ts - ts[0]) / HOUR  # from the first reading: epoch hours would cost precision
    return float(np.trapezoid(kw, hours))


def close(value: Decimal, expected: float, places: int = 3) -> bool:
    # kWh are rounded to 3 places and the total is the sum of three rounded parts
    return abs(float(value) - expected) <= 2 * 10**-places


# ---- power → kWh --------------------------------------------------------------------------------


def test_power_is_integrated_with_the_trapezoidal_rule() -> None:
    ts, kw = minute_readings(WEDNESDAY, np.random.default_rng(1))
    segments = kwh_from_power(ts, kw, max_gap_ms=15 * MINUTE)
    assert len(segments) == 1439
    assert segments.total_kwh == pytest.approx(trapz_kwh(ts, kw), rel=1e-12)
    first = segments[0]
    assert first == Segment(int(ts[0]), int(ts[1]), pytest.approx((kw[0] + kw[1]) / 2 / 60))


def test_out_of_order_input_and_duplicated_readings_give_the_same_energy() -> None:
    ts, kw = minute_readings(WEDNESDAY, np.random.default_rng(2))
    rng = np.random.default_rng(3)
    repeated = rng.choice(ts.size, 300, replace=False)  # redelivered messages: same instant, same value
    messy_ts, messy_kw = np.concatenate([ts, ts[repeated]]), np.concatenate([kw, kw[repeated]])
    order = rng.permutation(messy_ts.size)
    segments = kwh_from_power(messy_ts[order], messy_kw[order], max_gap_ms=15 * MINUTE)
    assert len(segments) == 1439
    assert segments.total_kwh == pytest.approx(trapz_kwh(ts, kw), rel=1e-12)


def test_a_conflicting_duplicate_keeps_the_reading_given_last() -> None:
    segments = kwh_from_power([0, HOUR, HOUR, 2 * HOUR], [10.0, 99.0, 20.0, 20.0], max_gap_ms=HOUR)
    assert [s.kwh for s in segments] == [15.0, 20.0]


def test_gaps_longer_than_the_limit_are_not_bridged() -> None:
    ts, kw = minute_readings(WEDNESDAY, np.random.default_rng(4))
    hole = (ts >= local_ms(WEDNESDAY, 10)) & (ts < local_ms(WEDNESDAY, 10, 30))  # 31 minutes without data
    kept_ts, kept_kw = ts[~hole], kw[~hole]
    before = kept_ts < local_ms(WEDNESDAY, 10)
    expected = trapz_kwh(kept_ts[before], kept_kw[before]) + trapz_kwh(kept_ts[~before], kept_kw[~before])
    segments = kwh_from_power(kept_ts, kept_kw, max_gap_ms=15 * MINUTE)
    assert segments.total_kwh == pytest.approx(expected, rel=1e-12)
    assert len(segments) == kept_ts.size - 2
    # a limit above the hole bridges it
    bridged = kwh_from_power(kept_ts, kept_kw, max_gap_ms=60 * MINUTE)
    assert bridged.total_kwh == pytest.approx(trapz_kwh(kept_ts, kept_kw), rel=1e-12)


def test_watts_are_converted_and_other_units_refused() -> None:
    in_watts = kwh_from_power([0, HOUR], [2000.0, 4000.0], max_gap_ms=HOUR, unit="watt")
    assert in_watts.total_kwh == pytest.approx(3.0)
    with pytest.raises(ValueError, match="not a power unit"):
        kwh_from_power([0, HOUR], [1.0, 1.0], max_gap_ms=HOUR, unit="celsius")


def test_non_finite_readings_are_skipped_and_short_series_give_nothing() -> None:
    segments = kwh_from_power([0, HOUR, 2 * HOUR], [4.0, float("nan"), 4.0], max_gap_ms=2 * HOUR)
    assert list(segments) == [Segment(0, 2 * HOUR, 8.0)]
    assert len(kwh_from_power([0], [5.0], max_gap_ms=HOUR)) == 0
    assert len(kwh_from_power([], [], max_gap_ms=HOUR)) == 0


def test_arrow_timestamps_are_accepted() -> None:
    import pyarrow as pa

    ts = pa.array([0, HOUR, 2 * HOUR], type=pa.timestamp("ms", tz="UTC"))
    assert kwh_from_power(ts.to_numpy(zero_copy_only=False), [1.0, 1.0, 1.0], max_gap_ms=HOUR).total_kwh == 2.0


# ---- energy counters ---------------------------------------------------------------------------


def test_a_counter_counts_its_increase() -> None:
    ts = [0, HOUR, 2 * HOUR, 3 * HOUR]
    segments = kwh_from_counter(ts, [1000.0, 1010.5, 1010.5, 1030.0])
    assert list(segments) == [Segment(0, HOUR, 10.5), Segment(2 * HOUR, 3 * HOUR, 19.5)]


def test_a_reset_is_not_negative_energy_and_the_increase_after_it_counts() -> None:
    ts = [0, HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR]
    segments = kwh_from_counter(ts, [5000.0, 5010.0, 2.0, 7.0, 12.0])
    assert segments.total_kwh == pytest.approx(10.0 + 5.0 + 5.0)
    assert [(s.start_ms, s.end_ms) for s in segments] == [(0, HOUR), (2 * HOUR, 3 * HOUR), (3 * HOUR, 4 * HOUR)]


def test_a_lone_bad_reading_is_not_a_reset() -> None:
    ts = [0, HOUR, 2 * HOUR, 3 * HOUR]
    assert kwh_from_counter(ts, [1000.0, 0.0, 1004.0, 1006.0]).total_kwh == pytest.approx(6.0)


def test_a_counter_spans_its_gaps_and_accepts_unordered_readings() -> None:
    segments = kwh_from_counter([5 * HOUR, 0, HOUR], [30.0, 0.0, 10.0])
    assert list(segments) == [Segment(0, HOUR, 10.0), Segment(HOUR, 5 * HOUR, 20.0)]


# ---- time of use -------------------------------------------------------------------------------


def split(
    segments: Segments | list[Segment],
    day: date,
    peak: tuple[str, str] | tuple[None, None] = ("18:00", "21:00"),
    intermediate: tuple[str, str] | None = None,
    **options: object,
) -> EnergyDay:
    return split_by_time_of_use(segments, SAO_PAULO, day, *peak, intermediate=intermediate, **options)  # type: ignore[arg-type]


def test_a_weekday_splits_at_the_peak_window_in_local_time() -> None:
    ts, kw = minute_readings(WEDNESDAY, np.random.default_rng(5))
    local_minute = (ts - local_ms(WEDNESDAY, 0)) // MINUTE
    in_peak = (local_minute >= 18 * 60) & (local_minute <= 21 * 60)  # readings 18:00 .. 21:00 bound the window
    energy = split(kwh_from_power(ts, kw, 15 * MINUTE), WEDNESDAY)
    expected_peak = trapz_kwh(ts[in_peak], kw[in_peak])
    assert close(energy.kwh_peak, expected_peak)
    assert close(energy.kwh_total, trapz_kwh(ts, kw))
    assert close(energy.kwh_off_peak, trapz_kwh(ts, kw) - expected_peak)
    assert energy.kwh_intermediate == Decimal("0.000")
    assert energy.kwh_total == energy.kwh_peak + energy.kwh_off_peak + energy.kwh_intermediate
    assert energy.kwh_peak.as_tuple().exponent == -3


def test_a_weekend_day_is_all_off_peak() -> None:
    ts, kw = minute_readings(SATURDAY, np.random.default_rng(6))
    energy = split(kwh_from_power(ts, kw, 15 * MINUTE), SATURDAY, intermediate=("17:00", "22:00"))
    assert energy.kwh_peak == energy.kwh_intermediate == Decimal("0.000")
    assert energy.kwh_off_peak == energy.kwh_total and close(energy.kwh_total, trapz_kwh(ts, kw))


def test_holidays_are_a_hook_that_makes_a_weekday_off_peak() -> None:
    segments = [Segment(local_ms(WEDNESDAY, 18), local_ms(WEDNESDAY, 19), 10.0)]
    assert split(segments, WEDNESDAY).kwh_peak == Decimal("10.000")
    assert split(segments, WEDNESDAY, holidays={WEDNESDAY}).kwh_peak == Decimal("0.000")


def test_a_segment_straddling_a_window_boundary_is_split_in_proportion_to_time() -> None:
    # constant 10 kW from 17:30 to 18:30: half before the peak, half in it
    segments = kwh_from_power([local_ms(WEDNESDAY, 17, 30), local_ms(WEDNESDAY, 18, 30)], [10.0, 10.0], HOUR)
    energy = split(segments, WEDNESDAY)
    assert (energy.kwh_total, energy.kwh_peak, energy.kwh_off_peak) == (
        Decimal("10.000"),
        Decimal("5.000"),
        Decimal("5.000"),
    )
    # ... and the same at the window's end (20:45-21:15)
    late = [Segment(local_ms(WEDNESDAY, 20, 45), local_ms(WEDNESDAY, 21, 15), 3.0)]
    assert split(late, WEDNESDAY).kwh_peak == Decimal("1.500")


def test_an_intermediate_window_around_the_peak_takes_what_the_peak_does_not() -> None:
    # constant 1 kW all day (Tarifa Branca: peak 18-21, intermediate 17-18 and 21-22)
    hours = [Segment(local_ms(WEDNESDAY, h), local_ms(WEDNESDAY, h) + HOUR, 1.0) for h in range(24)]
    energy = split(hours, WEDNESDAY, intermediate=("17:00", "22:00"))
    assert (energy.kwh_total, energy.kwh_peak, energy.kwh_intermediate, energy.kwh_off_peak) == (
        Decimal("24.000"),
        Decimal("3.000"),
        Decimal("2.000"),
        Decimal("19.000"),
    )


def test_a_window_across_midnight_covers_both_ends_of_the_day() -> None:
    hours = [Segment(local_ms(WEDNESDAY, h), local_ms(WEDNESDAY, h) + HOUR, 2.0) for h in range(24)]
    energy = split(hours, WEDNESDAY, peak=("22:00", "06:00"))
    assert energy.kwh_peak == Decimal("16.000") and energy.kwh_off_peak == Decimal("32.000")


def test_no_peak_window_puts_everything_off_peak() -> None:
    hours = [Segment(local_ms(WEDNESDAY, h), local_ms(WEDNESDAY, h) + HOUR, 1.5) for h in range(24)]
    energy = split(hours, WEDNESDAY, peak=(None, None))
    assert energy == EnergyDay(Decimal("36.000"), Decimal("0.000"), Decimal("36.000"), Decimal("0.000"))


def test_the_day_is_the_local_day_without_daylight_saving_in_sao_paulo() -> None:
    # since 2019 Sao Paulo is UTC-3 all year: the business day starts at 03:00 UTC
    midnight = int(datetime(2026, 11, 25, 3, tzinfo=UTC).timestamp() * 1000)
    assert local_ms(WEDNESDAY, 0) == midnight
    across = [Segment(midnight - HOUR, midnight + HOUR, 4.0)]  # half of it belongs to the day before
    assert split(across, WEDNESDAY).kwh_total == Decimal("2.000")
    day_long = [Segment(midnight, midnight + 24 * HOUR, 24.0)]
    assert split(day_long, WEDNESDAY).kwh_total == Decimal("24.000")


def test_a_day_with_a_clock_change_has_its_real_length() -> None:
    # 2018-11-04 (Sunday): Sao Paulo still moved its clocks, a 23-hour day
    day = date(2018, 11, 4)
    start = local_ms(day, 0)
    end = local_ms(day + timedelta(days=1), 0)
    assert end - start == 23 * HOUR
    constant = kwh_from_power([start - HOUR, end + HOUR], [1.0, 1.0], max_gap_ms=48 * HOUR)
    assert split(constant, day).kwh_total == Decimal("23.000")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=500, allow_nan=False), min_size=2, max_size=200),
    st.integers(min_value=1, max_value=30),
)
def test_the_parts_always_add_up_to_the_trapezoidal_total(values: list[float], step_minutes: int) -> None:
    ts = local_ms(WEDNESDAY, 0) + np.arange(len(values), dtype=np.int64) * step_minutes * MINUTE
    ts = ts[ts < local_ms(WEDNESDAY + timedelta(days=1), 0)]
    kw = np.asarray(values[: ts.size])
    energy = split(kwh_from_power(ts, kw, 60 * MINUTE), WEDNESDAY, intermediate=("17:00", "22:00"))
    assert energy.kwh_total == energy.kwh_peak + energy.kwh_off_peak + energy.kwh_intermediate
    assert close(energy.kwh_total, trapz_kwh(ts, kw) if ts.size > 1 else 0.0)
    assert min(energy.kwh_peak, energy.kwh_intermediate, energy.kwh_off_peak) >= 0


def test_segments_combine_sensors_and_read_like_a_list() -> None:
    a = kwh_from_power([0, HOUR], [1.0, 1.0], HOUR)
    b = [Segment(0, HOUR, 2.0)]
    both = Segments.concat([a, b])
    assert len(both) == 2 and both.total_kwh == 3.0
    assert list(both[1:]) == [Segment(0, HOUR, 2.0)]
    with pytest.raises(ValueError, match="end after it starts"):
        Segments([HOUR], [HOUR], [1.0])


# ---- price -------------------------------------------------------------------------------------


@dataclass
class Tariff:
    rate_peak: Decimal = Decimal("1.450000")
    rate_off_peak: Decimal = Decimal("0.850000")
    rate_intermediate: Decimal | None = None
    flag_verde: Decimal = Decimal("0")
    flag_amarela: Decimal = Decimal("0.018850")
    flag_vermelha_1: Decimal = Decimal("0.044630")
    flag_vermelha_2: Decimal = Decimal("0.078770")


def test_price_is_each_part_at_its_rate_plus_the_flag_on_the_total() -> None:
    day = EnergyDay(Decimal("100.000"), Decimal("30.000"), Decimal("60.000"), Decimal("10.000"))
    tariff = Tariff(rate_intermediate=Decimal("1.100000"))
    cost = price(day, tariff, "amarela")
    # 30 * 1.45 + 60 * 0.85 + 10 * 1.10 + 100 * 0.01885 = 43.5 + 51 + 11 + 1.885 = 107.385
    assert cost.amount == Decimal("107.39")  # half up
    assert cost.breakdown["exact_amount"] == Decimal("107.385")
    assert cost.breakdown["flag"] == {
        "name": "amarela",
        "kwh": Decimal("100.000"),
        "rate": Decimal("0.018850"),
        "amount": Decimal("1.885"),
    }
    assert price(day, tariff, "verde").amount == Decimal("105.50")


def test_intermediate_kwh_without_an_intermediate_rate_pay_the_off_peak_rate() -> None:
    day = EnergyDay(Decimal("10.000"), Decimal("0.000"), Decimal("5.000"), Decimal("5.000"))
    assert price(day, Tariff(), "verde").amount == Decimal("8.50")


def test_an_unknown_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="not a tariff flag"):
        price(EnergyDay.zero(), Tariff(), "roxa")
