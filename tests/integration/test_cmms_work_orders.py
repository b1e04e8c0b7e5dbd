"""Work orders (API.md §3.1, §7): shapes, numbers, enums, filters, ordering, stats, transitions,
versions and deletion."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from climatrak.cmms import logic
from climatrak.cmms.repository import CmmsRepository
from climatrak.ledger.items import default_cost_center_id
from tests.integration.cmms_world import CmmsWorld

WO = "/api/cmms/work-orders/"
EMPTY_PAGE = {"count": 0, "next": None, "previous": None, "results": []}
LIST_KEYS = {
    "id", "number", "asset", "asset_tag", "asset_name", "site_name", "type", "status", "priority", "description",
    "scheduled_date", "completed_at", "assigned_to", "assigned_to_name", "is_overdue", "created_at", "updated_at",
    "version",
}  # fmt: skip
DETAIL_KEYS = LIST_KEYS | {
    "execution_description", "started_at", "created_by", "created_by_name", "assigned_role", "estimated_hours",
    "actual_hours", "checklist_template", "checklist_template_name", "checklist_template_items",
    "checklist_responses", "photos", "items", "request", "maintenance_plan", "cancellation_reason", "signature",
    "signed_by", "signed_at",
}  # fmt: skip


# The server's clock in the tests that depend on "today": 23:30 on 10 March in São Paulo, when
# it is already 11 March in UTC (so a server that took the UTC date would be caught).
NOW = datetime(2026, 3, 11, 2, 30, tzinfo=UTC)


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return NOW.astimezone(tz) if tz else NOW.replace(tzinfo=None)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The CMMS logic's clock stands still at NOW (its "today" and its timestamps)."""
    monkeypatch.setattr(logic, "datetime", _FrozenDatetime)
    monkeypatch.setattr(logic, "utc_now_iso", lambda: NOW.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    return NOW


def _today(offset_days: int = 0) -> str:
    """A day relative to the frozen clock's date in the tenant's zone."""
    return (NOW.astimezone(ZoneInfo("America/Sao_Paulo")).date() + timedelta(days=offset_days)).isoformat()


@pytest.fixture
def world(api, settings) -> CmmsWorld:
    return CmmsWorld.build(api, settings)


def test_create_returns_the_detail_shape_with_registry_names_and_server_fields(api, world) -> None:
    status, created = api.post(
        WO,
        {
            "asset": world.asset,
            "type": "PREVENTIVE",
            "priority": "HIGH",
            "description": "Quarterly PM",
            "scheduled_date": "2030-01-15",
            "assigned_to": 7,
            "assigned_to_name": "Ana Tech",
            "estimated_hours": "1.5",
        },
        user_id=3,
    )
    assert status == 201
    assert set(created) == DETAIL_KEYS
    assert created["number"].startswith("OS") and len(created["number"]) == 12
    assert (
        created["asset_tag"] == "CH-001" and created["asset_name"] == "Chiller 1" and created["site_name"] == "Plant 1"
    )
    assert (created["type"], created["priority"], created["status"]) == ("PREVENTIVE", "HIGH", "OPEN")
    assert created["assigned_to"] == 7 and created["assigned_to_name"] == "Ana Tech"
    assert created["assigned_role"] == "technician" and created["estimated_hours"] == "1.50"
    assert created["created_by"] == 3 and created["created_by_name"] == "user@example.com"
    assert created["is_overdue"] is False and created["started_at"] is None and created["completed_at"] is None
    # checklists, photos and WO items belong to other modules: empty until they land
    assert created["checklist_template_items"] is None and created["checklist_responses"] == []
    assert created["photos"] == [] and created["items"] == []
    assert api.get(f"{WO}{created['id']}/").json == created


def test_numbers_are_os_yyyymm_and_a_sequence_per_tenant_local_month(api, world, monkeypatch) -> None:
    # 02:00 UTC on 1 March is still 28 February in São Paulo.
    monkeypatch.setattr(logic, "utc_now_iso", lambda: "2026-03-01T02:00:00.000Z")
    first, second = world.work_order(), world.work_order()
    monkeypatch.setattr(logic, "utc_now_iso", lambda: "2026-03-01T04:00:00.000Z")
    third = world.work_order()
    assert [first["number"], second["number"], third["number"]] == ["OS2026020001", "OS2026020002", "OS2026030001"]
    assert [first["id"], second["id"], third["id"]] == [1, 2, 3]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "REPAIR"),
        ("priority", "URGENT"),
        ("status", "DONE"),
        ("status", "COMPLETED"),
        ("estimated_hours", "-1"),
    ],
)
def test_invalid_values_are_field_errors(api, world, field, value) -> None:
    status, body = api.post(WO, {"asset": world.asset, "description": "x", field: value})
    assert status == 400 and list(body) == [field]
    assert api.get(WO).json == EMPTY_PAGE


