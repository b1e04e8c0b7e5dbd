"""Budget plans, envelopes and months (API.md §5.3). Planned amounts move the summary
projection in the same transaction as the envelope, by exactly new - old."""

from __future__ import annotations

from decimal import Decimal

from tests.integration.ledger_world import YEAR, LedgerWorld, ledger_fixture  # noqa: F401

PLANS = "/api/trakledger/budget-plans/"
ENVELOPES = "/api/trakledger/budget-envelopes/"


def planned(ledger: LedgerWorld, month: str) -> Decimal:
    return ledger.totals(month)["planned"]


def test_a_plan_as_the_frontend_creates_it(ledger: LedgerWorld) -> None:
    plan = ledger.plan()
    assert plan["code"] == f"BUDGET-{YEAR}-000001" and plan["year"] == YEAR
    assert plan["start_date"] == f"{YEAR}-01-01" and plan["end_date"] == f"{YEAR}-12-31"
    assert plan["status"] == "draft" and plan["status_display"] == "Rascunho"
    assert plan["total_planned"] == "0.00" and plan["envelopes_count"] == 0 and plan["created_by"] == 1


def test_plan_status_is_emitted_in_the_frontend_vocabulary(ledger: LedgerWorld) -> None:
    plan = ledger.plan(status="active")
    assert plan["status"] == "approved"
    closed = ledger.ok(ledger.api.patch(f"{PLANS}{plan['id']}/", {"status": "closed"}))
    assert closed["status"] == "locked"
    assert ledger.api.patch(f"{PLANS}{plan['id']}/", {"status": "cancelled"}).status == 400
    assert [row["status"] for row in ledger.ok(ledger.api.get(PLANS, query={"status": "closed"}))["results"]] == [
        "locked"
    ]


def test_plans_list_by_year_and_detail_includes_envelopes(ledger: LedgerWorld) -> None:
    center = ledger.cost_center("CP")
    this_year = ledger.plan()
    ledger.plan(year=YEAR + 1, code=f"BUDGET-{YEAR + 1}-000001")
    ledger.envelope(this_year["id"], center["id"], "preventive", monthly="1000.00")
    ledger.envelope(this_year["id"], center["id"], "corrective", months={f"{YEAR}-02-01": "250.50"})

    page = ledger.ok(ledger.api.get(PLANS, query={"year": str(YEAR)}))
    assert [row["id"] for row in page["results"]] == [this_year["id"]]
    row = page["results"][0]
    assert row["envelopes_count"] == 2 and row["total_planned"] == "12250.50"
    detail = ledger.ok(ledger.api.get(f"{PLANS}{this_year['id']}/"))
    assert sorted(envelope["category"] for envelope in detail["envelopes"]) == ["corrective", "preventive"]
    assert [row["year"] for row in ledger.ok(ledger.api.get(PLANS))["results"]] == [YEAR + 1, YEAR]


def test_envelopes_filter_by_budget_plan_id_as_the_frontend_sends_it(ledger: LedgerWorld) -> None:
    center = ledger.cost_center("CP")
    first = ledger.plan()
    second = ledger.plan(name="Second", code="BUDGET-2026-000002")
    mine = ledger.envelope(first["id"], center["id"])
    ledger.envelope(second["id"], center["id"])
    for name in ("budget_plan_id", "budget_plan"):
        rows = ledger.ok(ledger.api.get(ENVELOPES, query={name: first["id"]}))["results"]
        assert [row["id"] for row in rows] == [mine["id"]], name
    assert ledger.ok(ledger.api.get(ENVELOPES))["count"] == 2


def test_an_envelope_carries_its_months(ledger: LedgerWorld) -> None:
    center = ledger.cost_center("CP", "Central plant")
    plan = ledger.plan()
    envelope = ledger.envelope(plan["id"], center["id"], "preventive")
    assert envelope["budget_plan"] == plan["id"] and envelope["budget_plan_name"] == plan["name"]
    assert envelope["cost_center_name"] == "Central plant" and envelope["cost_center_code"] == "CP"
    assert envelope["category_display"] == "Manutenção Preventiva" and envelope["months"] == []

    envelope = ledger.set_months(envelope["id"], monthly="1000", months={f"{YEAR}-03-01": "1500.25"})
    assert len(envelope["months"]) == 12 and envelope["months_total"] == 12500.25
    march = envelope["months"][2]
    assert march["month"] == f"{YEAR}-03-01" and march["month_name"] == f"March/{YEAR}"
    assert march["planned_amount"] == "1500.25" and march["contingency_amount"] == "0.00"
    assert march["envelope"] == envelope["id"] and march["is_locked"] is False
    listed = ledger.ok(ledger.api.get(ENVELOPES, query={"budget_plan_id": plan["id"]}))["results"][0]
    assert listed["months"] == envelope["months"]


def test_patching_months_replaces_them_and_moves_planned_by_the_difference(ledger: LedgerWorld) -> None:
    center = ledger.cost_center("CP")
    envelope = ledger.envelope(ledger.plan()["id"], center["id"], monthly="1000.00")
    assert planned(ledger, f"{YEAR}-01") == Decimal("1000.00")
    ids = {month["month"]: month["id"] for month in envelope["months"]}

    envelope = ledger.set_months(envelope["id"], monthly="1000.00", months={f"{YEAR}-01-01": "400.10"})
    assert planned(ledger, f"{YEAR}-01") == Decimal("400.10")
    assert planned(ledger, f"{YEAR}-02") == Decimal("1000.00")
    assert {month["month"]: month["id"] for month in envelope["months"]} == ids  # month ids are kept

    # only two months now: the other ten drop out of the summary
    rows = [{"month": f"{YEAR}-05", "planned_amount": 10}, {"month": f"{YEAR}-06-15", "planned_amount": "20"}]
    envelope = ledger.ok(ledger.api.patch(f"{ENVELOPES}{envelope['id']}/", {"months": rows}))
    assert [month["month"] for month in envelope["months"]] == [f"{YEAR}-05-01", f"{YEAR}-06-01"]
    assert planned(ledger, f"{YEAR}-01") == 0 and planned(ledger, f"{YEAR}-06") == Decimal("20")
    assert ledger.summary(f"{YEAR}-06-01")["planned"] == 20


