"""Completing a work order: the `work_order.closed` outbox event (shared contract), the auto
time entry, the cost centre, inputs frozen afterwards, races with input writes, the
technician rules and post-costs."""

from __future__ import annotations

from typing import Any

import pytest

from climatrak.cmms import logic
from climatrak.cmms.repository import CmmsRepository
from climatrak.ledger import cost_engine
from climatrak.ledger.items import default_cost_center_id
from tests.integration.cmms_world import INPUT_BODIES, INPUT_PATHS, TECHNICIAN_ID, CmmsWorld

COMPLETED_AT = "2026-03-10T18:00:00.000Z"


@pytest.fixture
def world(api, settings) -> CmmsWorld:
    return CmmsWorld.build(api, settings)


def _complete_at(monkeypatch: pytest.MonkeyPatch, moment: str = COMPLETED_AT) -> None:
    monkeypatch.setattr(logic, "utc_now_iso", lambda: moment)


def test_the_closed_event_carries_the_contract_payload(api, world, monkeypatch) -> None:
    own = world.cost_center("PLANT-1")
    api.patch(f"/api/assets/{world.asset}/", {"cost_center": own})
    wo = world.work_order(type="EMERGENCY", assigned_to=TECHNICIAN_ID)
    rated = world.add_input("time", wo["id"], role="electrician", role_code="ELE", technician=TECHNICIAN_ID)
    unrated = world.add_input("time", wo["id"], hours="1", hourly_rate=None, work_date="2026-03-03")
    part = world.add_input("part", wo["id"])
    external = world.add_input("external", wo["id"], invoice_number=None)
    world.action(wo["id"], "start")
    _complete_at(monkeypatch)
    status, done = world.action(wo["id"], "complete", {"actual_hours": 4})
    assert status == 200 and done["completed_at"] == COMPLETED_AT

    (event,) = world.events()
    assert event["event_name"] == "work_order.closed" and event["tenant_id"] == "acme"
    assert event["aggregate"] == {"type": "work_order", "id": str(wo["id"])}
    assert event["idempotency_key"] == f"work_order.closed:{wo['id']}"
    assert event["data"] == {
        "work_order_id": wo["id"],
        "work_order_number": wo["number"],
        "asset_id": world.asset,
        "asset_tag": "CH-001",
        "cost_center_id": own,
        "work_order_type": "EMERGENCY",
        "category": "corrective",
        "completed_at": COMPLETED_AT,
        "labor": [
            {
                "time_entry_id": rated["id"],
                "role": "electrician",
                "role_code": "ELE",
                "hours": "2.50",
                "hourly_rate": "80.00",
                "technician_id": TECHNICIAN_ID,
                "work_date": "2026-03-02",
            },
            {
                "time_entry_id": unrated["id"],
                "role": "technician",
                "role_code": None,
                "hours": "1.00",
                "hourly_rate": None,
                "technician_id": None,
                "work_date": "2026-03-03",
            },
        ],
        "parts": [
            {
                "part_usage_id": part["id"],
                "part_name": "Filter G4",
                "part_number": "F-G4",
                "quantity": "2.000",
                "unit": "UN",
                "unit_cost": "12.50",
            }
        ],
        "third_party": [
            {
                "external_cost_id": external["id"],
                "cost_type": "service",
                "supplier_name": "Cool Contractors",
                "description": "Coil cleaning",
                "amount": "300.00",
                "currency": "BRL",
                "invoice_number": None,
            }
        ],
    }
    (outbox,) = world.items("outbox")
    assert outbox["source"]["S"] == "climatrak.cmms" and outbox["status"]["S"] == "pending"
    # time entries existed: actual_hours is kept but no entry is added
    assert done["actual_hours"] == "4.00" and len(world.items("time_entry")) == 2