def test_an_unknown_asset_is_a_field_error(api, world) -> None:
    assert api.post(WO, {"asset": 999, "description": "x"}) == (
        400,
        {"asset": ['Invalid pk "999" - object does not exist.']},
    )


def test_list_is_a_drf_page_of_list_items_newest_first(api, world) -> None:
    ids = [world.work_order()["id"] for _ in range(3)]
    status, page = api.get(WO, query={"page_size": "2"})
    assert status == 200 and page["count"] == 3
    assert [row["id"] for row in page["results"]] == ids[::-1][:2]
    assert set(page["results"][0]) == LIST_KEYS
    assert page["next"] == "https://testserver/api/cmms/work-orders/?page_size=2&page=2"


def test_filters_of_the_contract(api, world) -> None:
    a = world.work_order(type="PREVENTIVE", priority="LOW", scheduled_date="2026-01-10", assigned_to=7)
    b = world.work_order(
        type="CORRECTIVE", priority="CRITICAL", scheduled_date="2026-02-10", description="Leak at valve"
    )
    c = world.work_order(asset=world.other_asset, type="EMERGENCY", priority="HIGH")
    world.action(b["id"], "start")

    def ids(**query: str) -> list[int]:
        status, page = api.get(WO, query=query)
        assert status == 200, page
        return sorted(row["id"] for row in page["results"])

    assert ids(status="IN_PROGRESS") == [b["id"]]
    assert ids(status__in="OPEN,IN_PROGRESS") == [a["id"], b["id"], c["id"]]
    assert ids(type="PREVENTIVE") == [a["id"]]
    assert ids(type__in="PREVENTIVE,EMERGENCY") == [a["id"], c["id"]]
    assert ids(priority__in="CRITICAL,HIGH") == [b["id"], c["id"]]
    assert ids(priority="LOW") == [a["id"]]
    assert ids(asset=str(world.other_asset)) == [c["id"]]
    assert ids(assigned_to="7") == [a["id"]]
    assert ids(scheduled_date="2026-02-10") == [b["id"]]
    assert ids(scheduled_date__gte="2026-01-11") == [b["id"]]
    assert ids(scheduled_date__lte="2026-01-10") == [a["id"]]
    assert ids(search="leak") == [b["id"]]
    assert ids(search="ahu-002") == [c["id"]]  # the asset's tag
    assert ids(search=b["number"]) == [b["id"]]
    assert ids(unknown="x") == [a["id"], b["id"], c["id"]]  # unknown params are ignored


@pytest.mark.parametrize(
    ("param", "value"),
    [("status", "DONE"), ("status__in", "OPEN,DONE"), ("type__in", "X"), ("priority", "urgent"), ("asset", "abc")],
)
def test_an_invalid_filter_value_is_a_400_naming_the_parameter(api, world, param, value) -> None:
    status, body = api.get(WO, query={param: value})
    assert status == 400 and list(body) == [param]


