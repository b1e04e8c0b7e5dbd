"""Savings events (API.md §5.6): the frontend's body and vocabularies in, only the frontend's
vocabularies out; each event moves the summary's savings and emits `savings.event_posted`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.ledger_world import YEAR, LedgerWorld, ledger_fixture  # noqa: F401

SAVINGS = "/api/trakledger/savings-events/"


@pytest.fixture
def center(ledger: LedgerWorld) -> str:
    return str(ledger.cost_center("CP", "Central plant")["id"])


def fe_body(center: str, **extra: Any) -> dict[str, Any]:
    """What the frontend's savings form posts."""
    return {
        "event_type": "energy_saving",
        "occurred_at": f"{YEAR}-03-31T22:30",
        "savings_amount": 1500.5,
        "currency": "BRL",
        "confidence": "med",
        "cost_center_id": center,
        "baseline_ref": {"kwh_before": 1200},
        "explanation": "VFD on the chilled-water pump",
        "evidence_links": {"report": "https://example.com/report.pdf"},
        **extra,
    }


def test_the_frontend_body_is_accepted_and_read_back(ledger: LedgerWorld, center: str) -> None:
    site = ledger.ok(ledger.api.post("/api/sites/", {"name": "Hospital"}), 201)
    asset = ledger.ok(
        ledger.api.post(
            "/api/assets/", {"tag": "CH-001", "name": "Chiller 1", "site": site["id"], "asset_type": "CHILLER"}
        ),
        201,
    )
    status, event = ledger.api.post(SAVINGS, fe_body(center, asset_id=asset["id"], work_order_id=12, alert_id=3))
    assert status == 201
    # a naive datetime is tenant local time (America/Sao_Paulo, UTC-3)
    assert event["occurred_at"] == f"{YEAR}-04-01T01:30:00.000Z"
    assert event["event_type"] == "energy_saving" and event["confidence"] == "med"
    assert event["savings_amount"] == "1500.50" and event["currency"] == "BRL"
    assert event["cost_center_id"] == center and event["cost_center_name"] == "Central plant"
    assert event["asset_id"] == asset["id"] and event["asset_name"] == "Chiller 1"
    assert event["work_order_id"] == 12 and event["alert_id"] == 3
    assert event["explanation"] == event["description"] == "VFD on the chilled-water pump"
    assert event["evidence_links"] == {"report": "https://example.com/report.pdf"}
    assert event["evidence"] == {"links": {"report": "https://example.com/report.pdf"}}
    assert event["baseline_ref"] == {"kwh_before": 1200} and event["category"] == "energy"
    assert ledger.ok(ledger.api.get(f"{SAVINGS}{event['id']}/")) == event


def test_savings_count_in_the_tenant_month_and_emit_one_event(ledger: LedgerWorld, center: str) -> None:
    event = ledger.ok(ledger.api.post(SAVINGS, fe_body(center)), 201)
    # 22:30 on 31 March in São Paulo is already April in UTC: the business month is March.
    assert ledger.totals(f"{YEAR}-03")["savings"] == Decimal("1500.50")
    assert ledger.totals(f"{YEAR}-04")["savings"] == 0
    summary = ledger.summary(f"{YEAR}-03-01")
    assert summary["savings"] == 1500.5 and summary["actual"] == 0

    [posted] = ledger.events("savings.event_posted")
    assert posted["idempotency_key"] == f"savings.event_posted:{event['id']}"
    assert posted["aggregate"] == {"type": "savings_event", "id": event["id"]}
    data = posted["data"]
    assert data["savings_amount"] == "1500.50" and data["month"] == f"{YEAR}-03"
    assert data["cost_center_id"] == center and data["category"] == "energy" and data["event_type"] == "energy_saving"


def test_django_vocabularies_map_onto_the_frontend_ones(ledger: LedgerWorld, center: str) -> None:
    cases = [("energy_savings", "energy_saving"), ("optimized_maintenance", "other"), ("reduced_downtime", "other")]
    for sent, shown in cases:
        body = {**fe_body(center, event_type=sent, confidence="medium"), "description": "x"}
        event = ledger.ok(ledger.api.post(SAVINGS, body), 201)
        assert (event["event_type"], event["confidence"]) == (shown, "med")
        assert event["event_type_display"] and event["confidence_display"] == "Média"
    types = {row["event_type"] for row in ledger.ok(ledger.api.get(SAVINGS))["results"]}
    assert types <= {"avoided_failure", "energy_saving", "lifespan_extension", "other"}


def test_category_follows_the_event_type_unless_given(ledger: LedgerWorld, center: str) -> None:
    avoided = ledger.ok(ledger.api.post(SAVINGS, fe_body(center, event_type="avoided_failure")), 201)
    longer = ledger.ok(ledger.api.post(SAVINGS, fe_body(center, event_type="lifespan_extension")), 201)
    chosen = ledger.ok(ledger.api.post(SAVINGS, fe_body(center, category="contracts")), 201)
    assert (avoided["category"], longer["category"], chosen["category"]) == ("corrective", "preventive", "contracts")


def test_without_a_cost_center_the_tenant_default_gets_it(ledger: LedgerWorld) -> None:
    body = fe_body("")
    del body["cost_center_id"]
    event = ledger.ok(ledger.api.post(SAVINGS, body), 201)
    assert event["cost_center_id"] == ledger.default_cost_center and event["cost_center_name"] == "Geral"


def test_invalid_bodies_are_400_and_write_nothing(ledger: LedgerWorld, center: str) -> None:
    for body in (
        fe_body(center, event_type="magic"),
        fe_body(center, confidence="certain"),
        fe_body(center, savings_amount=0),
        fe_body(center, occurred_at="yesterday"),
        fe_body(center, occurred_at="9999-12-31T23:00"),  # past the last storable instant in UTC
        fe_body(ledger.plan()["id"]),
        fe_body(center, asset_id=999),
    ):
        assert ledger.api.post(SAVINGS, body).status == 400, body
    assert ledger.items("savings_event") == [] and ledger.events("savings.event_posted") == []
    assert ledger.totals(f"{YEAR}-03")["savings"] == 0


def test_list_filters_accept_the_frontend_names(ledger: LedgerWorld, center: str) -> None:
    other = ledger.cost_center("OT")["id"]
    march = ledger.ok(ledger.api.post(SAVINGS, fe_body(center)), 201)
    april = ledger.ok(
        ledger.api.post(
            SAVINGS, fe_body(other, occurred_at=f"{YEAR}-04-02T09:00", event_type="other", confidence="low")
        ),
        201,
    )

    def ids(**query: str) -> list[str]:
        return [row["id"] for row in ledger.ok(ledger.api.get(SAVINGS, query=query))["results"]]

    assert ids() == [april["id"], march["id"]]  # newest first
    # from/to are tenant-local days: 31 March 22:30 local is in March
    assert ids(**{"from": f"{YEAR}-03-01", "to": f"{YEAR}-03-31"}) == [march["id"]]
    assert ids(start_date=f"{YEAR}-04-01") == [april["id"]]
    assert ids(to="9999-12-31") == [april["id"], march["id"]]  # the calendar's last day bounds nothing
    assert ids(cost_center_id=other) == [april["id"]]
    assert ids(event_type="energy_savings") == [march["id"]]
    assert ids(confidence="medium") == [march["id"]] and ids(confidence="low") == [april["id"]]
    assert ledger.api.get(SAVINGS, query={"event_type": "nope"}).status == 400
