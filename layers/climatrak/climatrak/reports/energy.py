"""Energy of a day from telemetry, split by time of use and priced with a tariff. Pure: no AWS.

- Power sensors (kW or W): trapezoidal integration between consecutive readings; a gap longer
  than `max_gap_ms` is not bridged (no energy is invented where nothing was measured).
- Energy counters (kWh): their increase; a decrease is a reset or a meter swap, never negative
  energy (the increase after it counts).

Both give `Segments`: energy over intervals of time. `split_by_time_of_use` spreads each interval's
energy uniformly over it, so an interval straddling a window boundary is split in proportion to
time, and sums what falls in the peak, intermediate and off-peak windows of the tenant's local
day (peak and intermediate apply Monday to Friday only). `price` applies a tariff and the month's
flag. Segments are numpy arrays, not one object per reading: a fleet day is millions of readings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol, overload

import numpy as np
import numpy.typing as npt

from climatrak.core.money import money
from climatrak.core.timeutil import zone
from climatrak.ledger.energy_models import TARIFF_FLAGS

MS_PER_HOUR = 3_600_000
KWH_PLACES = Decimal("0.001")
# kW per unit of a power reading (normalised unit names, telemetry/units.py)
POWER_UNITS = {"kilowatt": 1.0, "watt": 0.001}

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
TimeOfDay = time | str


@dataclass(frozen=True, slots=True)
class Segment:
    """`kwh` consumed between two instants (epoch ms, start < end)."""

    start_ms: int
    end_ms: int
    kwh: float


class Segments(Sequence[Segment]):
    """Segments as three aligned arrays; a Sequence of `Segment` for whoever wants them one by one.
    Combine several sensors' segments (one asset) with `Segments.concat`: overlapping segments add."""

    __slots__ = ("end_ms", "kwh", "start_ms")

    def __init__(self, start_ms: Any, end_ms: Any, kwh: Any) -> None:
        self.start_ms: IntArray = np.asarray(start_ms, dtype=np.int64)
        self.end_ms: IntArray = np.asarray(end_ms, dtype=np.int64)
        self.kwh: FloatArray = np.asarray(kwh, dtype=np.float64)
        if not (self.start_ms.shape == self.end_ms.shape == self.kwh.shape) or self.start_ms.ndim != 1:
            raise ValueError("segment arrays must be one-dimensional and of one length")
        if np.any(self.end_ms <= self.start_ms):
            raise ValueError("a segment must end after it starts")

    @classmethod
    def empty(cls) -> Segments:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))

    @classmethod
    def of(cls, segments: Iterable[Segment]) -> Segments:
        """Any iterable of segments (a `Segments` is returned as it is)."""
        if isinstance(segments, Segments):
            return segments
        rows = list(segments)
        return cls([s.start_ms for s in rows], [s.end_ms for s in rows], [s.kwh for s in rows])

    @classmethod
    def concat(cls, parts: Iterable[Iterable[Segment]]) -> Segments:
        chosen = [cls.of(part) for part in parts]
        if not chosen:
            return cls.empty()
        return cls(
            np.concatenate([p.start_ms for p in chosen]),
            np.concatenate([p.end_ms for p in chosen]),
            np.concatenate([p.kwh for p in chosen]),
        )

    @property
    def total_kwh(self) -> float:
        return float(self.kwh.sum())

    def __len__(self) -> int:
        return int(self.kwh.shape[0])

    @overload
    def __getitem__(self, index: int) -> Segment: ...

    @overload
    def __getitem__(self, index: slice) -> Segments: ...

    def __getitem__(self, index: int | slice) -> Segment | Segments:
        if isinstance(index, slice):
            return Segments(self.start_ms[index], self.end_ms[index], self.kwh[index])
        return Segment(int(self.start_ms[index]), int(self.end_ms[index]), float(self.kwh[index]))

    def __iter__(self) -> Iterator[Segment]:
        return map(Segment, self.start_ms.tolist(), self.end_ms.tolist(), self.kwh.tolist())

    def __repr__(self) -> str:
        return f"Segments(n={len(self)}, kwh={self.total_kwh:.3f})"


# ---- readings → segments ----------------------------------------------------------------------