def test_ordering_by_priority_scheduled_date_and_number(api, world) -> None:
    low = world.work_order(priority="LOW", scheduled_date="2026-03-01")
    critical = world.work_order(priority="CRITICAL")
    medium = world.work_order(priority="MEDIUM", scheduled_date="2026-01-01")
    high = world.work_order(priority="HIGH", scheduled_date="2026-02-01")

    def order(ordering: str) -> list[int]:
        return [row["id"] for row in api.get(WO, query={"ordering": ordering}).json["results"]]

    assert order("priority") == [low["id"], medium["id"], high["id"], critical["id"]]
    assert order("-priority") == [critical["id"], high["id"], medium["id"], low["id"]]
    # nulls last ascending, first descending
    assert order("scheduled_date") == [medium["id"], high["id"], low["id"], critical["id"]]
    assert order("-scheduled_date") == [critical["id"], low["id"], high["id"], medium["id"]]
    assert order("number") == [low["id"], critical["id"], medium["id"], high["id"]]
    assert order("-created_at") == order("nonsense") == [high["id"], medium["id"], critical["id"], low["id"]]


def test_overdue_means_open_or_in_progress_and_scheduled_before_today_in_the_tenant_zone(
    api, world, frozen_clock
) -> None:
    assert _today() == "2026-03-10"  # still the 10th in São Paulo, the 11th in UTC
    late = world.work_order(scheduled_date=_today(-1))
    today = world.work_order(scheduled_date=_today())
    late_done = world.work_order(scheduled_date=_today(-3))
    world.action(late_done["id"], "complete")
    assert late["is_overdue"] is True and today["is_overdue"] is False
    rows = {row["id"]: row["is_overdue"] for row in api.get(WO).json["results"]}
    assert rows == {late["id"]: True, today["id"]: False, late_done["id"]: False}


def test_stats_has_every_key_even_when_empty(api, world) -> None:
    assert api.get(f"{WO}stats/").json == {
        "total": 0,
        "open": 0,
        "in_progress": 0,
        "completed": 0,
        "cancelled": 0,
        "overdue": 0,
        "by_type": {"preventive": 0, "corrective": 0, "predictive": 0, "emergency": 0, "request": 0},
        "by_priority": {"low": 0, "medium": 0, "high": 0, "critical": 0},
    }


def test_stats_counts(api, world, frozen_clock) -> None:
    world.work_order(type="PREVENTIVE", priority="LOW", scheduled_date=_today(-2))
    started = world.work_order(type="PREVENTIVE", priority="HIGH")
    done = world.work_order(type="EMERGENCY", priority="CRITICAL")
    cancelled = world.work_order(type="REQUEST")
    world.action(started["id"], "start")
    world.action(done["id"], "complete")
    world.action(cancelled["id"], "cancel", {"reason": "duplicate"})
    stats = api.get(f"{WO}stats/").json
    assert (stats["total"], stats["open"], stats["in_progress"], stats["completed"], stats["cancelled"]) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert stats["overdue"] == 1
    assert stats["by_type"] == {"preventive": 2, "corrective": 0, "predictive": 0, "emergency": 1, "request": 1}
    assert stats["by_priority"] == {"low": 1, "medium": 1, "high": 1, "critical": 1}
    assert api.get(f"{WO}stats/", query={"type": "PREVENTIVE"}).json["total"] == 2


def test_start_complete_and_cancel_follow_the_status_machine(api, world) -> None:
    wo = world.work_order()
    status, started = world.action(wo["id"], "start", {})
    assert status == 200 and started["status"] == "IN_PROGRESS" and started["started_at"]
    status, again = world.action(wo["id"], "start")
    assert status == 400 and again == {
        "detail": "Only open work orders can be started.",
        "error": "Only open work orders can be started.",
        "code": "invalid_transition",
    }
    status, done = world.action(
        wo["id"], "complete", {"execution_description": "Replaced belt", "checklist_responses": []}
    )
    assert status == 200 and done["status"] == "COMPLETED" and done["completed_at"]
    assert done["execution_description"] == "Replaced belt"
    assert world.action(wo["id"], "complete").status == 400
    assert world.action(wo["id"], "cancel", {"reason": "late"}).json["error"] == logic.CANNOT_CANCEL

    open_wo = world.work_order()
    assert world.action(open_wo["id"], "complete").json["status"] == "COMPLETED"  # from OPEN too