@pytest.mark.parametrize(
    ("wo_type", "category"),
    [
        ("PREVENTIVE", "preventive"),
        ("PREDICTIVE", "predictive"),
        ("CORRECTIVE", "corrective"),
        ("EMERGENCY", "corrective"),
        ("REQUEST", "corrective"),
    ],
)
def test_the_category_follows_the_work_order_type(world, wo_type, category) -> None:
    wo = world.work_order(type=wo_type)
    world.action(wo["id"], "complete")
    (event,) = world.events()
    assert (event["data"]["work_order_type"], event["data"]["category"]) == (wo_type, category)


def test_the_cost_center_is_the_assets_else_its_sites_else_the_tenant_default(api, world) -> None:
    plant = world.cost_center("PLANT")
    own = world.cost_center("CHILLERS")
    default_wo = world.work_order()
    world.action(default_wo["id"], "complete")
    api.patch(f"/api/sites/{world.site}/", {"cost_center": plant})
    site_wo = world.work_order()
    world.action(site_wo["id"], "complete")
    api.patch(f"/api/assets/{world.asset}/", {"cost_center": own})
    own_wo = world.work_order()
    world.action(own_wo["id"], "complete")
    centres = {event["data"]["work_order_id"]: event["data"]["cost_center_id"] for event in world.events()}
    assert centres == {default_wo["id"]: default_cost_center_id("acme"), site_wo["id"]: plant, own_wo["id"]: own}
    assert [
        item["code"]["S"] for item in world.items("cost_center") if item["id"]["S"] == centres[default_wo["id"]]
    ] == ["GERAL"]


def test_actual_hours_without_a_time_entry_records_one_for_the_assignees_role(api, world, monkeypatch) -> None:
    wo = world.work_order(assigned_to=TECHNICIAN_ID, assigned_to_name="Ana", assigned_role="refrigeration_tech")
    world.add_input("part", wo["id"])
    # 01:30 UTC on 11 March is still 10 March in São Paulo
    _complete_at(monkeypatch, "2026-03-11T01:30:00.000Z")
    assert world.action(wo["id"], "complete", {"actual_hours": "3.5", "execution_description": "ok"}).status == 200
    (entry,) = api.get(INPUT_PATHS["time"], query={"work_order": str(wo["id"])}).json["results"]
    assert (entry["role"], entry["hours"], entry["technician"]) == ("refrigeration_tech", "3.50", TECHNICIAN_ID)
    assert (entry["work_date"], entry["hourly_rate"], entry["total_cost"]) == ("2026-03-10", None, None)
    (event,) = world.events()
    assert event["data"]["labor"] == [
        {
            "time_entry_id": entry["id"],
            "role": "refrigeration_tech",
            "role_code": None,
            "hours": "3.50",
            "hourly_rate": None,
            "technician_id": TECHNICIAN_ID,
            "work_date": "2026-03-10",
        }
    ]


def test_no_actual_hours_no_auto_entry(api, world) -> None:
    wo = world.work_order(assigned_to=TECHNICIAN_ID)
    world.action(wo["id"], "complete", {"checklist_responses": []})
    assert world.items("time_entry") == []
    assert world.events()[0]["data"]["labor"] == []


@pytest.mark.parametrize("finish", ["complete", "cancel"])
@pytest.mark.parametrize("kind", ["time", "part", "external"])
def test_inputs_are_frozen_after_completion_or_cancellation_and_nothing_is_written(api, world, kind, finish) -> None:
    wo = world.work_order()
    row = world.add_input(kind, wo["id"])
    world.action(wo["id"], finish, {"reason": "dup"} if finish == "cancel" else {})
    (before,) = world.items("work_order")
    path = INPUT_PATHS[kind]
    for status, body in (
        api.post(path, {**INPUT_BODIES[kind], "work_order": wo["id"]}),
        api.patch(f"{path}{row['id']}/", {"description": "late edit"}),
        api.delete(f"{path}{row['id']}/"),
    ):
        assert status == 409 and body["code"] == "work_order_closed", body
    assert api.get(path, query={"work_order": str(wo["id"])}).json["results"] == [row]
    assert world.items("work_order") == [before]  # not even inputs_version moved


