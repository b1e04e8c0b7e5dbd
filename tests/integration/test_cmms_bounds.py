"""What the CMMS refuses before it reaches DynamoDB, EventBridge or the cost engine: datetimes
out of range, texts too long for an item, ids and amounts out of bounds, path ids that are not
ASCII digits, money set by technicians, and more cost inputs than one event can carry."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from climatrak.cmms import logic, repository
from climatrak.cmms.items import ExternalCostItem, PartUsageItem, TimeEntryItem, WorkOrderItem
from climatrak.cmms.models import MAX_ID, SIGNATURE_MAX, TEXT_MAX
from climatrak.cmms.repository import MAX_INPUTS_PER_KIND, WorkOrderInputs
from climatrak.core.events import new_event
from climatrak.core.publisher import EventBusPublisher, entry_size
from climatrak.core.timeutil import iso_ms, parse_iso, to_ms
from tests.integration.cmms_world import INPUT_BODIES, INPUT_PATHS, TECHNICIAN_ID, CmmsWorld

WO = "/api/cmms/work-orders/"
TIME = INPUT_PATHS["time"]
NOW = "2026-03-10T18:00:00.000Z"  # 15:00 in São Paulo
EVENTBRIDGE_ENTRY_MAX = 256 * 1024
# A character that costs the most bytes in the event's JSON (escaped as \u0001: 6 bytes).
WORST_CHAR = "\x01"


@pytest.fixture
def world(api, settings) -> CmmsWorld:
    return CmmsWorld.build(api, settings)


@pytest.fixture
def at_now(monkeypatch: pytest.MonkeyPatch) -> str:
    """The CMMS's clock reads NOW."""
    monkeypatch.setattr(logic, "utc_now_iso", lambda: NOW)
    return NOW


def _as_technician() -> dict[str, Any]:
    return {"role": "technician", "user_id": TECHNICIAN_ID}


# ---- datetimes -------------------------------------------------------------------------------


def test_storage_times_have_four_digit_years() -> None:
    assert iso_ms(to_ms(parse_iso("0999-06-01T10:00Z"))) == "0999-06-01T10:00:00.000Z"
    assert iso_ms(to_ms(parse_iso("2026-03-10T18:00:00.5Z"))) == "2026-03-10T18:00:00.500Z"


@pytest.mark.parametrize(
    "value",
    [
        "0999-06-01T10:00",  # was stored as "999-06-01T…", which no parser reads back
        "1999-12-31T23:59Z",
        "2099-06-01T10:00",
        "9999-12-31T23:59",  # overflowed converting to UTC: was a 500
        "0001-01-01T00:00+05:00",  # idem
    ],
)
def test_a_completion_time_out_of_range_is_a_field_error_and_nothing_is_written(api, world, at_now, value) -> None:
    wo = world.work_order()
    status, body = api.patch(f"{WO}{wo['id']}/", {"status": "COMPLETED", "completed_at": value})
    assert status == 400 and list(body) == ["completed_at"], body
    assert api.get(f"{WO}{wo['id']}/").json["status"] == "OPEN"
    assert world.events() == []


