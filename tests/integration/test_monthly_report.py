"""The monthly report on moto: budget by cost centre and category, the run-rate forecast and the
envelopes at risk, energy against the previous month, the savings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3

from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.postings import post
from climatrak.ledger.transaction_models import NewPosting
from climatrak.reports.energy_dataset import write_energy
from climatrak.reports.monthly import run_monthly
from climatrak.reports.records import ReportItem
from tests.integration.ledger_world import YEAR, LedgerWorld, ledger

__all__ = ["ledger"]  # the fixture


def posting(cost_center: str, amount: str, month: str, category: str = "corrective") -> NewPosting:
    return NewPosting(
        transaction_type="third_party",
        category=category,
        amount=Decimal(amount),
        occurred_at=f"{month}-15T15:00:00.000Z",
        cost_center_id=cost_center,
        idempotency_key=f"test:{cost_center}:{month}:{amount}",
    )


def energy_row(day: str, kwh: float, cost: str) -> dict[str, Any]:  # as the daily report writes it
    return {
        "dt": day,
        "asset_tag": "CH-1",
        "asset_id": 1,
        "kwh_total": kwh,
        "kwh_peak": 0.0,
        "kwh_off_peak": kwh,
        "kwh_intermediate": 0.0,
        "cost": Decimal(cost),
        "tariff": "B3",
        "flag": "verde",
    }


def test_the_monthly_report_forecasts_the_year_and_flags_the_envelopes_at_risk(ledger: LedgerWorld) -> None:
    settings = ledger.settings
    plant = ledger.cost_center("CP")["id"]
    office = ledger.cost_center("ADM")["id"]
    plan = ledger.plan()["id"]
    ledger.envelope(plan, plant, "corrective", monthly="1000")  # 12,000 planned for the year
    ledger.envelope(plan, office, "corrective", monthly="1000")
    repo = PostingRepository("acme", settings)
    for month in (f"{YEAR}-01", f"{YEAR}-02", f"{YEAR}-03"):
        post(repo, [posting(plant, "1500", month), posting(office, "500", month)], automatic=True)
    s3 = boto3.client("s3")
    write_energy(s3, settings.lake_bucket, "acme", f"{YEAR}-02-10", [energy_row(f"{YEAR}-02-10", 400.0, "320.00")])
    write_energy(s3, settings.lake_bucket, "acme", f"{YEAR}-03-10", [energy_row(f"{YEAR}-03-10", 500.0, "400.00")])

    result = run_monthly(settings, s3, "acme", f"{YEAR}-03")

    headline = result["headline"]
    assert (headline["planned"], headline["actual"], headline["percent_used"]) == ("2000.00", "2000.00", "100.00")
    assert (headline["year_end_forecast"], headline["envelopes_at_risk"]) == ("24000.00", 1)
    assert headline["kwh"] == "500.000"
    record = ReportItem.get("T#acme", f"REPORT#monthly#{YEAR}-03")
    body = s3.get_object(Bucket=settings.reports_bucket, Key=record.json_key)["Body"].read().decode()
    assert '"kwh_change_percent":"25.00"' in body.replace(" ", "")
    assert f'"cost_center_id":"{plant}"' in body.replace(" ", "") and '"projected_overrun":"6000.00"' in body.replace(
        " ", ""
    )
