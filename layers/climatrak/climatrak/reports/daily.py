"""The daily (D-1) report of one tenant: compaction, aggregates, energy into the ledger, the day's
operations, and the published report. Every step is idempotent, so a rerun of any day gives the
same objects, the same postings (their keys) and a new generation of the same report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
from aws_lambda_powertools import Logger

from climatrak.core.config import Settings
from climatrak.core.errors import NotFound
from climatrak.core.money import ZERO, money
from climatrak.ledger.energy_postings import post_energy
from climatrak.ledger.energy_tariffs import EnergyTariffRepository, energy_terms
from climatrak.ledger.month_close import lock_due_month
from climatrak.ledger.repository import LedgerRepository
from climatrak.registry.repository import RegistryRepository
from climatrak.reports import energy, lake_daily, operations
from climatrak.reports.energy_dataset import write_energy
from climatrak.reports.ledger_export import export_month
from climatrak.reports.operations_export import export_alerts, export_work_orders
from climatrak.reports.publish import publish_report

logger = Logger(service="reports")

DAILY = "daily"
MINUTE_MS = 60_000


@dataclass
class AssetEnergy:
    asset_tag: str
    asset_id: int | None
    day: energy.EnergyDay
    cost: energy.EnergyCost | None = None
    posted: bool = False
    sensors: list[str] = field(default_factory=list)


def run_daily(settings: Settings, s3: Any, tenant: str, day: str) -> dict[str, Any]:
    """The whole daily job of one tenant-day; returns the task's result."""
    registry = RegistryRepository(tenant, settings)
    tenant_item = registry.get_tenant()
    if tenant_item is None:
        raise NotFound(f"tenant {tenant!r} does not exist")
    timezone = str(tenant_item.timezone)
    start_ms, end_ms = lake_daily.day_bounds_ms(day, timezone)

    lake = lake_daily.run_daily_lake(s3, settings.lake_bucket, tenant, day, timezone)
    compaction = lake.compaction
    aggregates = lake.aggregates if lake.aggregates.num_rows else None
    assets = _energy(settings, s3, tenant, day, timezone, lake.series, registry)
    day_operations = operations.daily_operations(settings, tenant, day)
    ledger_key, ledger_rows = export_month(settings, s3, tenant, day[:7])
    exported = {
        "work_orders": export_work_orders(settings, s3, tenant, day),
        "alerts": export_alerts(settings, s3, tenant, day, start_ms, end_ms),
    }

    report = _report(tenant, day, timezone, compaction, aggregates, assets, day_operations)
    report["lake_exports"] = {"ledger_key": ledger_key, "ledger_transactions": ledger_rows, **exported}
    report["month_locked"] = lock_due_month(LedgerRepository(tenant, settings), day)
    record = publish_report(settings, s3, tenant, DAILY, day, report)
    logger.info("daily report published", extra={"tenant": tenant, "date": day, "report_id": record.id})
    return {"tenant": tenant, "report_id": str(record.id), "status": "completed", "headline": report["headline"]}