@pytest.mark.parametrize("field", ["started_at", "signed_at"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59", "0001-01-01T00:00+05:00", "0999-06-01T10:00", "2099-01-01"])
def test_other_datetimes_out_of_range_are_field_errors(api, world, at_now, field, value) -> None:
    assert api.post(WO, {"asset": world.asset, field: value}) == (
        400,
        {field: ["Enter a date and time between 2000 and one year from now."]},
    )
    wo = world.work_order()
    assert api.patch(f"{WO}{wo['id']}/", {field: value}).status == 400
    assert api.patch(f"{WO}{wo['id']}/", {field: "x" * 65}).status == 400
    assert api.patch(f"{WO}{wo['id']}/", {field: "2026-03-10T09:00"}).json[field] == "2026-03-10T12:00:00.000Z"


def test_a_completion_time_is_not_in_the_future_beyond_a_little_clock_skew(api, world, at_now) -> None:
    late, early = world.work_order(), world.work_order()
    assert api.patch(f"{WO}{late['id']}/", {"status": "COMPLETED", "completed_at": "2026-03-10T18:10Z"}) == (
        400,
        {"completed_at": ["The completion time cannot be in the future."]},
    )
    status, done = api.patch(f"{WO}{early['id']}/", {"status": "COMPLETED", "completed_at": "2026-03-10T18:03Z"})
    assert status == 200 and done["completed_at"] == "2026-03-10T18:03:00.000Z"


def test_a_completion_time_is_not_before_creation_or_start(api, world, monkeypatch) -> None:
    monkeypatch.setattr(logic, "utc_now_iso", lambda: "2026-03-10T12:00:00.000Z")
    wo = world.work_order()
    started = world.work_order(status="IN_PROGRESS", started_at="2026-03-10T14:00Z")
    monkeypatch.setattr(logic, "utc_now_iso", lambda: NOW)
    complete = {"status": "COMPLETED"}
    assert api.patch(f"{WO}{wo['id']}/", {**complete, "completed_at": "2026-03-10T11:59Z"}) == (
        400,
        {"completed_at": ["The completion time cannot be before the work order was created."]},
    )
    assert api.patch(f"{WO}{started['id']}/", {**complete, "completed_at": "2026-03-10T13:00Z"}) == (
        400,
        {"completed_at": ["The completion time cannot be before the work order was started."]},
    )
    assert world.events() == []
    assert api.patch(f"{WO}{wo['id']}/", {**complete, "completed_at": "2026-03-10T12:00Z"}).status == 200
    assert api.patch(f"{WO}{started['id']}/", {**complete, "completed_at": "2026-03-10T14:00Z"}).status == 200
    assert [event["data"]["completed_at"] for event in world.events()] == [
        "2026-03-10T12:00:00.000Z",
        "2026-03-10T14:00:00.000Z",
    ]


# ---- texts: every item stays under DynamoDB's 400 KB -----------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "x" * 450_000),
        ("description", "x" * (TEXT_MAX + 1)),
        ("execution_description", "x" * (TEXT_MAX + 1)),
        ("cancellation_reason", "x" * (TEXT_MAX + 1)),
        ("signature", "x" * (SIGNATURE_MAX + 1)),
        ("signature", "data:image/png;base64," + "😀" * 1000),  # a data URL is ASCII
        ("signed_by", "x" * 201),
        ("assigned_to_name", "x" * 201),
        ("assigned_role", "x" * 101),
    ],
)
def test_texts_too_long_for_a_work_order_are_field_errors(api, world, field, value) -> None:
    status, body = api.post(WO, {"asset": world.asset, field: value})
    assert status == 400 and list(body) == [field]
    assert world.items("work_order") == []


