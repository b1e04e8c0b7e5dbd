"""The daily lake job's logic against an independent computation in plain Python, on generated
readings with gaps, duplicates, out-of-order rows, readings outside the day, a sensor changing
unit, a device moving between assets, and sensors without asset or unit."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from climatrak.core.errors import DomainError
from climatrak.reports import lake_daily
from climatrak.reports.lake_daily import (
    AGGREGATES_SCHEMA,
    compact_day,
    compact_tables,
    daily_key,
    day_bounds_ms,
    group_quantile,
    power_series,
    sensor_aggregates,
)
from climatrak.telemetry.lake import RAW_SCHEMA, raw_key

DAY = "2026-03-10"
TIMEZONE = "America/Sao_Paulo"
START, END = day_bounds_ms(DAY, TIMEZONE)
MINUTE = 60_000
GROUP = ("asset_tag", "sensor_id", "device_id", "metric_type", "unit")

Row = dict[str, Any]


def reading(
    device: str,
    sensor: str,
    ts: int,
    value: float,
    *,
    unit: str | None = "celsius",
    metric: str = "temp_supply",
    asset: str | None = "AST-1",
    received: int | None = None,
) -> Row:
    return {
        "ts": ts,
        "device_id": device,
        "sensor_id": sensor,
        "value": value,
        "unit": unit,
        "metric_type": metric,
        "site_id": 1,
        "asset_tag": asset,
        "received_at": ts + 1_500 if received is None else received,
        "via": "iot",
    }


def generated_rows(seed: int = 3) -> list[Row]:
    """A day of readings as ingest would leave them in the raw objects, shuffled."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for minute in range(1_440):
        at = START + minute * MINUTE
        if not 600 <= minute < 690:  # dev-a's temperature is silent 10:00-11:30
            rows.append(reading("dev-a", "temp", at + rng.randrange(59_000), rng.uniform(5, 9)))
        if minute % 2 == 0:  # power in W every 2 minutes
            rows.append(reading("dev-a", "power", at, rng.uniform(900, 4_000), unit="watt", metric="power_kw"))
        if minute < 360:  # stops at 06:00: the longest gap runs to the end of the day
            rows.append(
                reading("dev-b", "pw", at, rng.uniform(20, 40), unit="kilowatt", metric="power_kw", asset="AST-2")
            )
        # no asset, two readings per slot
        for second in (5, 35):
            rows.append(
                reading(
                    "dev-c",
                    "rh",
                    at + second * 1_000,
                    rng.uniform(40, 60),
                    unit="percent_rh",
                    metric="humidity",
                    asset=None,
                )
            )
        if minute % 5 == 0:
            rows.append(
                reading("dev-d", "kwh", at, 1_000 + minute * 0.5, unit="kwh", metric="energy_kwh", asset="AST-2")
            )
            rows.append(reading("dev-f", "p", at, rng.uniform(1, 2), unit=None, metric="power_kw", asset="AST-5"))
        if minute % 10 == 0:  # the unit changes at noon: two groups for one sensor
            unit = "pascal" if minute < 720 else "kilopascal"
            rows.append(reading("dev-e", "dp", at, rng.uniform(100, 200), unit=unit, metric="dp_filter", asset="AST-3"))
            # dev-g moves from AST-3 to AST-4 at noon
            rows.append(reading("dev-g", "t", at, rng.uniform(10, 12), asset="AST-3" if minute < 720 else "AST-4"))
    # outside the business day: counted, but they fill no slot and close no gap
    rows.append(reading("dev-a", "temp", START - 30_000, 4.0))
    rows.append(reading("dev-a", "temp", END, 10.0))
    duplicates: list[Row] = []
    for row in rng.sample(rows, 60):  # redelivered later with another value: the later wins
        duplicates.append({**row, "value": row["value"] + 100, "received_at": row["received_at"] + 300_000})
    for row in rng.sample(rows, 20):  # redelivered unchanged
        duplicates.append(dict(row))
    # an older copy with a unit nobody else uses: it loses, and the unit leaves no trace
    loser = next(row for row in rows if row["device_id"] == "dev-b")
    duplicates.append({**loser, "unit": "old_unit", "received_at": loser["received_at"] - 60_000})
    # dev-g's morning reading sent again after the move, tagged with the new asset: still one reading
    morning = next(row for row in rows if row["device_id"] == "dev-g")
    duplicates.append(
        {**morning, "asset_tag": "AST-4", "value": -1.0, "received_at": morning["received_at"] + 3_600_000}
    )
    rows += duplicates
    rng.shuffle(rows)
    return rows


