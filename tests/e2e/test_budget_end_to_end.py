"""Issue 3 end to end on the local runtime: a budget exists, a work order is closed, and the
summary of the month of its postings shows its cost against that month's budget — through the outbox, the
stream relay, the event bus, the cost engine's queue and the ledger, with nothing called by hand."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from climatrak.core.timeutil import month_of, zone
from climatrak.registry.logic import create_tenant
from climatrak_local.api_client import ApiClient
from climatrak_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e

TIMEZONE = "America/Sao_Paulo"


def create_corrective_budget(api: ApiClient, cost_center: str, year: int) -> None:
    plan = api.expect(
        201,
        "POST",
        "/api/trakledger/budget-plans/",
        {
            "name": f"Budget {year}",
            "code": f"BUDGET-{year}-000001",
            "year": year,
            "start_date": f"{year}-01-01",
            "end_date": f"{year}-12-31",
            "currency": "BRL",
            "status": "draft",
            "description": "",
        },
    )
    envelope = api.expect(
        201,
        "POST",
        "/api/trakledger/budget-envelopes/",
        {
            "budget_plan": plan["id"],
            "name": "Corrective",
            "category": "corrective",
            "cost_center": cost_center,
            "amount": 0,
            "currency": "BRL",
            "description": "",
        },
    )
    months = [
        {"month": f"{year}-{number:02d}-01", "planned_amount": 1000, "contingency_amount": 0} for number in range(1, 13)
    ]
    api.expect(200, "PATCH", f"/api/trakledger/budget-envelopes/{envelope['id']}/", {"months": months})


def test_closing_a_work_order_shows_its_cost_in_the_month_summary(local_runtime: LocalRuntime, unique: str) -> None:
    tenant = f"fin{unique}"
    create_tenant(local_runtime.settings, tenant, "Finance e2e", TIMEZONE)
    api = ApiClient(local_runtime.api_url, local_runtime.issue_token(tenant, "owner", user_id=7))

    site = api.expect(201, "POST", "/api/sites/", {"name": "Plant"})
    asset = api.expect(
        201, "POST", "/api/assets/", {"tag": "CH-1", "name": "Chiller", "site": site["id"], "asset_type": "CHILLER"}
    )
    center = api.expect(
        201, "POST", "/api/trakledger/cost-centers/", {"name": "Plant", "code": "CP", "parent_id": None}
    )
    api.expect(200, "PATCH", f"/api/assets/{asset['id']}/", {"cost_center": center["id"]})
    api.expect(
        201,
        "POST",
        "/api/trakledger/rate-cards/",
        {"role": "technician", "cost_per_hour": "80.00", "effective_from": "2020-01-01"},
    )

    # the budget first: 1000 a month for corrective work on the cost centre, for this year and
    # the next (the completion below may land after a year boundary in the tenant's zone)
    this_year = datetime.now(zone(TIMEZONE)).year
    for year in (this_year, this_year + 1):
        create_corrective_budget(api, center["id"], year)

    order = api.expect(
        201,
        "POST",
        "/api/cmms/work-orders/",
        {"asset": asset["id"], "type": "CORRECTIVE", "priority": "HIGH", "description": "Noise", "assigned_to": 7},
    )
    api.expect(
        201,
        "POST",
        "/api/cmms/part-usages/",
        {"work_order": order["id"], "part_name": "Bearing", "quantity": "2", "unit": "UN", "unit_cost": "60.25"},
    )
    api.expect(200, "POST", f"/api/cmms/work-orders/{order['id']}/complete/", {"actual_hours": "2"})
    local_runtime.wait_until_idle()

    postings = api.expect(200, "GET", f"/api/trakledger/transactions/?work_order={order['id']}&page_size=100")
    assert sorted(row["idempotency_key"] for row in postings["results"]) == [
        f"wo:{order['id']}:labor",
        f"wo:{order['id']}:parts",
    ]
    assert {row["cost_center_id"] for row in postings["results"]} == {center["id"]}
    # the business month of the postings (the work order's completion) in the tenant's zone,
    # not the wall clock's: the test cannot straddle a month boundary
    (month,) = {month_of(row["occurred_at"], TIMEZONE) for row in postings["results"]}

    summary = api.expect(200, "GET", f"/api/trakledger/budget-summary/?month={month}-01")
    expected = Decimal("2") * Decimal("80.00") + Decimal("2") * Decimal("60.25")  # labour + parts
    assert Decimal(str(summary["actual"])) == expected
    assert Decimal(str(summary["planned"])) == Decimal("1000")
    corrective = next(row for row in summary["by_category"] if row["category"] == "corrective")
    assert Decimal(str(corrective["actual"])) == expected