def _energy(
    settings: Settings,
    s3: Any,
    tenant: str,
    day: str,
    timezone: str,
    power_series: list[lake_daily.PowerSeries],
    registry: RegistryRepository,
) -> list[AssetEnergy]:
    """kWh per asset (its power sensors, else its energy counters), priced with the tariff in
    force and posted to the ledger (key `energy:{asset}:{day}`), and the energy dataset."""
    max_gap_ms = settings.energy_max_gap_minutes * MINUTE_MS
    by_asset: dict[str, dict[str, list[energy.Segments]]] = {}
    sensors: dict[str, list[str]] = {}
    for series in power_series:
        if not series.asset_tag:
            continue
        kind = "counter" if series.metric_type == "energy_kwh" else "power"
        if kind == "counter":
            segments = energy.kwh_from_counter(series.ts_ms, series.values)
        else:
            segments = energy.kwh_from_power(series.ts_ms, series.values, max_gap_ms, unit=series.unit)
        by_asset.setdefault(series.asset_tag, {}).setdefault(kind, []).append(segments)
        sensors.setdefault(series.asset_tag, []).append(series.sensor_id)
    if not by_asset:
        return []
    tariffs = EnergyTariffRepository(tenant, settings)
    terms = energy_terms(tariffs, day)
    tariff, flag, holidays = terms.tariff, terms.flag, terms.holidays
    results: list[AssetEnergy] = []
    for asset_tag, kinds in sorted(by_asset.items()):
        # power readings when the asset has them (they split by time of use); its counters else
        segments = energy.Segments.concat(kinds.get("power") or kinds.get("counter") or [])
        energy_day = energy.split_by_time_of_use(
            segments,
            timezone,
            day,
            peak_start=tariff.peak_start if tariff is not None else None,
            peak_end=tariff.peak_end if tariff is not None else None,
            intermediate=_intermediate(tariff),
            holidays=holidays,
        )
        asset = registry.asset_by_tag(asset_tag)
        result = AssetEnergy(asset_tag, int(asset.id) if asset else None, energy_day, sensors=sensors[asset_tag])
        if tariff is not None and asset is not None and energy_day.kwh_total > 0:
            result.cost = energy.price(energy_day, tariff, flag)
            post_energy(settings, tenant, int(asset.id), day, energy_day, result.cost, tariff, flag)
            result.posted = True
        results.append(result)
    write_energy(s3, settings.lake_bucket, tenant, day, _energy_rows(day, results, tariff, flag))
    return results


def _intermediate(tariff: Any) -> tuple[Any, Any] | None:
    if tariff is None or getattr(tariff, "intermediate_start", None) is None:
        return None
    return tariff.intermediate_start, tariff.intermediate_end


def _energy_rows(day: str, assets: list[AssetEnergy], tariff: Any, flag: str) -> list[dict[str, Any]]:
    return [
        {
            "dt": day,
            "asset_tag": a.asset_tag,
            "asset_id": a.asset_id,
            "kwh_total": float(a.day.kwh_total),
            "kwh_peak": float(a.day.kwh_peak),
            "kwh_off_peak": float(a.day.kwh_off_peak),
            "kwh_intermediate": float(a.day.kwh_intermediate),
            "cost": a.cost.amount if a.cost else None,
            "tariff": str(tariff.name) if tariff is not None else None,
            "flag": flag,
        }
        for a in assets
    ]


def _report(
    tenant: str,
    day: str,
    timezone: str,
    compaction: Any,
    aggregates: pa.Table | None,
    assets: list[AssetEnergy],
    day_operations: Any,
) -> dict[str, Any]:
    sensor_rows = aggregates.to_pylist() if aggregates is not None else []
    kwh = sum((a.day.kwh_total for a in assets), Decimal("0"))
    cost = money(sum((a.cost.amount for a in assets if a.cost), ZERO))
    coverage = [row["coverage"] for row in sensor_rows]
    ops = operations.as_dict(day_operations)
    headline = {
        "readings": int(compaction.rows),
        "sensors": len(sensor_rows),
        "avg_coverage": round(sum(coverage) / len(coverage), 4) if coverage else None,
        "kwh": str(kwh),
        "energy_cost": str(cost),
        "work_orders_opened": ops.get("work_orders", {}).get("opened"),
        "work_orders_completed": ops.get("work_orders", {}).get("completed"),
        "alerts_raised": ops.get("alerts", {}).get("raised"),
    }
    return {
        "type": DAILY,
        "tenant": tenant,
        "period": day,
        "timezone": timezone,
        "headline": headline,
        "telemetry": {"raw_objects": compaction.raw_objects, "rows": compaction.rows, "sensors": sensor_rows},
        "energy": [
            {
                "asset_tag": a.asset_tag,
                "kwh_total": str(a.day.kwh_total),
                "kwh_peak": str(a.day.kwh_peak),
                "kwh_off_peak": str(a.day.kwh_off_peak),
                "kwh_intermediate": str(a.day.kwh_intermediate),
                "cost": str(a.cost.amount) if a.cost else None,
                "posted": a.posted,
                "sensors": a.sensors,
            }
            for a in assets
        ],
        "operations": ops,
    }
