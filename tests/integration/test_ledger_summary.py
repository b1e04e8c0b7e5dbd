"""The budget summary (API.md §5.7), the year view and top costs: read from the projection only.

Actual costs are moved here the way the posting service moves them (ProjectionDeltas in the
posting's transaction); the summary's arithmetic is what these tests prove.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pynamodb.connection.base import Connection
from pynamodb.transactions import TransactWrite

from climatrak.core.items import transaction_connection
from climatrak.ledger.projection import ProjectionDeltas
from tests.integration.ledger_world import YEAR, LedgerWorld, ledger_fixture  # noqa: F401

SUMMARY = "/api/trakledger/budget-summary/"
MARCH = f"{YEAR}-03-01"


def post_actual(
    ledger: LedgerWorld, month: str, center: str, category: str, amount: str, asset: int | None = None
) -> None:
    """Move `actual` as a posting does."""
    deltas = ProjectionDeltas(ledger.tenant).add(month, center, category, actual=Decimal(amount))
    if asset is not None:
        deltas.add_asset(month, asset, Decimal(amount))
    with TransactWrite(connection=transaction_connection()) as transaction:
        deltas.write(transaction)


@pytest.fixture
def budget(ledger: LedgerWorld) -> dict[str, str]:
    """Plant (with child Boilers) and Offices; a March budget, commitments, costs and savings."""
    plant = ledger.cost_center("PLANT", "Central plant")
    boilers = ledger.cost_center("PLANT-B", "Boilers", parent=plant["id"])
    offices = ledger.cost_center("OFF", "Offices")
    plan = ledger.plan()["id"]
    ledger.envelope(plan, plant["id"], "preventive", months={MARCH: "1000.00"})
    ledger.envelope(plan, boilers["id"], "corrective", months={MARCH: "500.00"})
    ledger.envelope(plan, offices["id"], "preventive", months={MARCH: "300.00"})
    ledger.act(ledger.commitment(plant["id"], "200.00", month=MARCH)["id"], "approve")
    ledger.commitment(boilers["id"], "50.00", month=MARCH)  # pending, contracts
    post_actual(ledger, MARCH, plant["id"], "preventive", "333.33")
    post_actual(ledger, MARCH, boilers["id"], "corrective", "100.01")
    post_actual(ledger, MARCH, offices["id"], "parts", "10.00")
    savings = {
        "event_type": "avoided_failure",
        "occurred_at": f"{YEAR}-03-10T10:00",
        "savings_amount": "75.50",
        "confidence": "high",
        "cost_center_id": boilers["id"],
    }
    ledger.ok(ledger.api.post("/api/trakledger/savings-events/", savings), 201)
    return {"plant": plant["id"], "boilers": boilers["id"], "offices": offices["id"]}


def test_the_month_summary_has_the_contract_fields(ledger: LedgerWorld, budget: dict[str, str]) -> None:
    summary = ledger.summary(MARCH)
    assert summary["month"] == MARCH and summary["cost_center_id"] is None and summary["cost_center_name"] is None
    assert summary["planned"] == 1800
    assert (summary["committed"], summary["committed_approved"], summary["committed_pending"]) == (250, 200, 50)
    assert summary["actual"] == 443.34 and summary["savings"] == 75.5
    assert summary["variance"] == 1356.66 and summary["variance_percent"] == 75.37
    assert summary["by_category"] == [
        {
            "category": "preventive",
            "category_display": "Manutenção Preventiva",
            "planned": 1300,
            "committed": 0,
            "committed_approved": 0,
            "committed_pending": 0,
            "actual": 333.33,
            "savings": 0,
            "variance": 966.67,
        },
        {
            "category": "corrective",
            "category_display": "Manutenção Corretiva",
            "planned": 500,
            "committed": 0,
            "committed_approved": 0,
            "committed_pending": 0,
            "actual": 100.01,
            "savings": 75.5,
            "variance": 399.99,
        },
        {
            "category": "contracts",
            "category_display": "Contratos",
            "planned": 0,
            "committed": 250,
            "committed_approved": 200,
            "committed_pending": 50,
            "actual": 0,
            "savings": 0,
            "variance": 0,
        },
        {
            "category": "parts",
            "category_display": "Peças e Materiais",
            "planned": 0,
            "committed": 0,
            "committed_approved": 0,
            "committed_pending": 0,
            "actual": 10,
            "savings": 0,
            "variance": -10,
        },
    ]


def test_a_cost_center_summary_includes_its_descendants(ledger: LedgerWorld, budget: dict[str, str]) -> None:
    plant = ledger.summary(MARCH, cost_center=budget["plant"])
    assert plant["cost_center_id"] == budget["plant"] and plant["cost_center_name"] == "Central plant"
    assert (plant["planned"], plant["committed"], plant["actual"]) == (1500, 250, 433.34)
    boilers = ledger.summary(MARCH, cost_center=budget["boilers"])
    assert (boilers["planned"], boilers["committed"], boilers["actual"], boilers["savings"]) == (500, 50, 100.01, 75.5)
    offices = ledger.summary(MARCH, cost_center=budget["offices"])
    assert (offices["planned"], offices["actual"], offices["variance_percent"]) == (300, 10, 96.67)


def test_the_month_parameter(ledger: LedgerWorld, budget: dict[str, str]) -> None:
    assert ledger.summary(f"{YEAR}-03-15")["month"] == MARCH  # normalised to day 1
    assert ledger.summary(f"{YEAR}-03")["planned"] == 1800
    for query in ({}, {"month": "March"}, {"month": f"{YEAR}-13-01"}):
        status, body = ledger.api.get(SUMMARY, query=query)
        assert status == 400 and body["error"], query
    empty = ledger.summary(f"{YEAR}-07-01")
    assert (empty["planned"], empty["actual"], empty["variance_percent"], empty["by_category"]) == (0, 0, 0, [])


def test_an_unknown_cost_center_is_404(ledger: LedgerWorld, budget: dict[str, str]) -> None:
    status, _ = ledger.api.get(SUMMARY, query={"month": MARCH, "cost_center": ledger.plan(code="X")["id"]})
    assert status == 404


def test_the_summary_is_one_query_of_the_projection(
    ledger: LedgerWorld, budget: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []
    for operation in ("query", "get_item", "scan", "batch_get_item"):
        original = getattr(Connection, operation)

        def recorded(
            self: Connection, *args: Any, _name: str = operation, _original: Any = original, **kwargs: Any
        ) -> Any:
            calls.append((_name, args[1] if len(args) > 1 else kwargs.get("hash_key")))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Connection, operation, recorded)
    ledger.summary(MARCH)
    assert calls == [("query", f"T#acme#SUMMARY#{YEAR}-03")]


def test_the_year_summary(ledger: LedgerWorld, budget: dict[str, str]) -> None:
    post_actual(ledger, f"{YEAR}-11-01", budget["offices"], "energy", "40.00")
    year = ledger.ok(ledger.api.get(f"{SUMMARY}year/", query={"year": str(YEAR)}))
    assert year["year"] == YEAR and len(year["by_month"]) == 12
    assert (year["planned"], year["committed"], year["actual"], year["savings"]) == (1800, 250, 483.34, 75.5)
    march, november = year["by_month"][2], year["by_month"][10]
    assert march == {
        "month": MARCH,
        "month_name": f"March/{YEAR}",
        "planned": 1800,
        "committed": 250,
        "actual": 443.34,
        "savings": 75.5,
        "variance": 1356.66,
    }
    assert november["actual"] == 40 and november["variance"] == -40
    plant = ledger.ok(ledger.api.get(f"{SUMMARY}year/", query={"year": str(YEAR), "cost_center": budget["plant"]}))
    assert plant["actual"] == 433.34
    assert ledger.api.get(f"{SUMMARY}year/").status == 400


def test_top_costs_by_asset_and_by_category(ledger: LedgerWorld, budget: dict[str, str]) -> None:
    site = ledger.ok(ledger.api.post("/api/sites/", {"name": "Hospital"}), 201)["id"]
    assets = [
        ledger.ok(ledger.api.post("/api/assets/", {"tag": tag, "name": tag, "site": site, "asset_type": "AHU"}), 201)[
            "id"
        ]
        for tag in ("AHU-1", "AHU-2", "AHU-3")
    ]
    post_actual(ledger, f"{YEAR}-02-01", budget["plant"], "corrective", "70.00", asset=assets[0])
    post_actual(ledger, MARCH, budget["plant"], "corrective", "50.00", asset=assets[0])
    post_actual(ledger, MARCH, budget["plant"], "preventive", "100.00", asset=assets[1])
    post_actual(ledger, f"{YEAR}-04-01", budget["plant"], "preventive", "999.00", asset=assets[2])  # outside

    query = {"by": "asset", "start": f"{YEAR}-02-01", "end": MARCH, "limit": "5"}
    top = ledger.ok(ledger.api.get("/api/trakledger/top-costs/", query=query))
    assert top["by"] == "asset" and top["start"] == f"{YEAR}-02-01" and top["end"] == MARCH
    assert [(row["asset_tag"], row["asset_name"], row["actual"]) for row in top["results"]] == [
        ("AHU-1", "AHU-1", 120),
        ("AHU-2", "AHU-2", 100),
    ]
    assert top["results"][0]["asset_id"] == assets[0]

    by_category = ledger.ok(
        ledger.api.get("/api/trakledger/top-costs/", query={**query, "by": "category", "limit": "2"})
    )
    assert [(row["category"], row["actual"]) for row in by_category["results"]] == [
        ("preventive", 433.33),
        ("corrective", 220.01),
    ]
    for bad in ({"by": "vendor"}, {"end": f"{YEAR - 5}-01-01"}, {"limit": "0"}, {"start": ""}):
        assert ledger.api.get("/api/trakledger/top-costs/", query={**query, **bad}).status == 400, bad
