"""Cost inputs of work orders: time entries, part usages and external costs (Django reference
field names, decimals as strings, read-only totals), stored in the work order's partition."""

from __future__ import annotations

import pytest

from tests.integration.cmms_world import INPUT_BODIES, INPUT_PATHS, CmmsWorld

TIME = INPUT_PATHS["time"]
PARTS = INPUT_PATHS["part"]
EXTERNAL = INPUT_PATHS["external"]


@pytest.fixture
def world(api, settings) -> CmmsWorld:
    return CmmsWorld.build(api, settings)


@pytest.fixture
def wo(world) -> dict:
    return world.work_order()


def test_time_entry_round_trip_with_total_cost(api, world, wo) -> None:
    status, entry = api.post(
        TIME,
        {
            "work_order": wo["id"],
            "role": "electrician",
            "role_code": "ELE",
            "hours": 2.5,
            "work_date": "2026-03-02",
            "hourly_rate": "80",
            "technician": 7,
            "description": "Rewired panel",
        },
    )
    assert status == 201
    assert entry == {
        "id": entry["id"],
        "work_order": wo["id"],
        "role": "electrician",
        "role_code": "ELE",
        "hours": "2.50",
        "work_date": "2026-03-02",
        "hourly_rate": "80.00",
        "technician": 7,
        "description": "Rewired panel",
        "total_cost": "200.00",
        "created_at": entry["created_at"],
        "updated_at": entry["updated_at"],
    }
    assert api.get(f"{TIME}{entry['id']}/").json == entry
    status, patched = api.patch(f"{TIME}{entry['id']}/", {"hours": "1.25", "hourly_rate": None, "total_cost": "9"})
    assert status == 200 and patched["hours"] == "1.25" and patched["hourly_rate"] is None
    assert patched["total_cost"] is None  # no rate: the cost engine prices it from the rate card
    assert api.delete(f"{TIME}{entry['id']}/") == (204, None)
    assert api.get(f"{TIME}{entry['id']}/").status == 404


def test_part_usage_round_trip_with_total_cost(api, world, wo) -> None:
    status, part = api.post(
        PARTS,
        {
            "work_order": wo["id"],
            "part_name": "Belt A-42",
            "quantity": "3",
            "unit": "PC",
            "unit_cost": "19.99",
            "inventory_item": 4,
        },
    )
    assert status == 201
    assert (part["quantity"], part["unit_cost"], part["total_cost"]) == ("3.000", "19.99", "59.97")
    assert part["part_number"] == "" and part["inventory_item"] == 4 and part["unit"] == "PC"
    status, patched = api.patch(f"{PARTS}{part['id']}/", {"quantity": "0.5"})
    assert status == 200 and patched["total_cost"] == "10.00"  # 9.995 rounds half up
    assert api.get(f"{PARTS}{part['id']}/").json == patched


def test_external_cost_round_trip(api, world, wo) -> None:
    status, cost = api.post(
        EXTERNAL,
        {
            "work_order": wo["id"],
            "cost_type": "rental",
            "supplier_name": "Lift Co",
            "description": "Scissor lift, 1 day",
            "amount": 450,
            "invoice_number": "NF-77",
            "invoice_date": "2026-03-03",
        },
    )
    assert status == 201
    assert (cost["amount"], cost["currency"], cost["invoice_date"]) == ("450.00", "BRL", "2026-03-03")
    status, patched = api.patch(f"{EXTERNAL}{cost['id']}/", {"invoice_date": "", "amount": "451.5"})
    assert status == 200 and patched["invoice_date"] is None and patched["amount"] == "451.50"


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("time", "hours", "0"),
        ("time", "hours", "1.234"),
        ("time", "work_date", "yesterday"),
        ("time", "role", ""),
        ("part", "quantity", "-1"),
        ("part", "unit_cost", "abc"),
        ("external", "amount", "-5"),
        ("external", "currency", "real"),
    ],
)
def test_invalid_values_are_field_errors(api, world, wo, kind, field, value) -> None:
    status, body = api.post(INPUT_PATHS[kind], {**INPUT_BODIES[kind], "work_order": wo["id"], field: value})
    assert status == 400 and list(body) == [field]


