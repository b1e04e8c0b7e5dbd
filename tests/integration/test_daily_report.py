"""The daily report of one tenant on moto, from readings ingested by the real pipeline to the
published report: compaction, aggregates, energy priced by time of use and posted once, reruns."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pyarrow.parquet as pq
import pytest

from climatrak.alerts.items import AlertItem
from climatrak.alerts.records import raised_event
from climatrak.alerts.repository import AlertRepository
from climatrak.core.config import Settings
from climatrak.core.events import OutboxItem, outbox_pk
from climatrak.core.timeutil import iso_ms
from climatrak.ledger.energy_calendar import aneel_holidays
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.transaction_listing import list_transactions
from climatrak.reports.daily import run_daily
from climatrak.reports.lake_daily import day_bounds_ms
from climatrak.reports.records import ReportItem
from climatrak.reports.tasks import run_task, summarize, tenants_to_report
from tests.integration.conftest import ApiClient
from tests.integration.telemetry_world import World

TZ = "America/Sao_Paulo"
POWER_KW = 60.0
STEP_MIN = 10


def last_weekday() -> date:
    """A recent working day (the peak window applies on weekdays that are not national
    holidays), inside ingest's accepted window."""
    day = datetime.now(ZoneInfo(TZ)).date() - timedelta(days=1)
    while day.weekday() >= 5 or day in aneel_holidays(day.year):
        day -= timedelta(days=1)
    return day


@pytest.fixture
def day(acme: tuple[World, str]) -> str:
    return acme[1]


@pytest.fixture
def acme(settings: Settings, api: ApiClient) -> Iterator[tuple[World, str]]:
    """Tenant acme: one chiller drawing a steady 60 kW all day (a reading every 10 minutes), its
    supply temperature too, and a tariff with a 18:00-21:00 peak; November's flag is amarela."""
    world = World.build(settings, "acme")
    world.add_device("dev-1")
    the_day = last_weekday()
    start_ms, _ = day_bounds_ms(the_day.isoformat(), TZ)
    records = [
        world.record(
            "dev-1",
            {
                "timestamp": (start_ms + m * 60_000) // 1000,
                "sensors": [
                    {"sensor_id": "power_kw", "value": POWER_KW, "unit": "kW", "type": "power_kw"},
                    {"sensor_id": "temp_supply", "value": 7.0 + (m % 60) / 100, "unit": "celsius"},
                ],
            },
        )
        for m in range(0, 24 * 60, STEP_MIN)
    ]
    for start in range(0, len(records), 100):
        assert not world.ingest(records[start : start + 100]).failed_message_ids
    tariff = {
        "name": "CEMIG B3",
        "distributor": "CEMIG",
        "tariff_class": "B3",
        "rate_off_peak": "0.80",
        "rate_peak": "2.00",
        "peak_start": "18:00",
        "peak_end": "21:00",
        "flag_amarela": "0.02",
        "effective_from": "2020-01-01",
    }
    assert api.post("/api/trakledger/energy-tariffs/", tariff).status == 201
    flags = {"tariff_flags": {the_day.isoformat()[:7]: "amarela"}}
    assert api.request("PUT", "/api/trakledger/energy-settings/", body=flags).status == 200
    yield world, the_day.isoformat()


def report_object(settings: Settings, key: str) -> bytes:
    return boto3.client("s3").get_object(Bucket=settings.reports_bucket, Key=key)["Body"].read()


def energy_postings(settings: Settings, day: str) -> list[Any]:
    listing = list_transactions(PostingRepository("acme", settings), {"transaction_type": "energy"})
    return [item for _, item in listing.fetch(None, False, 100)]


def revisions(settings: Settings) -> list[Any]:
    listing = list_transactions(PostingRepository("acme", settings), {"transaction_type": "adjustment"})
    return [item for _, item in listing.fetch(None, False, 100)]


