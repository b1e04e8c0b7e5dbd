"""Permissions and tenant isolation across every alerts route."""

from __future__ import annotations

from typing import Any

import pytest

from climatrak.alerts.items import AlertItem
from climatrak.alerts.records import raised_event
from climatrak.core.http import ROUTE_PERMISSIONS
from climatrak.core.identity import PERMISSIONS, Permission, Role
from functions.api import alerts_routes
from tests.integration.alerts_world import ALERTS, RULES, AlertsWorld

WO = "/api/cmms/work-orders/"


@pytest.fixture
def world(api, settings) -> dict[str, Any]:
    """Tenant acme with two rules, four active alerts (one per action) and a work order;
    tenant beta exists and is empty."""
    alerts = AlertsWorld.build(api, settings, with_beta=True)
    rule = alerts.rule()
    ids: dict[str, Any] = {"world": alerts, "asset": alerts.asset, "device": alerts.device, "rule": rule["id"]}
    ids["rule_to_delete"] = alerts.rule(name="Doomed")["id"]
    for name in ("to_acknowledge", "to_resolve", "to_link", "to_delete"):
        ids[name] = alerts.alert(rule)
    work_order = api.post(WO, {"asset": alerts.asset, "type": "CORRECTIVE", "description": "From an alert"})
    assert work_order.status == 201, work_order
    ids["work_order"] = work_order.json["id"]
    return ids