def test_moving_deactivating_and_deleting_envelopes_moves_planned(ledger: LedgerWorld) -> None:
    first, second = ledger.cost_center("A"), ledger.cost_center("B")
    envelope = ledger.envelope(ledger.plan()["id"], first["id"], "preventive", monthly="100.00")
    path = f"{ENVELOPES}{envelope['id']}/"

    ledger.ok(ledger.api.patch(path, {"cost_center": second["id"], "category": "corrective"}))
    summary = ledger.summary(f"{YEAR}-04-01", cost_center=second["id"])
    assert summary["planned"] == 100 and [row["category"] for row in summary["by_category"]] == ["corrective"]
    assert ledger.summary(f"{YEAR}-04-01", cost_center=first["id"])["planned"] == 0

    ledger.ok(ledger.api.patch(path, {"is_active": False}))
    assert planned(ledger, f"{YEAR}-04") == 0
    ledger.ok(ledger.api.patch(path, {"is_active": True}))
    assert planned(ledger, f"{YEAR}-04") == Decimal("100.00")

    assert ledger.api.delete(path).status == 204
    assert planned(ledger, f"{YEAR}-04") == 0 and ledger.api.get(path).status == 404


def test_months_must_fall_in_the_plan_and_appear_once(ledger: LedgerWorld) -> None:
    envelope = ledger.envelope(ledger.plan()["id"], ledger.cost_center("CP")["id"])
    path = f"{ENVELOPES}{envelope['id']}/"
    outside = {"months": [{"month": f"{YEAR + 1}-01-01", "planned_amount": 1}]}
    twice = {
        "months": [{"month": f"{YEAR}-01-01", "planned_amount": 1}, {"month": f"{YEAR}-01-01", "planned_amount": 2}]
    }
    negative = {"months": [{"month": f"{YEAR}-01-01", "planned_amount": -1}]}
    for body in (outside, twice, negative):
        status, errors = ledger.api.patch(path, body)
        assert status == 400 and any(key.startswith("months") for key in errors), errors
    assert planned(ledger, f"{YEAR}-01") == 0


def test_references_must_exist(ledger: LedgerWorld) -> None:
    plan = ledger.plan()
    body = {"budget_plan": plan["id"], "name": "X", "category": "other", "cost_center": plan["id"], "amount": 0}
    status, errors = ledger.api.post(ENVELOPES, body)
    assert status == 400 and "cost_center" in errors
    body = {**body, "budget_plan": ledger.default_cost_center, "cost_center": ledger.default_cost_center}
    status, errors = ledger.api.post(ENVELOPES, body)
    assert status == 400 and "budget_plan" in errors
    assert ledger.api.post(ENVELOPES, {**body, "category": "fun"}).status == 400


def test_a_locked_plan_refuses_envelope_changes(ledger: LedgerWorld) -> None:
    plan = ledger.plan()
    envelope = ledger.envelope(plan["id"], ledger.cost_center("CP")["id"], monthly="10")
    ledger.ok(ledger.api.patch(f"{PLANS}{plan['id']}/", {"status": "locked"}))
    rows = [{"month": f"{YEAR}-01-01", "planned_amount": 99}]
    status, body = ledger.api.patch(f"{ENVELOPES}{envelope['id']}/", {"months": rows})
    assert status == 409 and body["code"] == "conflict"
    assert planned(ledger, f"{YEAR}-01") == Decimal("10")
    assert ledger.ok(ledger.api.get(f"{ENVELOPES}{envelope['id']}/"))["months"][0]["planned_amount"] == "10.00"


def test_a_locked_month_keeps_its_budget(ledger: LedgerWorld) -> None:
    envelope = ledger.envelope(ledger.plan()["id"], ledger.cost_center("CP")["id"], monthly="100")
    ledger.lock(f"{YEAR}-01")

    status, body = ledger.api.patch(
        f"{ENVELOPES}{envelope['id']}/", {"months": [{"month": f"{YEAR}-01-01", "planned_amount": 5}]}
    )
    assert status == 409 and f"{YEAR}-01" in body["detail"]
    assert planned(ledger, f"{YEAR}-01") == Decimal("100") and planned(ledger, f"{YEAR}-02") == Decimal("100")

    # the frontend always sends all 12 months: an unchanged locked month is fine
    envelope = ledger.set_months(envelope["id"], monthly="100", months={f"{YEAR}-02-01": "300"})
    assert planned(ledger, f"{YEAR}-02") == Decimal("300")
    assert [month["is_locked"] for month in envelope["months"][:2]] == [True, False]
    assert envelope["months"][0]["locked_by"] == 1


def test_a_plan_with_envelopes_cannot_be_deleted(ledger: LedgerWorld) -> None:
    plan = ledger.plan()
    envelope = ledger.envelope(plan["id"], ledger.cost_center("CP")["id"])
    status, body = ledger.api.delete(f"{PLANS}{plan['id']}/")
    assert status == 400 and body["error"]
    assert ledger.api.delete(f"{ENVELOPES}{envelope['id']}/").status == 204
    assert ledger.api.delete(f"{PLANS}{plan['id']}/").status == 204