def test_the_daily_report_compacts_aggregates_and_posts_the_energy_once(settings: Settings, day: str) -> None:
    s3 = boto3.client("s3")
    result = run_daily(settings, s3, "acme", day)

    # 143 intervals of 10 minutes at 60 kW; 3 hours of them in the weekday peak window
    kwh_total, kwh_peak = Decimal(POWER_KW) * Decimal(143) / 6, Decimal(POWER_KW) * 3
    expected = kwh_peak * Decimal("2.00") + (kwh_total - kwh_peak) * Decimal("0.80") + kwh_total * Decimal("0.02")
    assert result["status"] == "completed"
    assert Decimal(result["headline"]["kwh"]) == kwh_total
    assert Decimal(result["headline"]["energy_cost"]) == expected.quantize(Decimal("0.01"))
    (posting,) = energy_postings(settings, day)
    assert posting.idempotency_key.startswith("energy:") and posting.idempotency_key.endswith(f":{day}")
    assert Decimal(str(posting.amount)) == expected.quantize(Decimal("0.01"))

    compacted = s3.get_object(
        Bucket=settings.lake_bucket, Key=f"telemetry/daily/tenant=acme/dt={day}/part-0000.parquet"
    )
    table = pq.read_table(io.BytesIO(compacted["Body"].read()))
    assert table.num_rows == 2 * 144
    aggregates = s3.get_object(
        Bucket=settings.lake_bucket, Key=f"aggregates/sensor_daily/tenant=acme/dt={day}/part-0000.parquet"
    )
    rows = {row["sensor_id"]: row for row in pq.read_table(io.BytesIO(aggregates["Body"].read())).to_pylist()}
    assert rows["power_kw"]["count"] == 144 and rows["power_kw"]["avg"] == POWER_KW
    assert rows["temp_supply"]["coverage"] == pytest.approx(144 / 1440)

    record = ReportItem.get("T#acme", f"REPORT#daily#{day}")
    html = report_object(settings, record.html_key).decode()
    assert "<svg" in html and "CH-1" in html

    exported = s3.get_object(
        Bucket=settings.lake_bucket, Key=f"ledger/transactions/tenant=acme/month={day[:7]}/part-0000.parquet"
    )
    (ledger_row,) = pq.read_table(io.BytesIO(exported["Body"].read())).to_pylist()
    assert (ledger_row["transaction_type"], ledger_row["amount"]) == ("energy", expected.quantize(Decimal("0.01")))


def test_a_holiday_of_the_tenant_has_no_peak_window(settings: Settings, api: ApiClient, day: str) -> None:
    body = {"extra_holidays": [day]}
    assert api.request("PUT", "/api/trakledger/energy-settings/", body=body).status == 200

    result = run_daily(settings, boto3.client("s3"), "acme", day)

    kwh_total = Decimal(POWER_KW) * Decimal(143) / 6
    expected = kwh_total * (Decimal("0.80") + Decimal("0.02"))  # every kWh off-peak, plus the flag
    assert Decimal(result["headline"]["energy_cost"]) == expected.quantize(Decimal("0.01"))
    (posting,) = energy_postings(settings, day)
    assert Decimal(posting.meta_dict()["kwh_peak"]) == 0


def test_a_rerun_is_a_new_generation_of_the_same_report_and_posts_nothing_new(settings: Settings, day: str) -> None:
    s3 = boto3.client("s3")
    first = run_daily(settings, s3, "acme", day)
    json_key = ReportItem.get("T#acme", f"REPORT#daily#{day}").json_key
    before = report_object(settings, json_key)

    second = run_daily(settings, s3, "acme", day)

    assert second["report_id"] == first["report_id"] and second["headline"] == first["headline"]
    record = ReportItem.get("T#acme", f"REPORT#daily#{day}")
    assert int(record.run_count) == 2
    assert len(energy_postings(settings, day)) == 1
    after = json.loads(report_object(settings, json_key))
    assert after.pop("generated_at") > json.loads(before).pop("generated_at")
    assert after == {k: v for k, v in json.loads(before).items() if k != "generated_at"}  # the same report
    generated = [item for item in OutboxItem.query(outbox_pk("acme")) if item.event_name == "report.generated"]
    assert len(generated) == 2