def as_table(rows: list[Row]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=RAW_SCHEMA)


def split(rows: list[Row], parts: int, seed: int) -> list[pa.Table]:
    """The rows spread over `parts` raw objects at random."""
    rng = random.Random(seed)
    chunks: list[list[Row]] = [[] for _ in range(parts)]
    for row in rows:
        chunks[rng.randrange(parts)].append(row)
    return [as_table(chunk) for chunk in chunks if chunk]


def as_rows(table: pa.Table) -> list[Row]:
    plain = table.cast(RAW_SCHEMA)
    columns = {name: plain.column(name) for name in RAW_SCHEMA.names}
    for name in ("ts", "received_at"):
        columns[name] = columns[name].cast(pa.int64())
    return pa.table(columns).to_pylist()


# ---- the independent computation ---------------------------------------------------------------


def expected_compacted(rows: list[Row]) -> list[Row]:
    latest: dict[tuple[str, str, int], Row] = {}
    for row in rows:
        key = (row["device_id"], row["sensor_id"], row["ts"])
        if key not in latest or row["received_at"] > latest[key]["received_at"]:
            latest[key] = row
    return sorted(
        latest.values(),
        key=lambda row: (
            row["asset_tag"] is None,
            row["asset_tag"] or "",
            row["sensor_id"],
            row["device_id"],
            row["ts"],
        ),
    )