def test_cancel_needs_a_reason_and_works_from_any_non_final_status(api, world) -> None:
    wo = world.work_order()
    for body in ({}, {"reason": "  "}, None):
        status, refused = world.action(wo["id"], "cancel", body)
        assert status == 400 and refused["code"] == "reason_required"
    world.action(wo["id"], "start")
    status, cancelled = world.action(wo["id"], "cancel", {"reason": "Duplicate of OS-7"})
    assert status == 200 and cancelled["status"] == "CANCELLED"
    assert cancelled["cancellation_reason"] == "Duplicate of OS-7"
    assert world.action(wo["id"], "start").status == 400
    assert world.action(wo["id"], "complete").status == 400


def test_actions_accept_a_missing_body(api, world) -> None:
    wo = world.work_order()
    status, started = api.request("POST", f"{WO}{wo['id']}/start/")
    assert status == 200 and started["status"] == "IN_PROGRESS"
    status, done = api.request("POST", f"{WO}{wo['id']}/complete/")
    assert status == 200 and done["status"] == "COMPLETED"


def test_start_can_assign(api, world) -> None:
    wo = world.work_order()
    status, started = world.action(
        wo["id"], "start", {"assigned_to": 9, "assigned_to_name": "Bia", "assigned_role": "electrician"}
    )
    assert status == 200
    assert (started["assigned_to"], started["assigned_to_name"], started["assigned_role"]) == (9, "Bia", "electrician")


def test_patch_changes_fields_and_clears_with_null(api, world) -> None:
    wo = world.work_order(scheduled_date="2026-05-01", assigned_to=7, assigned_to_name="Ana")
    status, patched = api.patch(
        f"{WO}{wo['id']}/",
        {"priority": "CRITICAL", "scheduled_date": None, "assigned_to": None, "asset": world.other_asset},
    )
    assert status == 200
    assert patched["priority"] == "CRITICAL" and patched["scheduled_date"] is None and patched["assigned_to"] is None
    assert patched["asset"] == world.other_asset and patched["asset_tag"] == "AHU-002"
    assert patched["number"] == wo["number"] and patched["created_at"] == wo["created_at"]
    assert api.patch(f"{WO}{wo['id']}/", {"type": None}) == (400, {"type": ["This field may not be null."]})
    assert api.patch(f"{WO}{wo['id']}/", {"asset": 999}).status == 400
    assert api.patch(f"{WO}{wo['id']}/", {"completed_at": "2026-01-01T10:00"}).status == 400


def test_patch_status_follows_the_same_rules_as_the_actions(api, world, monkeypatch) -> None:
    monkeypatch.setattr(logic, "utc_now_iso", lambda: "2026-03-10T12:00:00.000Z")
    wo = world.work_order()
    path = f"{WO}{wo['id']}/"
    assert api.patch(path, {"status": "IN_PROGRESS"}).json["status"] == "IN_PROGRESS"
    assert api.patch(path, {"status": "OPEN"}).status == 400
    assert api.patch(path, {"status": "CANCELLED"}).json["code"] == "reason_required"
    monkeypatch.setattr(logic, "utc_now_iso", lambda: "2026-03-11T00:00:00.000Z")
    status, done = api.patch(path, {"status": "COMPLETED", "actual_hours": 2, "completed_at": "2026-03-10T17:30"})
    assert status == 200 and done["status"] == "COMPLETED" and done["actual_hours"] == "2.00"
    assert done["completed_at"] == "2026-03-10T20:30:00.000Z"  # naive = São Paulo time
    assert len(world.events()) == 1  # PATCH to COMPLETED completes: the event is written
    assert api.patch(path, {"status": "CANCELLED", "cancellation_reason": "x"}).status == 400