def test_the_longest_texts_fit_in_one_item(api, world) -> None:
    longest = {
        "description": "😀" * TEXT_MAX,  # 4 bytes each in UTF-8
        "execution_description": "😀" * TEXT_MAX,
        "signature": "data:image/png;base64," + "A" * (SIGNATURE_MAX - 22),
        "signed_by": "😀" * 200,
        "assigned_to_name": "😀" * 200,
        "assigned_role": "😀" * 100,
    }
    wo = world.work_order(**longest)
    status, cancelled = world.action(wo["id"], "cancel", {"reason": "😀" * TEXT_MAX})
    assert status == 200 and cancelled["cancellation_reason"] == "😀" * TEXT_MAX
    assert api.get(f"{WO}{wo['id']}/").json["signature"] == longest["signature"]


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("complete", {"execution_description": "x" * (TEXT_MAX + 1)}),
        ("cancel", {"reason": "x" * (TEXT_MAX + 1)}),
    ],
)
def test_texts_too_long_for_an_action_are_field_errors(api, world, action, body) -> None:
    wo = world.work_order()
    status, refused = world.action(wo["id"], action, body)
    assert status == 400 and list(refused) == list(body)
    assert api.get(f"{WO}{wo['id']}/").json["status"] == "OPEN"


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("time", "description", "x" * (TEXT_MAX + 1)),
        ("time", "role", "x" * 101),
        ("part", "part_name", "x" * 201),
        ("external", "description", "x" * 250_000),
        ("external", "supplier_name", "x" * 201),
        ("external", "invoice_number", "x" * 101),
    ],
)
def test_texts_too_long_for_a_cost_input_are_field_errors(api, world, kind, field, value) -> None:
    wo = world.work_order()
    status, body = api.post(INPUT_PATHS[kind], {**INPUT_BODIES[kind], "work_order": wo["id"], field: value})
    assert status == 400 and list(body) == [field]
    created = world.add_input(kind, wo["id"])
    assert api.patch(f"{INPUT_PATHS[kind]}{created['id']}/", {field: value}).status == 400


# ---- integer ids and decimals ----------------------------------------------------------------


@pytest.mark.parametrize("value", [10**40, MAX_ID + 1, 0, -3])
def test_integer_ids_out_of_bounds_are_field_errors(api, world, value) -> None:
    wo = world.work_order()
    checks = [
        (api.post(WO, {"asset": value}), "asset"),
        (api.post(WO, {"asset": world.asset, "assigned_to": value}), "assigned_to"),
        (api.patch(f"{WO}{wo['id']}/", {"asset": value}), "asset"),
        (api.patch(f"{WO}{wo['id']}/", {"assigned_to": value}), "assigned_to"),
        (world.action(wo["id"], "start", {"assigned_to": value}), "assigned_to"),
        (api.post(TIME, {**INPUT_BODIES["time"], "work_order": value}), "work_order"),
        (api.post(TIME, {**INPUT_BODIES["time"], "work_order": wo["id"], "technician": value}), "technician"),
        (
            api.post(INPUT_PATHS["part"], {**INPUT_BODIES["part"], "work_order": wo["id"], "inventory_item": value}),
            "inventory_item",
        ),
        (api.post(INPUT_PATHS["external"], {**INPUT_BODIES["external"], "work_order": value}), "work_order"),
    ]
    for (status, body), field in checks:
        assert status == 400 and list(body) == [field], (field, status, body)
    assert api.get(f"{WO}{wo['id']}/").json["status"] == "OPEN"
    assert world.items("time_entry") == [] and world.items("part_usage") == []


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", float("nan"), float("inf"), "-1", "1e13"])
@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("time", "hours"),
        ("time", "hourly_rate"),
        ("part", "quantity"),
        ("part", "unit_cost"),
        ("external", "amount"),
    ],
)
def test_amounts_that_are_negative_not_finite_or_absurd_are_field_errors(api, world, kind, field, value) -> None:
    wo = world.work_order()
    status, body = api.post(INPUT_PATHS[kind], {**INPUT_BODIES[kind], "work_order": wo["id"], field: value})
    assert status == 400 and list(body) == [field], body
    created = world.add_input(kind, wo["id"])
    assert api.patch(f"{INPUT_PATHS[kind]}{created['id']}/", {field: value}).status == 400


@pytest.mark.parametrize("value", ["NaN", float("inf"), "-0.5", "1e9"])
def test_work_order_hours_that_are_negative_not_finite_or_absurd_are_field_errors(api, world, value) -> None:
    assert list(api.post(WO, {"asset": world.asset, "estimated_hours": value}).json) == ["estimated_hours"]
    wo = world.work_order()
    assert list(api.patch(f"{WO}{wo['id']}/", {"actual_hours": value}).json) == ["actual_hours"]
    status, body = world.action(wo["id"], "complete", {"actual_hours": value})
    assert status == 400 and list(body) == ["actual_hours"]
    assert world.events() == []