def expected_aggregates(rows: list[Row], start: int, end: int, interval: int = MINUTE) -> dict[tuple[Any, ...], Row]:
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[name] for name in GROUP)].append(row)
    expected = {}
    for key, members in groups.items():
        values = [row["value"] for row in members]
        times = sorted(row["ts"] for row in members)
        inside = [ts for ts in times if start <= ts < end]
        edges = [start, *inside, end]
        expected[key] = {
            "count": len(values),
            "min": min(values),
            "max": max(values),
            "avg": math.fsum(values) / len(values),
            "p95": statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0],
            "first_ts": times[0],
            "last_ts": times[-1],
            "coverage": len({(ts - start) // interval for ts in inside}) / math.ceil((end - start) / interval),
            "longest_gap_s": max(later - earlier for earlier, later in itertools.pairwise(edges)) / 1000,
        }
    return expected


def aggregates_by_group(table: pa.Table) -> dict[tuple[Any, ...], Row]:
    rows = table.to_pylist()
    for row, first, last in zip(
        rows,
        table.column("first_ts").cast(pa.int64()).to_pylist(),
        table.column("last_ts").cast(pa.int64()).to_pylist(),
        strict=True,
    ):
        row["first_ts"], row["last_ts"] = first, last
    return {tuple(row[name] for name in GROUP): row for row in rows}


def assert_aggregates_match(actual: pa.Table, expected: dict[tuple[Any, ...], Row]) -> None:
    by_group = aggregates_by_group(actual)
    assert set(by_group) == set(expected)
    for key, want in expected.items():
        got = by_group[key]
        for name in ("count", "min", "max", "first_ts", "last_ts", "coverage", "longest_gap_s"):
            assert got[name] == want[name], (key, name)
        assert got["avg"] == pytest.approx(want["avg"], rel=1e-12), key
        assert got["p95"] == pytest.approx(want["p95"], rel=1e-12), key


# ---- compaction --------------------------------------------------------------------------------


def test_compaction_keeps_the_latest_copy_of_each_reading_sorted_by_asset_sensor_device_time() -> None:
    rows = generated_rows()
    compacted = compact_tables(split(rows, 7, seed=1))
    assert as_rows(compacted) == expected_compacted(rows)
    assert compacted.num_rows < len(rows)


def test_a_reading_sent_again_after_its_device_moved_asset_is_still_one_reading() -> None:
    rows = generated_rows()
    compacted = as_rows(compact_tables([as_table(rows)]))
    readings = [(row["device_id"], row["sensor_id"], row["ts"]) for row in compacted]
    assert len(readings) == len(set(readings))
    moved = [row for row in compacted if row["device_id"] == "dev-g" and row["value"] == -1.0]
    assert len(moved) == 1 and moved[0]["asset_tag"] == "AST-4"


@pytest.mark.parametrize("earlier_readings", [0, 50])
def test_a_device_that_moved_asset_keeps_one_reading_per_instant(earlier_readings: int) -> None:
    # a day with fewer rows than (asset, sensor, device) combinations checks the devices' assets
    # another way than a day with more: both must see the move
    earlier = [reading("dev-x", "temp", START + n * MINUTE, 1.0) for n in range(earlier_readings)]
    first = reading("dev-x", "temp", START + 100 * MINUTE, 2.0, asset="AST-1", received=START + 100 * MINUTE + 5)
    again = {**first, "value": 3.0, "asset_tag": "AST-2", "received_at": first["received_at"] + 1}
    compacted = as_rows(compact_tables([as_table([*earlier, again]), as_table([first])]))
    assert [(row["asset_tag"], row["value"]) for row in compacted if row["ts"] == first["ts"]] == [("AST-2", 3.0)]
    assert len(compacted) == earlier_readings + 1


def test_compaction_does_not_depend_on_how_the_rows_were_split_or_ordered() -> None:
    rows = generated_rows()
    first = compact_tables(split(rows, 3, seed=1))
    again = compact_tables(list(reversed(split(rows, 11, seed=2))))
    assert first.equals(again)
    # the dictionaries hold only what the kept rows use, sorted
    units = first.column("unit").chunk(0).dictionary.to_pylist()
    assert "old_unit" not in units and units == sorted(units)


def test_copies_received_at_the_same_instant_resolve_to_the_first_input() -> None:
    first = reading("dev-a", "temp", START, 1.0, received=START + 5)
    second = {**first, "value": 2.0}
    assert as_rows(compact_tables([as_table([first]), as_table([second])]))[0]["value"] == 1.0
    assert as_rows(compact_tables([as_table([second]), as_table([first])]))[0]["value"] == 2.0


def test_compaction_of_nothing_is_empty() -> None:
    assert compact_tables([]).num_rows == 0
    assert compact_tables([RAW_SCHEMA.empty_table()]).num_rows == 0


def test_compact_day_on_a_local_directory_writes_the_same_pages_however_ingest_split_the_day(tmp_path: Path) -> None:
    rows = generated_rows()
    bodies = []
    for attempt, parts in enumerate((5, 13)):
        root = tmp_path / f"run-{attempt}"
        for index, table in enumerate(split(rows, parts, seed=attempt)):
            path = root / "lake" / raw_key("acme", DAY, f"{attempt}-{index:04d}")
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path, compression="snappy")
        result = compact_day(root, "lake", "acme", DAY)
        assert result.rows == len(expected_compacted(rows))
        assert result.raw_objects == result.raw_objects_read == parts
        assert result.written_key == daily_key("acme", DAY)
        body = (root / "lake" / result.written_key).read_bytes()
        # the footer names the raw objects merged; everything before it is the same
        recorded = pq.read_metadata(pa.BufferReader(body)).metadata[b"climatrak.merged_raw_objects"].decode()
        assert recorded.split(",") == [f"part-{attempt}-{index:04d}.parquet" for index in range(parts)]
        bodies.append(body[: -8 - int.from_bytes(body[-8:-4], "little")])
    assert bodies[0] == bodies[1]
    written = pq.read_table(tmp_path / "run-0" / "lake" / daily_key("acme", DAY))
    assert written.schema.equals(RAW_SCHEMA)


