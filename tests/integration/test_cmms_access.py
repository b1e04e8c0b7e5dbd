"""Permissions and tenant isolation across every CMMS route."""

from __future__ import annotations

from typing import Any

import pytest

from climatrak.core.http import ROUTE_PERMISSIONS
from climatrak.core.identity import PERMISSIONS, Permission, Role
from functions.api import cmms_routes
from tests.integration.cmms_world import INPUT_BODIES, INPUT_PATHS, CmmsWorld

# The walk's caller; the world's work orders are assigned to them, so a technician may execute.
USER_ID = 1
WO = "/api/cmms/work-orders/"


@pytest.fixture
def world(api, settings) -> dict[str, Any]:
    """Tenant acme with work orders (assigned to the walk's caller) and one input of each kind;
    tenant beta exists and is empty."""
    cmms = CmmsWorld.build(api, settings, with_beta=True)
    # the walk's time entry has no rate: post-costs prices it by the technician's rate card
    rate_card = {"role": "technician", "cost_per_hour": "80", "effective_from": "2020-01-01"}
    assert api.post("/api/trakledger/rate-cards/", rate_card).status == 201
    ids: dict[str, Any] = {"asset": cmms.asset}
    for name in ("wo", "to_cancel", "to_delete"):
        ids[name] = cmms.work_order(assigned_to=USER_ID)["id"]
    for kind in ("time", "part", "external"):
        ids[kind] = cmms.add_input(kind, ids["wo"])["id"]
    return ids