# ---- path ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["²", "\u0661", "1" * 17, "9" * 5000])
def test_path_ids_that_are_not_ascii_digits_are_404(api, world, raw) -> None:
    for method, path in (("GET", f"{WO}{raw}/"), ("POST", f"{WO}{raw}/start/"), ("DELETE", f"{WO}{raw}/")):
        status, body = api.request(method, path)
        assert status == 404 and body["detail"] == "Not found.", (method, path[:40])


# ---- money is for managers ------------------------------------------------------------------


def test_a_technician_cannot_set_an_hourly_rate(api, world) -> None:
    wo = world.work_order(assigned_to=TECHNICIAN_ID)
    body = {**INPUT_BODIES["time"], "work_order": wo["id"], "hourly_rate": "999999.99"}
    status, refused = api.post(TIME, body, **_as_technician())
    assert status == 403
    assert refused["detail"] == "Only managers can set the hourly rate; a technician's time is costed by the rate card."
    assert world.items("time_entry") == []
    # without a rate (absent, null or blank) the entry is costed by the rate card of its role
    unrated = {name: value for name, value in body.items() if name != "hourly_rate"}
    for rate in ({}, {"hourly_rate": None}, {"hourly_rate": ""}):
        status, entry = api.post(TIME, {**unrated, **rate}, **_as_technician())
        assert status == 201 and entry["hourly_rate"] is None and entry["total_cost"] is None


def test_a_technician_cannot_change_a_managers_rate_but_may_send_it_back(api, world) -> None:
    wo = world.work_order(assigned_to=TECHNICIAN_ID)
    entry = world.add_input("time", wo["id"], hourly_rate="80")  # set by the owner
    path = f"{TIME}{entry['id']}/"
    status, refused = api.patch(path, {"hourly_rate": "120"}, **_as_technician())
    assert status == 403 and refused["code"] == "permission_denied"
    assert api.patch(path, {"hours": "3", "hourly_rate": "80.00"}, **_as_technician()).json["hourly_rate"] == "80.00"
    status, patched = api.patch(path, {"hourly_rate": None, "hours": "4"}, **_as_technician())
    assert status == 200 and patched["hourly_rate"] == "80.00" and patched["hours"] == "4.00"
    # a manager sets and clears it
    assert api.patch(path, {"hourly_rate": "95"}).json["hourly_rate"] == "95.00"
    assert api.patch(path, {"hourly_rate": None}).json["hourly_rate"] is None


def test_a_technician_cannot_set_the_labour_role_when_starting(api, world) -> None:
    wo = world.work_order(assigned_to=TECHNICIAN_ID, assigned_role="electrician")
    status, refused = world.action(wo["id"], "start", {"assigned_role": "engineer"}, **_as_technician())
    assert status == 403 and refused["detail"] == "Only managers can set the work order's labour role."
    assert api.get(f"{WO}{wo['id']}/").json["status"] == "OPEN"
    status, started = world.action(
        wo["id"], "start", {"assigned_role": "electrician", "assigned_to": None}, **_as_technician()
    )
    assert status == 200 and started["assigned_role"] == "electrician"
    other = world.work_order(assigned_to=TECHNICIAN_ID)
    assert world.action(other["id"], "start", {"assigned_role": None}, **_as_technician()).status == 200
    managed = world.work_order()
    assert world.action(managed["id"], "start", {"assigned_role": "engineer"}).json["assigned_role"] == "engineer"


# ---- how many cost inputs, and the size of work_order.closed ----------------------------------