def _readings(ts_ms: Any, values: Any) -> tuple[IntArray, FloatArray]:
    """Finite readings sorted by time, one per instant (the last given wins: a redelivery)."""
    ts = np.asarray(ts_ms)
    if ts.dtype.kind == "M":  # numpy / Arrow timestamps
        ts = ts.astype("datetime64[ms]")
    ts = ts.astype(np.int64, copy=False)
    vs = np.asarray(values, dtype=np.float64)
    if ts.shape != vs.shape or ts.ndim != 1:
        raise ValueError("timestamps and values must be one-dimensional and of one length")
    finite = np.isfinite(vs)
    if not finite.all():
        ts, vs = ts[finite], vs[finite]
    if ts.size > 1 and np.any(ts[1:] < ts[:-1]):
        order = np.argsort(ts, kind="stable")
        ts, vs = ts[order], vs[order]
    if ts.size > 1:
        last = np.append(ts[1:] != ts[:-1], True)
        if not last.all():
            ts, vs = ts[last], vs[last]
    return ts, vs


def kwh_from_power(ts_ms: Any, kw: Any, max_gap_ms: int, unit: str = "kilowatt") -> Segments:
    """Trapezoidal kWh between consecutive power readings (in `unit`: kilowatt or watt); the
    interval across a gap longer than `max_gap_ms` is left out."""
    if unit not in POWER_UNITS:
        raise ValueError(f"not a power unit: {unit!r} (expected one of {sorted(POWER_UNITS)})")
    ts, power = _readings(ts_ms, kw)
    if ts.size < 2:
        return Segments.empty()
    power = power * POWER_UNITS[unit]
    step = np.diff(ts)
    kwh = (power[:-1] + power[1:]) * 0.5 * (step / MS_PER_HOUR)
    bridged = step <= max_gap_ms
    return Segments(ts[:-1][bridged], ts[1:][bridged], kwh[bridged])


def kwh_from_counter(ts_ms: Any, kwh: Any) -> Segments:
    """The increase of an energy counter between consecutive readings. A decrease is a reset
    (or a new meter): that interval counts nothing and the increase after it counts. A lone low
    reading between two that continue the series is a bad reading, not a reset, and is ignored."""
    ts, counter = _readings(ts_ms, kwh)
    if ts.size > 2:
        before, here, after = counter[:-2], counter[1:-1], counter[2:]
        dip = (here < before) & (after >= before)
        if dip.any():
            keep = np.concatenate(([True], ~dip, [True]))
            ts, counter = ts[keep], counter[keep]
    if ts.size < 2:
        return Segments.empty()
    rise = np.diff(counter)
    counted = rise > 0
    return Segments(ts[:-1][counted], ts[1:][counted], rise[counted])


# ---- time of use --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnergyDay:
    """kWh of one day (Decimal, 3 places); total = peak + off-peak + intermediate exactly."""

    kwh_total: Decimal
    kwh_peak: Decimal
    kwh_off_peak: Decimal
    kwh_intermediate: Decimal

    @classmethod
    def zero(cls) -> EnergyDay:
        nothing = Decimal("0.000")
        return cls(nothing, nothing, nothing, nothing)


def _kwh(value: float) -> Decimal:
    rounded = Decimal(repr(float(value))).quantize(KWH_PLACES, rounding=ROUND_HALF_UP)
    return rounded if rounded != 0 else Decimal("0.000")  # never "-0.000"


def _time_of_day(value: TimeOfDay) -> time:
    if isinstance(value, time):
        return value
    return time.fromisoformat(value.strip())


def _on_day(day: date, moment: time, tz_name: str) -> int:
    return int(datetime.combine(day, moment, zone(tz_name)).timestamp() * 1000)


Interval = tuple[int, int]


def _window(day: date, tz_name: str, start: TimeOfDay, end: TimeOfDay) -> list[Interval]:
    """A daily window [start, end) on `day` as epoch-ms intervals; one that crosses midnight
    (22:00-06:00) covers the day's start until `end` and `start` until the day's end."""
    first, last = _time_of_day(start), _time_of_day(end)
    if first == last:
        raise ValueError("a time-of-use window must not start and end at the same time")
    midnight, next_midnight = _on_day(day, time(0), tz_name), _on_day(day + timedelta(days=1), time(0), tz_name)
    if first < last:
        return [(_on_day(day, first, tz_name), _on_day(day, last, tz_name))]
    return [(midnight, _on_day(day, last, tz_name)), (_on_day(day, first, tz_name), next_midnight)]


def _intersection(a: list[Interval], b: list[Interval]) -> list[Interval]:
    found = [(max(x0, y0), min(x1, y1)) for x0, x1 in a for y0, y1 in b]
    return [(start, end) for start, end in found if start < end]