def _routes(ids: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(route function, method, path, body) for every alerts route, in an order that works."""
    rule = f"{RULES}{ids['rule']}/"
    parameter = {"parameter_key": "temp_supply", "operator": ">", "threshold": 30, "severity": "HIGH"}
    body = {"name": "Walk", "equipment": ids["asset"], "parameters": [parameter], "actions": ["IN_APP"]}
    return [
        ("list_rules", "GET", RULES, None),
        ("rule_statistics", "GET", f"{RULES}statistics/", None),
        ("create_rule", "POST", RULES, body),
        ("get_rule", "GET", rule, None),
        ("update_rule", "PATCH", rule, {"name": "Patched"}),
        ("replace_rule", "PUT", rule, {**body, "name": "Replaced"}),
        ("toggle_rule_status", "POST", f"{rule}toggle_status/", None),
        ("delete_rule", "DELETE", f"{RULES}{ids['rule_to_delete']}/", None),
        ("list_alerts", "GET", ALERTS, None),
        ("alert_statistics", "GET", f"{ALERTS}statistics/", None),
        ("get_alert", "GET", f"{ALERTS}{ids['to_acknowledge']}/", None),
        ("acknowledge_alert", "POST", f"{ALERTS}{ids['to_acknowledge']}/acknowledge/", {"notes": "seen"}),
        ("resolve_alert", "POST", f"{ALERTS}{ids['to_resolve']}/resolve/", {}),
        (
            "link_work_order",
            "POST",
            f"{ALERTS}{ids['to_link']}/link_work_order/",
            {"work_order_id": ids["work_order"]},
        ),
        ("delete_alert", "DELETE", f"{ALERTS}{ids['to_delete']}/", None),
    ]


def _permission_of(route_name: str) -> Permission:
    for func in alerts_routes.router._routes.values():
        if func.__name__ == route_name:
            return ROUTE_PERMISSIONS[func.__qualname__]
    raise AssertionError(f"no route {route_name}")


SAMPLE_IDS = {
    "asset": 1,
    "rule": 1,
    "rule_to_delete": 2,
    "to_acknowledge": 1,
    "to_resolve": 2,
    "to_link": 3,
    "to_delete": 4,
    "work_order": 1,
}


def test_the_walk_covers_every_alerts_route() -> None:
    declared = {func.__name__ for func in alerts_routes.router._routes.values()}
    assert declared == {name for name, *_ in _routes(SAMPLE_IDS)}


def test_the_permission_table_of_the_alerts() -> None:
    assert PERMISSIONS[Permission.ALERTS_READ] == frozenset(Role)
    assert PERMISSIONS[Permission.ALERTS_MANAGE] == {Role.OWNER, Role.ADMIN, Role.OPERATOR}
    for name, method, *_ in _routes(SAMPLE_IDS):
        expected = Permission.ALERTS_READ if method == "GET" else Permission.ALERTS_MANAGE
        assert _permission_of(name) == expected, name


@pytest.mark.parametrize("role", list(Role))
def test_every_route_with_every_role(api, world, role: Role) -> None:
    for name, method, path, body in _routes(world):
        permission = _permission_of(name)
        status, response = api.request(method, path, role=role.value, body=body)
        if role in PERMISSIONS[permission]:
            assert status in (200, 201, 204), (name, role, status, response)
        else:
            assert status == 403, (name, role, status)
            assert response["detail"] == "You do not have permission to perform this action."
    statistics = api.get(f"{ALERTS}statistics/", role=role.value).json
    if role in PERMISSIONS[Permission.ALERTS_MANAGE]:
        assert (statistics["total"], statistics["active"], statistics["acknowledged"]) == (3, 0, 2)
    else:  # nothing was written
        assert (statistics["total"], statistics["active"], statistics["acknowledged"]) == (4, 4, 0)


def _acme_reads(api, ids: dict[str, Any]) -> dict[str, Any]:
    """Every read of acme over the world's ids: what nothing done by beta may change."""
    reads = {path: api.get(path).json for name, method, path, _ in _routes(ids) if method == "GET"}
    for key in ("rule", "rule_to_delete"):
        reads[f"{RULES}{ids[key]}/"] = api.get(f"{RULES}{ids[key]}/").json
    for key in ("to_acknowledge", "to_resolve", "to_link", "to_delete"):
        reads[f"{ALERTS}{ids[key]}/"] = api.get(f"{ALERTS}{ids[key]}/").json
    assert all(isinstance(read, dict) and "detail" not in read for read in reads.values()), reads
    return reads


def test_another_tenant_gets_404_on_every_id_and_sees_no_rows(api, world) -> None:
    acme_before = _acme_reads(api, world)
    collections = {RULES, f"{RULES}statistics/", ALERTS, f"{ALERTS}statistics/"}
    with_ids = [route for route in _routes(world) if route[2] not in collections]
    assert len(with_ids) == 10
    for name, method, path, body in with_ids:
        status, response = api.request(method, path, tenant="beta", role="owner", body=body)
        assert status == 404, (name, status, response)
        assert response["detail"] == "Not found."
    # acme's asset in a rule body is not beta's: a field error, nothing written
    create = next(body for name, _, _, body in _routes(world) if name == "create_rule")
    refused = api.post(RULES, create, tenant="beta")
    assert refused.status == 400 and list(refused.json) == ["equipment"]
    empty = {"count": 0, "next": None, "previous": None, "results": []}
    for path in (RULES, ALERTS):
        assert api.get(path, tenant="beta").json == empty, path
    assert api.get(f"{ALERTS}statistics/", tenant="beta").json["total"] == 0
    assert api.get(f"{RULES}statistics/", tenant="beta").json["total"] == 0
    # a beta alert cannot be linked to acme's work order
    beta = world["world"].repo("beta")
    beta_alert = AlertItem(
        id=beta.new_alert_id(), triggered_at="2026-03-02T12:00:00.000Z", created_at="x", updated_at="x"
    )
    beta.raise_alert(beta_alert, raised_event("beta", beta_alert))
    linked = api.post(
        f"{ALERTS}{int(beta_alert.id)}/link_work_order/", {"work_order_id": world["work_order"]}, tenant="beta"
    )
    assert linked.status == 404 and linked.json["error"] == "Work order not found."
    # Nothing of acme changed: every read answers as before.
    assert _acme_reads(api, world) == acme_before
    assert acme_before[ALERTS]["count"] == 4 and acme_before[RULES]["count"] == 2