def test_an_input_written_during_a_completion_makes_it_fail_with_409(api, world, monkeypatch) -> None:
    """Worst case: the input commits after completion read the inputs, before its transaction."""
    wo = world.work_order()
    world.add_input("time", wo["id"])
    original_inputs = CmmsRepository.inputs
    racing: list[dict[str, Any]] = []

    def read_then_an_input_arrives(self, work_order_id):  # type: ignore[no-untyped-def]
        found = original_inputs(self, work_order_id)
        if not racing:
            racing.append(world.add_input("part", work_order_id, part_name="Late part"))
        return found

    monkeypatch.setattr(CmmsRepository, "inputs", read_then_an_input_arrives)
    status, body = world.action(wo["id"], "complete", {"actual_hours": 2})
    assert status == 409 and body["code"] == "inputs_changed"
    assert api.get(f"/api/cmms/work-orders/{wo['id']}/").json["status"] == "OPEN"
    assert world.events() == [] and len(world.items("time_entry")) == 1
    # a retry sees the late part: no cost is lost
    assert world.action(wo["id"], "complete").status == 200
    (event,) = world.events()
    assert [part["part_usage_id"] for part in event["data"]["parts"]] == [racing[0]["id"]]


def test_an_input_write_that_loses_the_race_to_completion_is_409_and_writes_nothing(api, world, monkeypatch) -> None:
    wo = world.work_order()
    original = logic._editable_work_order
    completed: list[bool] = []

    def checked_then_completed(*args, **kwargs):  # type: ignore[no-untyped-def]
        work_order = original(*args, **kwargs)
        if not completed:
            completed.append(True)
            assert world.action(wo["id"], "complete").status == 200
        return work_order

    monkeypatch.setattr(logic, "_editable_work_order", checked_then_completed)
    status, body = api.post(INPUT_PATHS["external"], {**INPUT_BODIES["external"], "work_order": wo["id"]})
    assert status == 409 and body["code"] == "work_order_closed"
    assert world.items("external_cost") == []
    assert world.events()[0]["data"]["third_party"] == []


# ---- technicians ------------------------------------------------------------------------------


def _as_technician(user_id: int = TECHNICIAN_ID) -> dict[str, Any]:
    return {"role": "technician", "user_id": user_id}


def test_a_technician_works_the_work_orders_assigned_to_them(api, world) -> None:
    wo = world.work_order(assigned_to=TECHNICIAN_ID)
    me = _as_technician()
    assert world.action(wo["id"], "start", **me).status == 200
    entry = api.post(INPUT_PATHS["time"], {**INPUT_BODIES["time"], "hourly_rate": None, "work_order": wo["id"]}, **me)
    assert entry.status == 201
    assert api.patch(f"{INPUT_PATHS['time']}{entry.json['id']}/", {"hours": 3}, **me).status == 200
    part = api.post(INPUT_PATHS["part"], {**INPUT_BODIES["part"], "work_order": wo["id"]}, **me).json
    assert api.delete(f"{INPUT_PATHS['part']}{part['id']}/", **me).status == 204
    assert world.action(wo["id"], "complete", {"actual_hours": 3}, **me).status == 200


def test_a_technician_is_refused_on_work_orders_of_others(api, world) -> None:
    theirs = world.work_order(assigned_to=TECHNICIAN_ID + 1)
    nobodys = world.work_order()
    entry = world.add_input("time", theirs["id"])
    me = _as_technician()
    for wo in (theirs, nobodys):
        for status, body in (
            world.action(wo["id"], "start", **me),
            world.action(wo["id"], "complete", **me),
            api.post(INPUT_PATHS["part"], {**INPUT_BODIES["part"], "work_order": wo["id"]}, **me),
        ):
            assert status == 403 and body["detail"] == "Technicians can only work on work orders assigned to them."
    assert api.patch(f"{INPUT_PATHS['time']}{entry['id']}/", {"hours": 1}, **me).status == 403
    assert api.delete(f"{INPUT_PATHS['time']}{entry['id']}/", **me).status == 403
    assert world.items("part_usage") == [] and world.events() == []
    # reads are open to every role
    assert api.get(f"/api/cmms/work-orders/{theirs['id']}/", **me).status == 200