def test_a_rerun_after_late_readings_posts_the_difference_as_a_revision(
    settings: Settings, acme: tuple[World, str]
) -> None:
    world, day = acme
    s3 = boto3.client("s3")
    first = run_daily(settings, s3, "acme", day)
    start_ms, _ = day_bounds_ms(day, TZ)
    late = {"sensor_id": "power_kw", "value": POWER_KW, "unit": "kW", "type": "power_kw"}
    at = (start_ms + (24 * 60 - 5) * 60_000) // 1000  # 23:55: five more minutes at 60 kW, off-peak
    assert not world.ingest([world.record("dev-1", {"timestamp": at, "sensors": [late]})]).failed_message_ids

    second = run_daily(settings, s3, "acme", day)

    delta = Decimal(POWER_KW) * 5 / 60 * (Decimal("0.80") + Decimal("0.02"))
    cost = Decimal(second["headline"]["energy_cost"])
    assert cost == Decimal(first["headline"]["energy_cost"]) + delta.quantize(Decimal("0.01"))
    (posting,) = energy_postings(settings, day)
    (revision,) = revisions(settings)
    assert revision.category == "energy" and revision.idempotency_key == f"{posting.idempotency_key}:rev:1"
    assert Decimal(str(posting.amount)) + Decimal(str(revision.amount)) == cost
    run_daily(settings, s3, "acme", day)  # nothing new arrived: nothing new posted
    assert len(revisions(settings)) == 1


def test_the_task_function_lists_tenants_with_yesterday_and_summarises_failures(settings: Settings, day: str) -> None:
    now = datetime(2026, 11, 25, 4, 0, tzinfo=ZoneInfo("UTC"))  # 01:00 in Sao Paulo
    listed = tenants_to_report(settings, {"timezone": TZ}, now=now)
    assert listed == {"tenants": [{"tenant": "acme", "date": "2026-11-24"}]}
    assert run_task(settings, None, {"task": "list_tenants", "tenant": "acme", "date": day})["tenants"] == [
        {"tenant": "acme", "date": day}
    ]

    outcome = summarize([{"tenant": "acme", "status": "completed"}, {"tenant": "beta", "status": "failed"}])
    assert outcome == {"completed": 1, "failed": ["beta"]}


def test_the_days_work_orders_and_alerts_land_in_the_lake_for_analysts(
    settings: Settings, day: str, api: ApiClient
) -> None:
    asset = api.get("/api/assets/").json["results"][0]["id"]
    work_order = api.post("/api/cmms/work-orders/", {"asset": asset, "type": "CORRECTIVE", "description": "Noise"})
    assert work_order.status == 201
    repo = AlertRepository("acme", settings)
    start_ms, end_ms = day_bounds_ms(day, TZ)
    for alert_id, triggered in ((1, start_ms + 3_600_000), (2, end_ms + 60_000)):  # the second: the next day
        at = iso_ms(triggered)
        alert = AlertItem(
            id=alert_id,
            asset_tag="CH-1",
            severity="High",
            parameter_key="temp_supply",
            parameter_value=12.0,
            threshold=10.0,
            message="warm",
            triggered_at=at,
            created_at=at,
            updated_at=at,
        )
        repo.raise_alert(alert, raised_event("acme", alert))
    s3 = boto3.client("s3")

    run_daily(settings, s3, "acme", day)

    def rows(prefix: str) -> list[dict[str, Any]]:
        body = s3.get_object(Bucket=settings.lake_bucket, Key=f"{prefix}/tenant=acme/dt={day}/part-0000.parquet")[
            "Body"
        ]
        return pq.read_table(io.BytesIO(body.read())).to_pylist()

    assert [(row["id"], row["type"], row["status"]) for row in rows("cmms/work_orders")] == [
        (work_order.json["id"], "CORRECTIVE", "OPEN")
    ]
    assert [(row["id"], row["severity"]) for row in rows("alerts/alerts")] == [(1, "High")]