def _energy_within(segments: Segments, intervals: list[Interval]) -> float:
    """Σ of each segment's energy * the share of its time inside `intervals` (disjoint)."""
    if not len(segments):
        return 0.0
    start, end, kwh = segments.start_ms, segments.end_ms, segments.kwh
    length = (end - start).astype(np.float64)
    total = 0.0
    for low, high in intervals:
        inside = np.minimum(end, high) - np.maximum(start, low)
        total += float(np.sum(kwh * (np.clip(inside, 0, None) / length)))
    return total


def is_business_day(day: date, holidays: Collection[date] = ()) -> bool:
    """Peak pricing days: Monday to Friday, except `holidays` (the tenant's holiday calendar:
    ledger.energy_calendar)."""
    return day.weekday() < 5 and day not in holidays


def split_by_time_of_use(
    segments: Iterable[Segment],
    tz: str,
    day: date | str,
    peak_start: TimeOfDay | None,
    peak_end: TimeOfDay | None,
    intermediate: tuple[TimeOfDay, TimeOfDay] | None = None,
    *,
    holidays: Collection[date] = (),
) -> EnergyDay:
    """The kWh of `day` (the local day in `tz`; energy of segments outside it is left out) in the
    peak window, the intermediate window (may enclose the peak window: the peak wins where they
    overlap) and off-peak (the rest, and the whole of weekends and `holidays`). No peak window
    (None) puts everything off-peak."""
    on = date.fromisoformat(day) if isinstance(day, str) else day
    chosen = Segments.of(segments)
    whole_day = [(_on_day(on, time(0), tz), _on_day(on + timedelta(days=1), time(0), tz))]
    total = _energy_within(chosen, whole_day)
    peak = intermediate_kwh = 0.0
    if is_business_day(on, holidays) and peak_start is not None and peak_end is not None:
        peak_window = _window(on, tz, peak_start, peak_end)
        peak = _energy_within(chosen, peak_window)
        if intermediate is not None:
            middle = _window(on, tz, *intermediate)
            intermediate_kwh = _energy_within(chosen, middle) - _energy_within(
                chosen, _intersection(middle, peak_window)
            )
    kwh_peak, kwh_intermediate = _kwh(peak), _kwh(intermediate_kwh)
    kwh_off_peak = _kwh(total - peak - intermediate_kwh)
    return EnergyDay(kwh_peak + kwh_off_peak + kwh_intermediate, kwh_peak, kwh_off_peak, kwh_intermediate)


# ---- price ---------------------------------------------------------------------------------------


class TariffRates(Protocol):
    """What pricing reads of a tariff (ledger.energy_models.EnergyTariff has it): R$/kWh."""

    @property
    def rate_peak(self) -> Decimal: ...
    @property
    def rate_off_peak(self) -> Decimal: ...
    @property
    def rate_intermediate(self) -> Decimal | None: ...
    @property
    def flag_verde(self) -> Decimal: ...
    @property
    def flag_amarela(self) -> Decimal: ...
    @property
    def flag_vermelha_1(self) -> Decimal: ...
    @property
    def flag_vermelha_2(self) -> Decimal: ...


@dataclass(frozen=True)
class EnergyCost:
    """`amount`: money (2 places, half up) of the exact sum in `breakdown` (exact products)."""

    amount: Decimal
    breakdown: dict[str, Any] = field(default_factory=dict)


def flag_surcharge(tariff: TariffRates, flag: str) -> Decimal:
    if flag not in TARIFF_FLAGS:
        raise ValueError(f"not a tariff flag: {flag!r} (expected one of {TARIFF_FLAGS})")
    return Decimal(getattr(tariff, f"flag_{flag}"))


def price(day: EnergyDay, tariff: TariffRates, flag: str) -> EnergyCost:
    """peak * rate_peak + off-peak * rate_off_peak + intermediate * rate_intermediate (the
    off-peak rate when the tariff has none) + total * the flag's surcharge."""
    intermediate_rate = tariff.rate_intermediate if tariff.rate_intermediate is not None else tariff.rate_off_peak
    lines = {
        "peak": (day.kwh_peak, Decimal(tariff.rate_peak)),
        "off_peak": (day.kwh_off_peak, Decimal(tariff.rate_off_peak)),
        "intermediate": (day.kwh_intermediate, Decimal(intermediate_rate)),
        "flag": (day.kwh_total, flag_surcharge(tariff, flag)),
    }
    breakdown: dict[str, Any] = {
        name: {"kwh": kwh, "rate": rate, "amount": kwh * rate} for name, (kwh, rate) in lines.items()
    }
    breakdown["flag"]["name"] = flag
    exact = sum((line["amount"] for line in breakdown.values()), Decimal(0))
    breakdown["exact_amount"] = exact
    return EnergyCost(money(exact), breakdown)
