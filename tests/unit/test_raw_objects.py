"""Raw telemetry objects as ingest writes them: the rows in the daily compaction's order."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from climatrak.telemetry.lake import RAW_SCHEMA, RawColumns, parquet_bytes

T0 = 1_773_000_000_000


def test_raw_rows_are_written_by_asset_nulls_last_sensor_device_and_time_keeping_copies_in_arrival_order() -> None:
    columns = RawColumns()
    # (ts, device_id, site_id, asset_tag, received_at, via), sensors, values
    instants = [
        ((T0 + 60_000, "dev-b", 1, "AST-2", T0 + 61_000, "iot"), ["temp", "amps"], [1.0, 2.0]),
        ((T0, "dev-b", 1, "AST-2", T0 + 1_000, "iot"), ["temp", "amps"], [3.0, 4.0]),
        ((T0, "dev-z", 1, None, T0 + 1_000, "http"), ["temp"], [5.0]),
        ((T0, "dev-a", 1, "AST-1", T0 + 1_000, "iot"), ["temp"], [6.0]),
        ((T0, "dev-b", 1, "AST-2", T0 + 1_000, "iot"), ["temp"], [7.0]),  # a copy, arrived after
    ]
    for run, sensors, values in instants:
        columns.add_instant(run, sensors, values, ["celsius"] * len(sensors), ["temp_supply"] * len(sensors))
    table = pq.read_table(pa.BufferReader(parquet_bytes(columns)))
    assert table.schema.equals(RAW_SCHEMA)
    rows = [(row["asset_tag"], row["sensor_id"], row["device_id"], row["value"]) for row in table.to_pylist()]
    assert rows == [
        ("AST-1", "temp", "dev-a", 6.0),
        ("AST-2", "amps", "dev-b", 4.0),
        ("AST-2", "amps", "dev-b", 2.0),
        ("AST-2", "temp", "dev-b", 3.0),
        ("AST-2", "temp", "dev-b", 7.0),
        ("AST-2", "temp", "dev-b", 1.0),
        (None, "temp", "dev-z", 5.0),
    ]