def test_the_work_order_must_exist_and_inputs_cannot_move(api, world, wo) -> None:
    assert api.post(TIME, {**INPUT_BODIES["time"], "work_order": 999}) == (
        400,
        {"work_order": ['Invalid pk "999" - object does not exist.']},
    )
    entry = world.add_input("time", wo["id"])
    other = world.work_order()
    status, body = api.patch(f"{TIME}{entry['id']}/", {"work_order": other["id"]})
    assert status == 400 and list(body) == ["work_order"]
    assert api.patch(f"{TIME}{entry['id']}/", {"work_order": wo["id"], "role": "helper"}).json["role"] == "helper"
    assert api.patch(f"{TIME}{entry['id']}/", {"role": None}) == (400, {"role": ["This field may not be null."]})


def test_lists_filter_by_work_order(api, world, wo) -> None:
    other = world.work_order()
    mine = [world.add_input("part", wo["id"], part_name=f"P{n}") for n in range(2)]
    theirs = world.add_input("part", other["id"])
    world.add_input("time", wo["id"])
    listed = api.get(PARTS, query={"work_order": str(wo["id"])}).json
    assert listed["count"] == 2 and [row["id"] for row in listed["results"]] == [row["id"] for row in mine]
    everything = api.get(PARTS).json
    assert {row["id"] for row in everything["results"]} == {*(row["id"] for row in mine), theirs["id"]}
    assert api.get(TIME, query={"work_order": str(other["id"])}).json["count"] == 0
    assert api.get(PARTS, query={"work_order": "abc"}).status == 400


def test_unknown_or_malformed_ids_are_404_and_kinds_do_not_mix(api, world, wo) -> None:
    entry = world.add_input("time", wo["id"])
    for path in (f"{TIME}not-a-uuid/", f"{TIME}00000000-0000-0000-0000-000000000000/", f"{PARTS}{entry['id']}/"):
        status, body = api.get(path)
        assert status == 404 and body["detail"] == "Not found.", path


def test_inputs_live_in_the_work_orders_partition_and_bump_its_inputs_version(api, world, wo) -> None:
    entry = world.add_input("time", wo["id"])
    part = world.add_input("part", wo["id"])
    cost = world.add_input("external", wo["id"])
    keys = {
        item["kind"]["S"]: (item["pk"]["S"], item["sk"]["S"], item["gsi1pk"]["S"], item["gsi1sk"]["S"])
        for kind in ("time_entry", "part_usage", "external_cost")
        for item in world.items(kind)
    }
    partition = f"T#acme#WO#{wo['id']:08d}"
    assert keys == {
        "time_entry": (partition, f"TIME#{entry['id']}", "T#acme#COSTINPUT#TIME", entry["id"]),
        "part_usage": (partition, f"PART#{part['id']}", "T#acme#COSTINPUT#PART", part["id"]),
        "external_cost": (partition, f"EXTERNAL#{cost['id']}", "T#acme#COSTINPUT#EXTERNAL", cost["id"]),
    }
    api.patch(f"{TIME}{entry['id']}/", {"hours": 3})
    api.delete(f"{PARTS}{part['id']}/")
    (stored,) = world.items("work_order")
    assert stored["inputs_version"]["N"] == "5"


def test_a_stale_input_update_is_a_409(api, world, wo, monkeypatch) -> None:
    from climatrak.cmms.repository import CmmsRepository

    entry = world.add_input("time", wo["id"])
    original_find = CmmsRepository.find_input
    interfered: list[bool] = []

    def find_then_someone_else_writes(self, model, input_id):  # type: ignore[no-untyped-def]
        item = original_find(self, model, input_id)
        if not interfered:
            interfered.append(True)
            other = original_find(self, model, input_id)
            other.description = "changed meanwhile"
            self.write_input(self.get_work_order(int(other.work_order_id)), other)
        return item

    monkeypatch.setattr(CmmsRepository, "find_input", find_then_someone_else_writes)
    status, body = api.patch(f"{TIME}{entry['id']}/", {"description": "mine"})
    assert status == 409 and body["code"] == "conflict"
    monkeypatch.undo()
    assert api.get(f"{TIME}{entry['id']}/").json["description"] == "changed meanwhile"