def test_a_completed_work_order_accepts_only_texts_and_the_signature(api, world) -> None:
    wo = world.work_order()
    world.action(wo["id"], "complete")
    path = f"{WO}{wo['id']}/"
    status, signed = api.patch(
        path, {"signature": "data:image/png;base64,AAA", "signed_by": "Client", "description": "ok"}
    )
    assert status == 200 and signed["signed_by"] == "Client" and signed["description"] == "ok"
    # sending unchanged values back (the whole form) is fine
    assert api.patch(path, {"priority": "MEDIUM", "asset": world.asset}).status == 200
    status, refused = api.patch(path, {"priority": "HIGH"})
    assert status == 409 and refused["code"] == "work_order_closed"
    assert api.get(path).json["priority"] == "MEDIUM"


def test_a_stale_update_is_a_409(api, world, settings, monkeypatch) -> None:
    wo = world.work_order()
    original_get = CmmsRepository.get_work_order
    interfered: list[bool] = []

    def get_then_someone_else_writes(self, work_order_id):  # type: ignore[no-untyped-def]
        item = original_get(self, work_order_id)
        if not interfered:
            interfered.append(True)
            other = original_get(self, work_order_id)
            other.description = "changed meanwhile"
            self.save_work_order(other)
        return item

    monkeypatch.setattr(CmmsRepository, "get_work_order", get_then_someone_else_writes)
    status, body = api.patch(f"{WO}{wo['id']}/", {"description": "mine"})
    assert status == 409 and body["code"] == "conflict"
    monkeypatch.undo()
    assert api.get(f"{WO}{wo['id']}/").json["description"] == "changed meanwhile"


def test_delete_removes_the_work_order_and_its_inputs_unless_completed(api, world) -> None:
    wo = world.work_order()
    world.add_input("time", wo["id"])
    world.add_input("part", wo["id"])
    assert api.delete(f"{WO}{wo['id']}/") == (204, None)
    assert api.get(f"{WO}{wo['id']}/").status == 404
    assert world.items("time_entry") == [] and world.items("part_usage") == []

    cancelled = world.work_order()
    world.action(cancelled["id"], "cancel", {"reason": "dup"})
    assert api.delete(f"{WO}{cancelled['id']}/").status == 204

    done = world.work_order()
    world.action(done["id"], "complete")
    status, refused = api.delete(f"{WO}{done['id']}/")
    assert status == 409 and refused["detail"] == "A completed work order cannot be deleted."
    assert api.get(f"{WO}{done['id']}/").status == 200


def test_unknown_and_malformed_ids_are_404(api, world) -> None:
    for path in (f"{WO}999/", f"{WO}abc/", f"{WO}999/start/"):
        method = "POST" if path.endswith("start/") else "GET"
        status, body = api.request(method, path)
        assert status == 404 and body["detail"] == "Not found.", path


def test_cost_center_filter_uses_the_asset_then_the_site_then_the_default(api, world) -> None:
    own = world.cost_center("OWN")
    site_cc = world.cost_center("SITE")
    api.patch(f"/api/assets/{world.asset}/", {"cost_center": own})
    api.patch(f"/api/sites/{world.site}/", {"cost_center": site_cc})
    bare_site = api.post("/api/sites/", {"name": "Plant 2"}).json["id"]  # no cost centre on site or asset
    bare_asset = api.post("/api/assets/", {"tag": "FC-003", "name": "Fan coil", "site": bare_site, "asset_type": "FCU"})
    assert bare_asset.status == 201, bare_asset
    first = world.work_order()
    second = world.work_order(asset=world.other_asset)
    third = world.work_order(asset=bare_asset.json["id"])

    def ids(cost_center: str) -> list[int]:
        return [row["id"] for row in api.get(WO, query={"cost_center": cost_center}).json["results"]]

    assert ids(own) == [first["id"]]
    assert ids(site_cc) == [second["id"]]
    assert ids(default_cost_center_id("acme")) == [third["id"]]


# ---- client-side optimistic concurrency (version / If-Match / ETag) ----------------------------