def test_a_technician_can_only_assign_themselves_when_starting(api, world) -> None:
    wo = world.work_order(assigned_to=TECHNICIAN_ID)
    status, body = world.action(wo["id"], "start", {"assigned_to": TECHNICIAN_ID + 1}, **_as_technician())
    assert status == 403 and body["detail"] == "Technicians can only assign work orders to themselves."
    assert world.action(wo["id"], "start", {"assigned_to": TECHNICIAN_ID}, **_as_technician()).status == 200


def test_a_technician_reassigned_meanwhile_writes_nothing(api, world, monkeypatch) -> None:
    wo = world.work_order(assigned_to=TECHNICIAN_ID)
    original = logic._editable_work_order
    reassigned: list[bool] = []

    def checked_then_reassigned(*args, **kwargs):  # type: ignore[no-untyped-def]
        work_order = original(*args, **kwargs)
        if not reassigned:
            reassigned.append(True)
            assert api.patch(f"/api/cmms/work-orders/{wo['id']}/", {"assigned_to": TECHNICIAN_ID + 1}).status == 200
        return work_order

    monkeypatch.setattr(logic, "_editable_work_order", checked_then_reassigned)
    body = {**INPUT_BODIES["time"], "hourly_rate": None, "work_order": wo["id"]}
    status, refused = api.post(INPUT_PATHS["time"], body, **_as_technician())
    assert status == 403 and refused["detail"] == "Technicians can only work on work orders assigned to them."
    assert world.items("time_entry") == []


# ---- post-costs -------------------------------------------------------------------------------


def test_post_costs_needs_a_completed_work_order(api, world) -> None:
    wo = world.work_order()
    status, body = world.action(wo["id"], "post-costs")
    assert status == 400 and body["detail"] == "Only completed work orders can have their costs posted."


def test_post_costs_hands_the_event_payload_to_the_cost_engine_and_shapes_its_result(api, world, monkeypatch) -> None:
    wo = world.work_order()
    world.add_input("part", wo["id"])
    world.action(wo["id"], "complete")
    seen: list[tuple[str, dict[str, Any]]] = []

    def engine(settings, tenant, data):  # type: ignore[no-untyped-def]
        seen.append((tenant, data))
        return cost_engine.CostPostingResult(transactions_created=1, transaction_ids=["tx-1"], skipped=2)

    monkeypatch.setattr(cost_engine, "post_work_order_costs", engine)
    status, body = world.action(wo["id"], "post-costs")
    assert status == 200 and body == {
        "success": True,
        "work_order_id": wo["id"],
        "work_order_number": wo["number"],
        "auto_created_entries": [],
        "transactions_created": 1,
        "transactions": ["tx-1"],
        "events_published": 1,
        "skipped": 2,
        "errors": [],
    }
    assert seen == [("acme", world.events()[0]["data"])]


def test_post_costs_posts_once_through_the_real_engine(api, world) -> None:
    wo = world.work_order()
    world.add_input("part", wo["id"])
    world.add_input("external", wo["id"])
    world.action(wo["id"], "complete")
    first = world.action(wo["id"], "post-costs").json
    assert first["success"] is True and first["transactions_created"] == 2 and first["skipped"] == 1
    again = world.action(wo["id"], "post-costs").json
    assert again["transactions_created"] == 0 and again["transactions"] == [] and again["skipped"] == 3


def test_post_costs_without_a_rate_card_is_a_clear_400(api, world) -> None:
    wo = world.work_order()
    world.add_input("time", wo["id"], hourly_rate=None, role="welder")
    world.action(wo["id"], "complete")
    status, body = world.action(wo["id"], "post-costs")
    assert status == 400 and body["code"] == "missing_rate_card" and "welder" in body["detail"]
