"""Across modules, through the public APIs and the events backbone: completing a work order in
CMMS ends as postings in the ledger, once; a missing rate card is a failed event an operator
sees, fixes and retries."""

from __future__ import annotations

from typing import Any

import pytest

from climatrak.core.resources import COST_ENGINE
from climatrak.core.timeutil import month_of
from tests.integration.cmms_world import CmmsWorld
from tests.integration.event_pump import pump_events

TRANSACTIONS = "/api/trakledger/transactions/"


@pytest.fixture
def world(api: Any, settings: Any) -> CmmsWorld:
    return CmmsWorld.build(api, settings)


def costs_of(world: CmmsWorld, work_order_id: int) -> dict[str, str]:
    status, body = world.api.get(TRANSACTIONS, query={"work_order": work_order_id})
    assert status == 200, body
    return {row["transaction_type"]: row["amount"] for row in body["results"]}


def test_completing_a_work_order_posts_its_costs_once(world: CmmsWorld, settings) -> None:
    work_order = world.work_order()
    for kind in ("time", "part", "external"):
        world.add_input(kind, work_order["id"])

    assert world.action(work_order["id"], "complete", {}).status == 200
    result = pump_events(settings)

    assert result.delivered["cost_engine"] == 1 and not result.failed
    assert costs_of(world, work_order["id"]) == {"labor": "200.00", "parts": "25.00", "third_party": "300.00"}
    rows = world.api.get(TRANSACTIONS, query={"work_order": work_order["id"]}).json["results"]
    assert {row["work_order_number"] for row in rows} == {work_order["number"]}
    assert {row["asset_tag"] for row in rows} == {"CH-001"}
    month = month_of(rows[0]["occurred_at"], "America/Sao_Paulo")  # the world tenant's business month
    summary = world.api.get("/api/trakledger/budget-summary/", query={"month": f"{month}-01"}).json
    assert summary["actual"] == 525

    again = world.action(work_order["id"], "post-costs")
    assert again.status == 200 and again.json["transactions_created"] == 0 and again.json["skipped"] == 3
    assert len(world.api.get(TRANSACTIONS).json["results"]) == 3


def test_a_missing_rate_card_fails_the_event_visibly_until_fixed_and_retried(world: CmmsWorld, settings) -> None:
    work_order = world.work_order()
    world.add_input("time", work_order["id"], role="Soldador", hourly_rate=None, hours="2")
    world.action(work_order["id"], "complete", {})

    result = pump_events(settings, expect_errors=True)

    # every receive failed, until the queue's maxReceiveCount sent the message to its DLQ
    assert result.failed["cost_engine"] == COST_ENGINE.queue.max_receive_count
    assert not result.delivered["cost_engine"]
    assert {(error.consumer, error.type, error.expected) for error in result.errors} == {
        ("cost_engine", "MissingRateCard", True)
    }
    assert costs_of(world, work_order["id"]) == {}
    failed = world.api.get("/api/events/failed/").json["results"]
    [event] = [row for row in failed if row["event_name"] == "work_order.closed"]
    error = event["consumer_errors"]["cost_engine"]["error"]
    assert "Soldador" in error and "rate card" in error

    created = world.api.post(
        "/api/trakledger/rate-cards/", {"role": "Soldador", "cost_per_hour": "95.00", "effective_from": "2020-01-01"}
    )
    assert created.status == 201, created
    assert world.api.post(f"/api/events/{event['event_id']}/retry/").status == 200
    retried = pump_events(settings)

    assert retried.delivered["cost_engine"] == 1 and not retried.failed

    assert costs_of(world, work_order["id"]) == {"labor": "190.00"}
    assert world.api.get(f"/api/events/{event['event_id']}/").json["consumer_errors"] == {}