def _routes(ids: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(route function, method, path, body) for every CMMS route, in an order that works."""
    wo = ids["wo"]
    time, part, external = INPUT_PATHS["time"], INPUT_PATHS["part"], INPUT_PATHS["external"]
    return [
        ("list_work_orders", "GET", WO, None),
        ("work_order_stats", "GET", f"{WO}stats/", None),
        ("create_work_order", "POST", WO, {"asset": ids["asset"], "description": "new"}),
        ("get_work_order", "GET", f"{WO}{wo}/", None),
        ("update_work_order", "PATCH", f"{WO}{wo}/", {"priority": "HIGH"}),
        ("start_work_order", "POST", f"{WO}{wo}/start/", {}),
        ("list_time_entries", "GET", time, None),
        # no hourly rate: only managers set one
        ("create_time_entry", "POST", time, {**INPUT_BODIES["time"], "hourly_rate": None, "work_order": wo}),
        ("get_time_entry", "GET", f"{time}{ids['time']}/", None),
        ("update_time_entry", "PATCH", f"{time}{ids['time']}/", {"hours": "3"}),
        ("delete_time_entry", "DELETE", f"{time}{ids['time']}/", None),
        ("list_part_usages", "GET", part, None),
        ("create_part_usage", "POST", part, {**INPUT_BODIES["part"], "work_order": wo}),
        ("get_part_usage", "GET", f"{part}{ids['part']}/", None),
        ("update_part_usage", "PATCH", f"{part}{ids['part']}/", {"quantity": "3"}),
        ("delete_part_usage", "DELETE", f"{part}{ids['part']}/", None),
        ("list_external_costs", "GET", external, None),
        ("create_external_cost", "POST", external, {**INPUT_BODIES["external"], "work_order": wo}),
        ("get_external_cost", "GET", f"{external}{ids['external']}/", None),
        ("update_external_cost", "PATCH", f"{external}{ids['external']}/", {"amount": "310"}),
        ("delete_external_cost", "DELETE", f"{external}{ids['external']}/", None),
        ("complete_work_order", "POST", f"{WO}{wo}/complete/", {"actual_hours": 1}),
        ("post_work_order_costs", "POST", f"{WO}{wo}/post-costs/", None),
        ("cancel_work_order", "POST", f"{WO}{ids['to_cancel']}/cancel/", {"reason": "duplicate"}),
        ("delete_work_order", "DELETE", f"{WO}{ids['to_delete']}/", None),
    ]


def _permission_of(route_name: str) -> Permission:
    for func in cmms_routes.router._routes.values():
        if func.__name__ == route_name:
            return ROUTE_PERMISSIONS[func.__qualname__]
    raise AssertionError(f"no route {route_name}")


SAMPLE_IDS = {"asset": 1, "wo": 1, "to_cancel": 2, "to_delete": 3, "time": "t", "part": "p", "external": "e"}


def test_the_walk_covers_every_cmms_route() -> None:
    declared = {func.__name__ for func in cmms_routes.router._routes.values()}
    assert declared == {name for name, *_ in _routes(SAMPLE_IDS)}


def test_the_permission_table_of_the_cmms() -> None:
    assert PERMISSIONS[Permission.CMMS_READ] == frozenset(Role)
    assert PERMISSIONS[Permission.WORK_ORDER_MANAGE] == {Role.OWNER, Role.ADMIN, Role.OPERATOR}
    assert PERMISSIONS[Permission.WORK_ORDER_EXECUTE] == {Role.OWNER, Role.ADMIN, Role.OPERATOR, Role.TECHNICIAN}
    writes = {name for name, method, *_ in _routes(SAMPLE_IDS) if method != "GET"}
    assert all(_permission_of(name) != Permission.CMMS_READ for name in writes)


@pytest.mark.parametrize("role", list(Role))
def test_every_route_with_every_role(api, world, role: Role) -> None:
    for name, method, path, body in _routes(world):
        permission = _permission_of(name)
        status, response = api.request(method, path, role=role.value, user_id=USER_ID, body=body)
        if role in PERMISSIONS[permission]:
            assert status in (200, 201, 204), (name, role, status, response)
        else:
            assert status == 403, (name, role, status)
            assert response["detail"] == "You do not have permission to perform this action."


def _acme_reads(api, ids: dict[str, Any]) -> dict[str, Any]:
    """Every read route of acme over the world's ids: what nothing done by beta may change."""
    reads = {path: api.get(path).json for name, method, path, _ in _routes(ids) if method == "GET"}
    for key in ("wo", "to_cancel", "to_delete"):
        reads[f"{WO}{ids[key]}/"] = api.get(f"{WO}{ids[key]}/").json
    for path in INPUT_PATHS.values():
        reads[f"{path}?work_order"] = api.get(path, query={"work_order": str(ids["wo"])}).json
    reads["asset"] = api.get(f"/api/assets/{ids['asset']}/").json
    assert all(isinstance(read, dict) and "detail" not in read for read in reads.values()), reads
    return reads


def test_another_tenant_gets_404_on_every_id_and_sees_no_rows(api, world) -> None:
    acme_before = _acme_reads(api, world)
    collections = {WO, f"{WO}stats/", *INPUT_PATHS.values()}
    with_ids = [route for route in _routes(world) if route[2] not in collections]
    assert len(with_ids) == 16
    for name, method, path, body in with_ids:
        status, response = api.request(method, path, tenant="beta", role="owner", body=body)
        assert status == 404, (name, status, response)
        assert response["detail"] == "Not found."
    # acme's work order id in a body is not beta's either: a field error, nothing written
    for kind, path in INPUT_PATHS.items():
        status, response = api.post(path, {**INPUT_BODIES[kind], "work_order": world["wo"]}, tenant="beta")
        assert status == 400 and list(response) == ["work_order"], (kind, response)
    assert api.post(WO, {"asset": world["asset"]}, tenant="beta").status == 400
    empty = {"count": 0, "next": None, "previous": None, "results": []}
    for path in (WO, *INPUT_PATHS.values()):
        assert api.get(path, tenant="beta").json == empty, path
        assert api.get(path, tenant="beta", query={"work_order": str(world["wo"])}).json == empty, path
    assert api.get(f"{WO}stats/", tenant="beta").json["total"] == 0
    # Nothing of acme changed: every read answers as before.
    assert _acme_reads(api, world) == acme_before
    assert acme_before[f"{WO}{world['wo']}/"]["status"] == "OPEN"
    assert acme_before[WO]["count"] == 3 and acme_before[INPUT_PATHS["time"]]["count"] == 1


def test_a_technician_token_for_another_users_work_order_is_403_but_reads_work(api, world) -> None:
    other = {"role": "technician", "user_id": USER_ID + 1}
    assert api.post(f"{WO}{world['wo']}/start/", {}, **other).status == 403
    assert api.get(f"{WO}{world['wo']}/", **other).status == 200
    assert api.get(INPUT_PATHS["time"], **other).json["count"] == 1