def test_the_compacted_file_encoded_row_group_by_row_group_is_the_whole_table_encoded_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lake_daily, "ROW_GROUP_ROWS", 1_000)  # a small day still has several row groups
    rows = generated_rows()
    for index, table in enumerate(split(rows, 4, seed=6)):
        path = tmp_path / "lake" / raw_key("acme", DAY, f"{index:04d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    result = compact_day(tmp_path, "lake", "acme", DAY)
    assert result.table is not None and result.written_key is not None
    body = (tmp_path / "lake" / result.written_key).read_bytes()
    metadata = pq.read_metadata(pa.BufferReader(body))
    assert metadata.num_row_groups == -(-result.rows // 1_000) > 2
    recorded = metadata.metadata[lake_daily.MERGED_METADATA_KEY].decode()
    at_once = lake_daily._parquet(
        result.table,
        lake_daily.SORT_COLUMNS,
        lake_daily.COMPACTED_DICTIONARY,
        lake_daily.COMPACTED_STATISTICS,
        {lake_daily.MERGED_METADATA_KEY: recorded},
    )
    assert body == at_once
    assert as_rows(pq.read_table(pa.BufferReader(body))) == expected_compacted(rows)


@pytest.mark.parametrize("failing_call", [0, 2])
def test_a_row_group_that_fails_to_encode_fails_the_compaction_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    monkeypatch.setattr(lake_daily, "ROW_GROUP_ROWS", 500)
    for index, table in enumerate(split(generated_rows(), 2, seed=1)):
        path = tmp_path / "lake" / raw_key("acme", DAY, f"{index:04d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    write = lake_daily._CompactedEncoder._write
    calls = 0

    def failing_once(self: Any, row_group: pa.Table) -> None:
        # one row group fails and the writer would take the next ones: the file must not be stored
        nonlocal calls
        calls += 1
        if calls - 1 == failing_call:
            raise OSError("no space left")
        write(self, row_group)

    monkeypatch.setattr(lake_daily._CompactedEncoder, "_write", failing_once)
    with pytest.raises(OSError, match="no space left"):
        compact_day(tmp_path, "lake", "acme", DAY)
    assert calls == failing_call + 1  # nothing is encoded after a failure
    assert compact_tables(split(generated_rows(), 2, seed=1)).num_rows > 500 * (failing_call + 2)  # it had more
    assert not (tmp_path / "lake" / daily_key("acme", DAY)).exists()


def test_a_rerun_reads_only_the_raw_objects_that_arrived_since(tmp_path: Path) -> None:
    rows = generated_rows()
    late = [{**row, "ts": row["ts"] + 7, "received_at": row["received_at"] + 3_600_000} for row in rows[:50]]
    for index, table in enumerate(split(rows, 6, seed=4)):
        path = tmp_path / "lake" / raw_key("acme", DAY, f"{index:04d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    first = compact_day(tmp_path, "lake", "acme", DAY)
    again = compact_day(tmp_path, "lake", "acme", DAY)
    assert (again.raw_objects, again.raw_objects_read, again.unchanged) == (6, 0, True)
    pq.write_table(as_table(late), tmp_path / "lake" / raw_key("acme", DAY, "late"))
    after_late = compact_day(tmp_path, "lake", "acme", DAY)
    assert (after_late.raw_objects, after_late.raw_objects_read, after_late.unchanged) == (7, 1, False)
    assert after_late.rows == first.rows + len({(r["device_id"], r["sensor_id"], r["ts"]) for r in late})
    assert as_rows(pq.read_table(tmp_path / "lake" / daily_key("acme", DAY))) == expected_compacted(rows + late)


# ---- aggregates --------------------------------------------------------------------------------


def test_sensor_aggregates_match_an_independent_computation() -> None:
    rows = generated_rows()
    kept = expected_compacted(rows)
    aggregates = sensor_aggregates(compact_tables([as_table(rows)]), START, END)
    assert aggregates.schema.equals(AGGREGATES_SCHEMA)
    assert_aggregates_match(aggregates, expected_aggregates(kept, START, END))


def test_aggregates_of_rows_in_any_order_are_the_same() -> None:
    kept = expected_compacted(generated_rows())
    random.Random(9).shuffle(kept)
    ordered = sensor_aggregates(compact_tables([as_table(kept)]), START, END)
    shuffled = sensor_aggregates(as_table(kept), START, END)
    assert shuffled.equals(ordered)


def test_coverage_and_gaps_of_known_sensors() -> None:
    by_group = aggregates_by_group(sensor_aggregates(compact_tables([as_table(generated_rows())]), START, END))
    silent_hour_and_a_half = by_group[("AST-1", "temp", "dev-a", "temp_supply", "celsius")]
    assert silent_hour_and_a_half["coverage"] == pytest.approx((1_440 - 90) / 1_440)
    assert silent_hour_and_a_half["longest_gap_s"] >= 90 * 60
    assert silent_hour_and_a_half["count"] == 1_440 - 90 + 2  # the two readings outside the day count
    stops_at_six = by_group[("AST-2", "pw", "dev-b", "power_kw", "kilowatt")]
    assert stops_at_six["coverage"] == pytest.approx(360 / 1_440)
    assert stops_at_six["longest_gap_s"] == (END - (START + 359 * MINUTE)) / 1000
    two_per_slot = by_group[(None, "rh", "dev-c", "humidity", "percent_rh")]
    assert two_per_slot["count"] == 2 * 1_440 and two_per_slot["coverage"] == 1.0
    assert ("AST-3", "dp", "dev-e", "dp_filter", "pascal") in by_group
    assert ("AST-3", "dp", "dev-e", "dp_filter", "kilopascal") in by_group


def test_a_day_with_a_clock_change_has_its_own_number_of_slots() -> None:
    start, end = day_bounds_ms("2026-03-08", "America/New_York")  # spring forward: 23 hours
    assert end - start == 23 * 3_600_000
    rows = [reading("dev-a", "temp", start + minute * MINUTE, 1.0) for minute in range(0, 23 * 60, 2)]
    aggregates = aggregates_by_group(sensor_aggregates(as_table(rows), start, end))
    only = aggregates[("AST-1", "temp", "dev-a", "temp_supply", "celsius")]
    assert only["coverage"] == pytest.approx(0.5)
    assert only["longest_gap_s"] == 120.0


def test_a_sensor_with_readings_only_outside_the_day_covers_nothing() -> None:
    rows = [reading("dev-a", "temp", END + 5 * MINUTE, 3.0), reading("dev-a", "temp", START - MINUTE, 1.0)]
    aggregates = aggregates_by_group(sensor_aggregates(as_table(rows), START, END))
    only = aggregates[("AST-1", "temp", "dev-a", "temp_supply", "celsius")]
    assert only["coverage"] == 0.0
    assert only["longest_gap_s"] == (END - START) / 1000
    assert only["count"] == 2


def test_aggregates_of_nothing_are_empty() -> None:
    empty = sensor_aggregates(RAW_SCHEMA.empty_table(), START, END)
    assert empty.num_rows == 0 and empty.schema.equals(AGGREGATES_SCHEMA)


def test_group_quantile_is_numpys_linear_percentile_per_group() -> None:
    rng = np.random.default_rng(4)
    counts = np.array([1, 2, 3, 20, 20, 1_440, 7, 2, 1_000, 20])
    values = rng.normal(size=int(counts.sum()))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    expected = [np.percentile(values[start : start + count], 95) for start, count in zip(starts, counts, strict=True)]
    assert np.allclose(group_quantile(values, starts, counts, 0.95), expected, rtol=0, atol=1e-12)


# ---- power series ------------------------------------------------------------------------------


def test_power_series_are_the_power_and_energy_sensors_one_reading_per_instant_in_time_order() -> None:
    rows = generated_rows()
    kept = expected_compacted(rows)
    series = power_series(compact_tables([as_table(rows)]))
    wanted = {
        ("power_kw", "watt"),
        ("power_kw", "kilowatt"),
        ("energy_kwh", "kwh"),
    }
    expected: dict[tuple[Any, ...], list[tuple[int, float]]] = defaultdict(list)
    for row in kept:
        if (row["metric_type"], row["unit"]) in wanted:
            key = (row["asset_tag"], row["device_id"], row["sensor_id"], row["metric_type"], row["unit"])
            expected[key].append((row["ts"], row["value"]))
    got = {
        (one.asset_tag, one.device_id, one.sensor_id, one.metric_type, one.unit): list(
            zip(one.ts_ms.tolist(), one.values.tolist(), strict=True)
        )
        for one in series
    }
    assert got == {key: sorted(points) for key, points in expected.items()}
    assert {key[2] for key in got} == {"power", "pw", "kwh"}  # dev-f's power has no unit: left out
    assert all(np.all(np.diff(one.ts_ms) > 0) for one in series)


def test_power_series_of_a_table_without_power_is_empty() -> None:
    assert power_series(as_table([reading("dev-a", "temp", START, 1.0)])) == []
    assert power_series(RAW_SCHEMA.empty_table()) == []


def test_a_day_that_is_not_a_date_is_refused() -> None:
    with pytest.raises(DomainError):
        daily_key("acme", "2026-13-01")
    with pytest.raises(DomainError):
        day_bounds_ms("yesterday")