def test_a_work_order_holds_a_bounded_number_of_inputs_of_each_kind(api, world, monkeypatch) -> None:
    monkeypatch.setattr(repository, "MAX_INPUTS_PER_KIND", 2)
    wo = world.work_order()
    first, _ = world.add_input("time", wo["id"]), world.add_input("time", wo["id"])
    status, refused = api.post(TIME, {**INPUT_BODIES["time"], "work_order": wo["id"]})
    assert status == 409
    assert (refused["detail"], refused["code"]) == ("A work order can have at most 2 time entries.", "too_many_inputs")
    assert len(world.items("time_entry")) == 2
    world.add_input("part", wo["id"])  # each kind has its own bound
    assert api.delete(f"{TIME}{first['id']}/").status == 204
    world.add_input("time", wo["id"])  # a delete frees a place
    assert api.post(TIME, {**INPUT_BODIES["time"], "work_order": wo["id"]}).status == 409
    (stored,) = world.items("work_order")
    assert (stored["time_entries_count"]["N"], stored["part_usages_count"]["N"]) == ("2", "1")


def test_the_event_clips_long_descriptions_and_the_inputs_keep_them(api, world) -> None:
    wo = world.work_order()
    long = "Coil cleaning, " + "x" * 985
    cost = world.add_input("external", wo["id"], description=long)
    world.action(wo["id"], "complete")
    (event,) = world.events()
    assert event["data"]["third_party"][0]["description"] == long[:500]
    assert api.get(f"{INPUT_PATHS['external']}{cost['id']}/").json["description"] == long


def _maximal_work_order() -> tuple[WorkOrderItem, WorkOrderInputs]:
    """A work order with every input it may hold, every text as long and as costly as allowed."""

    def text(length: int) -> str:
        return WORST_CHAR * length

    def common(number: int) -> dict[str, Any]:
        return {"id": f"{number:036d}", "work_order_id": MAX_ID, "created_at": NOW, "updated_at": NOW}

    work_order = WorkOrderItem(
        id=MAX_ID,
        number="OS2026039999",
        asset_id=MAX_ID,
        asset_tag=text(100),
        wo_type="CORRECTIVE",
        completed_at=NOW,
        cost_center_id="f" * 36,
    )
    count = range(MAX_INPUTS_PER_KIND)
    big = Decimal("9999999999.99")
    inputs = WorkOrderInputs(
        time_entries=[
            TimeEntryItem(
                **common(n),
                role=text(100),
                role_code=text(50),
                hours=Decimal("999999.99"),
                work_date="2026-03-10",
                hourly_rate=big,
                technician=MAX_ID,
                description=text(TEXT_MAX),
            )
            for n in count
        ],
        parts=[
            PartUsageItem(
                **common(n),
                part_name=text(200),
                part_number=text(100),
                quantity=Decimal("999999999.999"),
                unit=text(20),
                unit_cost=big,
            )
            for n in count
        ],
        external=[
            ExternalCostItem(
                **common(n),
                cost_type=text(50),
                supplier_name=text(200),
                description=text(TEXT_MAX),
                amount=Decimal("999999999999.99"),
                currency="BRL",
                invoice_number=text(100),
            )
            for n in count
        ],
    )
    return work_order, inputs


def test_the_event_of_a_maximal_work_order_fits_in_eventbridge() -> None:
    work_order, inputs = _maximal_work_order()
    data = logic.closed_event_data(work_order, inputs)
    envelope = new_event("acme", logic.CLOSED_EVENT, "work_order", MAX_ID, data, idempotency_key="k" * 100)
    size = entry_size(EventBusPublisher("climatrak-events").entry(envelope))
    assert size < EVENTBRIDGE_ENTRY_MAX, size
    # roles, amounts and ids stay whole: the cost engine prices every line
    assert len(data["labor"]) == len(data["parts"]) == len(data["third_party"]) == MAX_INPUTS_PER_KIND
    assert all(line["role"] == WORST_CHAR * 100 and line["hourly_rate"] == "9999999999.99" for line in data["labor"])
    assert all(line["amount"] == "999999999999.99" for line in data["third_party"])
