"""The lake's catalog, declared once (climatrak.core.resources.LAKE_TABLES): it matches what the
writers write, the local DuckDB views have the Glue tables' names and columns, and every saved
query of docs/athena/ runs unchanged on DuckDB over a small generated lake."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import sqlglot
from moto import mock_aws

from climatrak.core.resources import (
    ENERGY_DAILY_TABLE,
    LAKE_TABLES,
    LEDGER_TRANSACTIONS_TABLE,
    SENSOR_DAILY_TABLE,
    TELEMETRY_DAILY_TABLE,
    TELEMETRY_RAW_TABLE,
    LakeTableSpec,
)
from climatrak.reports.energy_dataset import ENERGY_SCHEMA
from climatrak.reports.lake_daily import AGGREGATES_SCHEMA
from climatrak.telemetry.lake import RAW_SCHEMA
from climatrak_local import lake
from climatrak_local.provision import create_lake_catalog
from infra_cdk.saved_queries import SAVED_QUERIES_DIR, saved_queries

# -- the catalog matches the writers -------------------------------------------------------------


def columns_of(schema: pa.Schema, leave_out: tuple[str, ...] = ()) -> list[tuple[str, pa.DataType]]:
    return [(field.name, field.type) for field in schema if field.name not in leave_out]


def declared(table: LakeTableSpec) -> list[tuple[str, pa.DataType]]:
    return [(name, lake.arrow_type(kind)) for name, kind in table.columns]


@pytest.mark.parametrize("table", [TELEMETRY_RAW_TABLE, TELEMETRY_DAILY_TABLE], ids=lambda t: t.name)
def test_telemetry_tables_are_the_raw_schema(table: LakeTableSpec) -> None:
    assert declared(table) == columns_of(RAW_SCHEMA)


def test_sensor_daily_is_the_aggregates_schema() -> None:
    assert declared(SENSOR_DAILY_TABLE) == columns_of(AGGREGATES_SCHEMA)


def test_energy_daily_is_the_energy_schema_without_its_partition_column() -> None:
    # a column named like a partition key is refused by Glue; Athena reads the partition instead
    assert declared(ENERGY_DAILY_TABLE) == columns_of(ENERGY_SCHEMA, leave_out=("dt",))


def test_no_table_repeats_a_partition_as_a_column() -> None:
    for table in LAKE_TABLES:
        assert not {p.name for p in table.partitions} & set(table.column_names), table.name


def test_the_local_glue_catalog_has_every_table_with_its_projection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        create_lake_catalog(glue, "lake")
        tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="lake")["TableList"]}
    assert set(tables) == {table.name for table in LAKE_TABLES}
    ledger = tables[LEDGER_TRANSACTIONS_TABLE.name]
    assert [key["Name"] for key in ledger["PartitionKeys"]] == ["tenant", "month"]
    assert ledger["Parameters"]["projection.tenant.type"] == "injected"
    assert ledger["Parameters"]["storage.location.template"] == (
        "s3://climatrak-lake/ledger/transactions/tenant=${tenant}/month=${month}/"
    )


# -- views ---------------------------------------------------------------------------------------


def test_sql_is_athena_sql_transpiled_for_duckdb() -> None:
    assert lake.to_duckdb("SELECT approx_percentile(value, 0.95) FROM t") == (
        "SELECT APPROX_QUANTILE(value, 0.95) FROM t"
    )
    assert lake.to_duckdb("not sql at all (") == "not sql at all ("


def test_an_empty_lake_has_every_view_with_its_table_columns_then_partitions(tmp_path: Path) -> None:
    location = lake.LakeLocation("unused", str(tmp_path))
    with lake.LakeQuery(location, pafs.LocalFileSystem()) as query:
        for table in lake.LOCAL_TABLES:
            names, rows = query.query(f"SELECT * FROM {table.name}")
            assert rows == []
            assert names == [*table.column_names, *(p.name for p in table.partitions)]
    assert {t.name for t in lake.LOCAL_TABLES} == {
        "telemetry_raw",
        "telemetry_daily",
        "sensor_daily",
        "energy_daily",
        "ledger_transactions",
        "work_orders",
        "alerts",
    }


# -- the saved queries, on a generated lake ---------------------------------------------------------

DAY = "2026-03-10"
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def write(root: Path, table: LakeTableSpec, partitions: str, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    """One Parquet object where the writers put it: {prefix}/tenant=../dt=../part-0000.parquet."""
    path = root / table.prefix / partitions / "part-0000.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, compression="zstd")
    path.write_bytes(sink.getvalue())


def reading(asset: str, sensor: str, minutes: int, value: float, unit: str) -> dict[str, Any]:
    return {
        "ts": T0 + timedelta(minutes=minutes),
        "device_id": f"umc-{asset.lower()}",
        "sensor_id": sensor,
        "value": value,
        "unit": unit,
        "metric_type": sensor,
        "site_id": 1,
        "asset_tag": asset,
        "received_at": T0,
        "via": "iot",
    }


def aggregate(sensor: str, coverage: float, longest_gap_s: float) -> dict[str, Any]:
    return {
        "device_id": "umc-ch-001",
        "asset_tag": "CH-001",
        "sensor_id": sensor,
        "metric_type": sensor,
        "unit": "celsius",
        "count": int(1440 * coverage),
        "min": 6.0,
        "max": 9.0,
        "avg": 7.5,
        "p95": 8.8,
        "first_ts": T0,
        "last_ts": T0 + timedelta(hours=1),
        "coverage": coverage,
        "longest_gap_s": longest_gap_s,
    }


def energy(day: str, asset: str, kwh: float, cost: str) -> dict[str, Any]:
    return {
        "dt": day,
        "asset_tag": asset,
        "asset_id": {"CH-001": 1, "AHU-001": 2, "SPLIT-001": 3}[asset],
        "kwh_total": kwh,
        "kwh_peak": kwh / 4,
        "kwh_off_peak": kwh * 3 / 4,
        "kwh_intermediate": 0.0,
        "cost": Decimal(cost),
        "tariff": "B3 Cemig",
        "flag": "verde",
    }


def transaction(category: str, amount: str, day: int) -> dict[str, Any]:
    return {
        "id": f"tx-{category}-{day}",
        "occurred_at": datetime(2026, 3, day, 15, tzinfo=UTC),
        "transaction_type": category if category != "maintenance" else "labor",
        "category": category,
        "amount": Decimal(amount),
        "currency": "BRL",
        "cost_center_id": "cc-1",
        "asset_id": 1,
        "work_order_id": None,
        "description": "",
        "idempotency_key": f"k-{category}-{day}",
        "is_locked": False,
        "created_at": datetime(2026, 3, day, 15, tzinfo=UTC),
    }


@pytest.fixture
def generated_lake(tmp_path: Path) -> lake.LakeQuery:
    root = tmp_path / "lake"
    umc, other = f"tenant=umc/dt={DAY}", f"tenant=other/dt={DAY}"
    readings = [
        reading("CH-001", "temp_supply", 0, 7.0, "celsius"),
        reading("CH-001", "temp_supply", 30, 8.0, "celsius"),
        reading("CH-001", "temp_supply", 70, 9.0, "celsius"),
        reading("CH-001", "power_kw", 0, 120.0, "kilowatt"),
    ]
    write(root, TELEMETRY_DAILY_TABLE, umc, readings, RAW_SCHEMA)
    write(root, TELEMETRY_DAILY_TABLE, other, [reading("CH-001", "temp_supply", 0, 99.0, "celsius")], RAW_SCHEMA)

    sensors = [aggregate("temp_supply", 0.95, 600), aggregate("temp_return", 0.5, 7200), aggregate("rh", 0.85, 900)]
    write(root, SENSOR_DAILY_TABLE, umc, sensors, AGGREGATES_SCHEMA)
    write(root, SENSOR_DAILY_TABLE, "tenant=umc/dt=2026-03-11", [aggregate("temp_supply", 0.1, 1)], AGGREGATES_SCHEMA)
    write(root, SENSOR_DAILY_TABLE, other, [aggregate("temp_supply", 0.2, 1)], AGGREGATES_SCHEMA)

    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        rows = [energy(day, "CH-001", 100.0, "10.50"), energy(day, "AHU-001", 50.0, "5.25")]
        if day == "2026-03-02":
            rows.append(energy(day, "SPLIT-001", 200.0, "20.00"))
        write(root, ENERGY_DAILY_TABLE, f"tenant=umc/dt={day}", rows, ENERGY_SCHEMA)
    write(
        root,
        ENERGY_DAILY_TABLE,
        "tenant=umc/dt=2026-04-01",
        [energy("2026-04-01", "AHU-001", 9e3, "999.00")],
        ENERGY_SCHEMA,
    )
    write(
        root,
        ENERGY_DAILY_TABLE,
        "tenant=other/dt=2026-03-01",
        [energy("2026-03-01", "AHU-001", 9e3, "999.00")],
        ENERGY_SCHEMA,
    )

    ledger_schema = pa.schema(
        [field for field in lake.arrow_schema(LEDGER_TRANSACTIONS_TABLE) if field.name not in ("tenant", "month")]
    )
    march = [
        transaction("energy", "10.50", 1),
        transaction("energy", "5.25", 2),
        transaction("maintenance", "100.00", 3),
    ]
    write(root, LEDGER_TRANSACTIONS_TABLE, "tenant=umc/month=2026-03", march, ledger_schema)
    write(
        root, LEDGER_TRANSACTIONS_TABLE, "tenant=umc/month=2026-02", [transaction("energy", "1.00", 1)], ledger_schema
    )
    write(
        root, LEDGER_TRANSACTIONS_TABLE, "tenant=other/month=2026-03", [transaction("energy", "9.00", 1)], ledger_schema
    )
    return lake.LakeQuery(lake.LakeLocation("unused", str(root)), pafs.LocalFileSystem())


PARAMETERS = {
    "daily_energy_per_asset": ["umc", "2026-03-01", "2026-03-31"],
    "top_energy_cost_assets": ["umc", "2026-03-01", "2026-03-31"],
    "low_coverage_sensors": ["umc", DAY],
    "hourly_sensor_profile": ["umc", DAY, "CH-001", "temp_supply"],
    "ledger_month_by_category": ["umc", "2026-03"],
}


def test_every_saved_query_is_athena_sql_with_its_tenant_as_a_parameter() -> None:
    queries = saved_queries(SAVED_QUERIES_DIR)
    assert set(queries) == set(PARAMETERS)
    for name, (description, text) in queries.items():
        assert description, f"{name}: say what it answers in its leading -- comments"
        sqlglot.parse_one(text, read="athena")  # raises on anything Athena's dialect cannot read
        # injected tenant projection: Athena needs `tenant = <value>` in every query
        assert "WHERE tenant = ?" in text, name
        assert text.count("?") == len(PARAMETERS[name]), name


def run_saved(query: lake.LakeQuery, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    return query.query((SAVED_QUERIES_DIR / f"{name}.sql").read_text(), PARAMETERS[name])


def test_daily_energy_per_asset(generated_lake: lake.LakeQuery) -> None:
    names, rows = run_saved(generated_lake, "daily_energy_per_asset")
    assert names[:2] == ["dt", "asset_tag"] and "cost" in names
    assert [(row[0], row[1]) for row in rows] == [
        ("2026-03-01", "AHU-001"),
        ("2026-03-01", "CH-001"),
        ("2026-03-02", "AHU-001"),
        ("2026-03-02", "CH-001"),
        ("2026-03-02", "SPLIT-001"),
        ("2026-03-03", "AHU-001"),
        ("2026-03-03", "CH-001"),
    ]
    assert rows[1][names.index("cost")] == Decimal("10.50")


def test_top_energy_cost_assets(generated_lake: lake.LakeQuery) -> None:
    names, rows = run_saved(generated_lake, "top_energy_cost_assets")
    assert names == ["asset_tag", "days", "kwh_total", "peak_share", "cost"]
    assert rows == [
        ("CH-001", 3, 300.0, 0.25, Decimal("31.50")),
        ("SPLIT-001", 1, 200.0, 0.25, Decimal("20.00")),
        ("AHU-001", 3, 150.0, 0.25, Decimal("15.75")),
    ]


def test_low_coverage_sensors(generated_lake: lake.LakeQuery) -> None:
    names, rows = run_saved(generated_lake, "low_coverage_sensors")
    got = [dict(zip(names, row, strict=True)) for row in rows]
    assert [(r["sensor_id"], r["coverage_pct"], r["longest_gap_min"]) for r in got] == [
        ("temp_return", 50.0, 120.0),
        ("rh", 85.0, 15.0),
    ]


def test_hourly_sensor_profile(generated_lake: lake.LakeQuery) -> None:
    names, rows = run_saved(generated_lake, "hourly_sensor_profile")
    assert names == ["hour_utc", "readings", "avg_value", "min_value", "max_value", "unit"]
    assert [(row[0].astimezone(UTC).hour, *row[1:]) for row in rows] == [
        (12, 2, 7.5, 7.0, 8.0, "celsius"),
        (13, 1, 9.0, 9.0, 9.0, "celsius"),
    ]


def test_ledger_month_by_category(generated_lake: lake.LakeQuery) -> None:
    _, rows = run_saved(generated_lake, "ledger_month_by_category")
    assert rows == [("maintenance", "labor", 1, Decimal("100.00")), ("energy", "energy", 2, Decimal("15.75"))]