def _stale(version: int) -> dict[str, str]:
    message = f"This work order was changed by someone else (version {version}); reload it and try again."
    return {"detail": message, "error": message, "code": "stale_version"}


def test_patch_with_the_current_version_succeeds_and_the_version_increases(api, world) -> None:
    wo = world.work_order()
    status, body = api.patch(f"{WO}{wo['id']}/", {"description": "mine", "version": wo["version"]})
    assert status == 200 and body["description"] == "mine"
    assert body["version"] > wo["version"]
    assert api.get(f"{WO}{wo['id']}/").json["version"] == body["version"]
    assert api.get(WO).json["results"][0]["version"] == body["version"]


def test_patch_with_an_older_version_is_a_409_and_changes_nothing(api, world) -> None:
    wo = world.work_order()
    current = api.patch(f"{WO}{wo['id']}/", {"description": "someone else's"}).json
    status, body = api.patch(f"{WO}{wo['id']}/", {"description": "mine", "version": wo["version"]})
    assert status == 409 and body == _stale(current["version"])
    assert api.get(f"{WO}{wo['id']}/").json == current


def test_the_if_match_header_guards_the_actions_the_same_way(api, world) -> None:
    wo = world.work_order()
    current = api.patch(f"{WO}{wo['id']}/", {"priority": "HIGH"}).json
    stale = world.action(wo["id"], "complete", headers={"If-Match": f'"{wo["version"]}"'})
    assert stale.status == 409 and stale.json == _stale(current["version"])
    assert api.get(f"{WO}{wo['id']}/").json == current
    assert world.action(wo["id"], "cancel", {"reason": "x"}, headers={"If-Match": str(wo["version"])}).status == 409

    status, done = world.action(wo["id"], "complete", headers={"If-Match": f'W/"{current["version"]}"'})
    assert status == 200 and done["status"] == "COMPLETED" and done["version"] > current["version"]


def test_if_match_on_patch_and_start_and_a_malformed_value(api, world) -> None:
    wo = world.work_order()
    path = f"{WO}{wo['id']}/"
    assert api.patch(path, {"description": "x"}, headers={"If-Match": f'"{wo["version"] + 1}"'}).status == 409
    assert world.action(wo["id"], "start", headers={"If-Match": f'"{wo["version"] + 1}"'}).status == 409
    bad = api.patch(path, {"description": "x"}, headers={"If-Match": "abc"})
    assert bad.status == 400 and bad.json["code"] == "invalid_if_match"
    assert api.get(path).json == wo
    status, started = world.action(wo["id"], "start", headers={"If-Match": f'"{wo["version"]}"'})
    assert status == 200 and started["status"] == "IN_PROGRESS"


def test_without_a_version_the_last_write_wins_as_before(api, world) -> None:
    wo = world.work_order()
    api.patch(f"{WO}{wo['id']}/", {"description": "first"})
    status, body = api.patch(f"{WO}{wo['id']}/", {"description": "second"})
    assert status == 200 and body["description"] == "second"
    assert world.action(wo["id"], "start", headers={"If-Match": "*"}).status == 200
    assert world.action(wo["id"], "complete").json["status"] == "COMPLETED"


def test_work_order_details_carry_the_version_as_etag(api, world) -> None:
    from functions.api.handler import handler
    from tests.integration.conftest import LambdaContextStub

    def call(method: str, path: str, body: object = None) -> tuple[dict[str, str], dict[str, object]]:
        response = handler(api.event(method, path, body=body), LambdaContextStub())  # type: ignore[arg-type]
        headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers.setdefault(name.lower(), values[0])
        return headers, json.loads(response["body"])

    wo = world.work_order()
    path = f"{WO}{wo['id']}/"
    for method, url, body in (
        ("GET", path, None),
        ("PATCH", path, {"description": "x"}),
        ("POST", f"{path}start/", {}),
        ("POST", f"{path}complete/", {}),
    ):
        headers, detail = call(method, url, body)
        assert headers["etag"] == f'"{detail["version"]}"', (method, url)
