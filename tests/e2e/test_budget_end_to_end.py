"""Issue 3 end to end on the local runtime: a budget exists, a work order is closed, and the
month's summary shows its cost — through the outbox, the stream relay, the event bus, the
cost engine's queue and the ledger, with nothing called by hand."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from climatrak.core.timeutil import zone
from climatrak.registry.logic import create_tenant
from climatrak_local.api_client import ApiClient
from climatrak_local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e

TIMEZONE = "America/Sao_Paulo"


def _eventually(read: Any, accept: Any, timeout: float = 20.0) -> Any:
    """Polls `read()` until `accept(value)`; returns the last value either way."""
    deadline = time.monotonic() + timeout
    value = read()
    while not accept(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def test_closing_a_work_order_shows_its_cost_in_the_month_summary(local_runtime: LocalRuntime, unique: str) -> None:
    tenant = f"fin{unique}"
    create_tenant(local_runtime.settings, tenant, "Finance e2e", TIMEZONE)
    api = ApiClient(local_runtime.api_url, local_runtime.issue_token(tenant, "owner", user_id=7))
    month = datetime.now(zone(TIMEZONE)).strftime("%Y-%m-01")
    year = int(month[:4])

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
        {"role": "technician", "cost_per_hour": "80.00", "effective_from": f"{year}-01-01"},
    )
    plan = api.expect(
        201,
        "POST",
        "/api/trakledger/budget-plans/",
        {
            "name": "Budget",
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
            "cost_center": center["id"],
            "amount": 0,
            "currency": "BRL",
            "description": "",
        },
    )
    months = [
        {"month": f"{year}-{number:02d}-01", "planned_amount": 1000, "contingency_amount": 0} for number in range(1, 13)
    ]
    api.expect(200, "PATCH", f"/api/trakledger/budget-envelopes/{envelope['id']}/", {"months": months})

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

    def summary() -> dict[str, Any]:
        result: dict[str, Any] = api.expect(200, "GET", f"/api/trakledger/budget-summary/?month={month}")
        return result

    expected = Decimal("2") * Decimal("80.00") + Decimal("2") * Decimal("60.25")  # labour + parts
    seen = _eventually(summary, lambda body: Decimal(str(body["actual"])) == expected)
    assert Decimal(str(seen["actual"])) == expected
    assert Decimal(str(seen["planned"])) == Decimal("1000")
    corrective = next(row for row in seen["by_category"] if row["category"] == "corrective")
    assert Decimal(str(corrective["actual"])) == expected

    postings = api.expect(200, "GET", f"/api/trakledger/transactions/?work_order={order['id']}&page_size=100")
    assert sorted(row["idempotency_key"] for row in postings["results"]) == [
        f"wo:{order['id']}:labor",
        f"wo:{order['id']}:parts",
    ]
    assert {row["cost_center_id"] for row in postings["results"]} == {center["id"]}
