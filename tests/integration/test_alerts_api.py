"""Alerts over the API (API.md §4.6): listing (filters, pages, counts), statistics, and the
lifecycle actions with their events, counters and work-order links."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from climatrak.alerts import logic
from climatrak.alerts.records import BY_WORK_ORDER
from climatrak.core.errors import Conflict, DomainError, NotFound
from tests.integration.alerts_world import ALERTS, RULES, AlertsWorld


@pytest.fixture
def world(api, settings) -> AlertsWorld:
    return AlertsWorld.build(api, settings)


def _statistics(api) -> dict[str, Any]:
    status, statistics = api.get(f"{ALERTS}statistics/")
    assert status == 200, statistics
    return dict(statistics)


def _work_order(api, world: AlertsWorld) -> dict[str, Any]:
    body = {"asset": world.asset, "type": "CORRECTIVE", "priority": "HIGH", "description": "Check the chiller"}
    status, created = api.post("/api/cmms/work-orders/", body)
    assert status == 201, created
    return dict(created)


# ---- reading ----------------------------------------------------------------------------------


def test_an_alert_reads_as_the_contract_shows_it(api, world) -> None:
    rule = world.rule()
    alert_id = world.alert(rule, severity="Critical", value=27.25)
    status, alert = api.get(f"{ALERTS}{alert_id}/")
    assert status == 200, alert
    assert alert == {
        "id": alert_id,
        "rule": rule["id"],
        "rule_name": "Supply too warm",
        "equipment_name": "Chiller 1",
        "message": "temp_supply está maior que 25°C (valor atual: 27.25°C)",
        "severity": "Critical",
        "severity_display": "Crítico",
        "asset_tag": "CH-001",
        "parameter_key": "temp_supply",
        "parameter_value": 27.25,
        "threshold": 25,
        "triggered_at": "2026-03-02T12:05:00.000Z",
        "acknowledged": False,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "acknowledged_by_email": None,
        "resolved": False,
        "resolved_at": None,
        "resolved_by": None,
        "resolved_by_email": None,
        "work_order": None,
        "work_order_number": None,
        "notes": "",
        "is_active": True,
        "status": "active",
        "asset": world.asset,
        "site": world.site,
        "resolution": None,
        "kind": "threshold",
        "unit": "°C",
        "operator": ">",
    }
    raised = world.events("alert.raised")
    assert [event["data"]["alert_id"] for event in raised] == [alert_id]
    assert api.get(f"{ALERTS}{alert_id + 1}/").status == 404
    assert api.get(f"{ALERTS}abc/").status == 404


def test_an_alert_of_a_deleted_rule_says_so(api, world) -> None:
    rule = world.rule()
    alert_id = world.alert(rule)
    assert api.delete(f"{RULES}{rule['id']}/").status == 204
    alert = api.get(f"{ALERTS}{alert_id}/").json
    assert (alert["rule"], alert["rule_name"]) == (None, "(Regra Deletada)")
    assert api.get(ALERTS).json["results"][0]["rule_name"] == "(Regra Deletada)"


def test_list_filters(api, world) -> None:
    rule = world.rule()
    other_rule = world.rule(name="Other")
    early = world.alert(rule, severity="Critical", triggered_at="2026-03-01T10:00:00.000Z")
    middle = world.alert(other_rule, severity="Low", triggered_at="2026-03-02T10:00:00.000Z")
    late = world.alert(
        rule, severity="Critical", triggered_at="2026-03-03T10:00:00.000Z", asset=world.other_asset, asset_tag="AHU-002"
    )
    api.post(f"{ALERTS}{middle}/acknowledge/")

    def ids(**query: str) -> list[int]:
        status, listed = api.get(ALERTS, query=query)
        assert status == 200, listed
        assert listed["count"] == len(listed["results"]), listed
        return [alert["id"] for alert in listed["results"]]

    assert ids() == [late, middle, early]
    assert ids(status="active") == [late, early]
    assert ids(status="acknowledged") == [middle]
    assert ids(status="resolved") == []
    assert ids(severity="CRITICAL") == ids(severity="critical") == [late, early]
    assert ids(rule_id=str(other_rule["id"])) == [middle]
    assert ids(asset_tag="ahu") == [late]
    assert ids(asset_tag="-00") == [late, middle, early]
    assert ids(asset=str(world.asset)) == [middle, early]
    assert ids(site=str(world.site)) == [late, middle, early]
    assert ids(site="999") == []
    assert ids(triggered_after="2026-03-02T00:00:00Z") == [late, middle]
    assert ids(triggered_before="2026-03-02T10:00:00.000Z") == [early]
    assert ids(triggered_after="2026-03-02T06:00:00-03:00", triggered_before="2026-03-03") == [middle]
    assert ids(status="active", severity="critical", asset_tag="CH") == [early]
    for name, value in (
        ("status", "open"),
        ("severity", "urgent"),
        ("triggered_after", "yesterday"),
        ("rule_id", "x"),
    ):
        status, response = api.get(ALERTS, query={name: value})
        assert status == 400 and list(response) == [name], (name, response)


def _walk(api, query: dict[str, str]) -> tuple[list[int], list[int]]:
    """Every page's ids following `next`, then back along `previous`; also checks the counts."""
    forward: list[int] = []
    status, listed = api.get(ALERTS, query=query)
    assert status == 200, listed
    total = listed["count"]
    pages = [listed]
    while listed["next"]:
        link = urlsplit(listed["next"])
        assert link.scheme == "https" and link.path == ALERTS
        listed = api.get(ALERTS, query=dict(parse_qsl(link.query))).json
        assert listed["count"] == total
        pages.append(listed)
    for page in pages:
        forward.extend(alert["id"] for alert in page["results"])
    backward: list[int] = [alert["id"] for alert in listed["results"]]
    while listed["previous"]:
        listed = api.get(ALERTS, query=dict(parse_qsl(urlsplit(listed["previous"]).query))).json
        backward = [alert["id"] for alert in listed["results"]] + backward
    assert total == len(forward)
    return forward, backward


def test_pages_follow_next_and_previous_links_newest_first(api, world) -> None:
    rule = world.rule()
    created = [world.alert(rule, triggered_at=f"2026-03-02T12:{minute:02d}:00.000Z") for minute in range(7)]
    api.post(f"{ALERTS}{created[3]}/resolve/")
    newest_first = list(reversed(created))

    forward, backward = _walk(api, {"page_size": "3"})
    assert forward == backward == newest_first
    active = [alert for alert in newest_first if alert != created[3]]
    forward, backward = _walk(api, {"page_size": "2", "status": "active"})
    assert forward == backward == active
    # with a filter the count is of the matching alerts
    forward, _ = _walk(api, {"page_size": "4", "triggered_after": "2026-03-02T12:02:00Z"})
    assert forward == newest_first[:5]

    # the frontend's pager: page numbers
    second = api.get(ALERTS, query={"page": "2", "page_size": "3"}).json
    assert [alert["id"] for alert in second["results"]] == newest_first[3:6]
    assert second["count"] == 7 and "page=3" in second["next"] and "page=1" in second["previous"]
    assert api.get(ALERTS, query={"page": "9", "page_size": "3"}).status == 404
    assert api.get(ALERTS, query={"cursor": "not-a-cursor"}).status == 404


def test_active_alert_counts_per_asset_tag_for_the_registry(api, world) -> None:
    rule = world.rule()
    world.alert(rule)
    world.alert(rule)
    seen = world.alert(rule)
    world.alert(rule, asset=world.other_asset, asset_tag="AHU-002")
    api.post(f"{ALERTS}{seen}/acknowledge/")
    registry = world.repo().registry
    assert logic.active_alert_counts(registry, ["CH-001", "AHU-002", "NONE"]) == {"CH-001": 2, "AHU-002": 1}
    assert logic.active_alert_counts(registry, ["AHU-002"]) == {"AHU-002": 1}
    assert logic.active_alert_counts(registry, []) == {}


# ---- statistics and actions ---------------------------------------------------------------------


def test_statistics_follow_every_change(api, world) -> None:
    empty = {"total": 0, "active": 0, "acknowledged": 0, "resolved": 0}
    assert _statistics(api) == {**empty, "by_severity": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0}}
    rule = world.rule()
    critical = world.alert(rule, severity="Critical")
    high = world.alert(rule, severity="High")
    low = world.alert(rule, severity="Low")
    api.post(f"{ALERTS}{high}/acknowledge/")
    api.post(f"{ALERTS}{low}/resolve/")
    assert _statistics(api) == {
        "total": 3,
        "active": 1,
        "acknowledged": 1,
        "resolved": 1,
        "by_severity": {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 0, "LOW": 1},
    }
    assert api.get(ALERTS, query={"status": "active"}).json["count"] == 1
    # deleting keeps the counters equal to the alerts
    for alert_id in (critical, low):
        assert api.delete(f"{ALERTS}{alert_id}/").status == 204
        assert api.get(f"{ALERTS}{alert_id}/").status == 404
    assert _statistics(api) == {
        "total": 1,
        "active": 0,
        "acknowledged": 1,
        "resolved": 0,
        "by_severity": {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 0, "LOW": 0},
    }
    assert api.get(ALERTS).json["count"] == 1
    assert api.delete(f"{ALERTS}{critical}/").status == 404


def test_acknowledge_once_with_its_note_event_and_counters(api, world) -> None:
    alert_id = world.alert(world.rule())
    status, answer = api.post(f"{ALERTS}{alert_id}/acknowledge/", {"notes": "On my way"}, user_id=5, email="ana@x.com")
    assert status == 200, answer
    alert = answer["alert"]
    assert answer["status"] == "acknowledged"
    assert (alert["acknowledged"], alert["acknowledged_by"], alert["acknowledged_by_email"]) == (True, 5, "ana@x.com")
    assert alert["acknowledged_at"].endswith("Z") and alert["status"] == "acknowledged" and alert["is_active"]
    assert alert["notes"] == "[Reconhecimento] ana@x.com: On my way"
    assert api.get(f"{ALERTS}{alert_id}/").json == alert
    (event,) = world.events("alert.acknowledged")
    assert event["data"]["alert_id"] == alert_id and event["data"]["acknowledged_by_email"] == "ana@x.com"
    assert event["aggregate"] == {"type": "alert", "id": str(alert_id)} and event["tenant_id"] == "acme"

    again = api.post(f"{ALERTS}{alert_id}/acknowledge/", {})
    assert again.status == 400 and again.json["error"] == "This alert has already been acknowledged."
    assert len(world.events("alert.acknowledged")) == 1
    assert _statistics(api)["acknowledged"] == 1


def test_resolve_once_acknowledging_too(api, world) -> None:
    alert_id = world.alert(world.rule())
    status, answer = api.post(f"{ALERTS}{alert_id}/resolve/", {"notes": "Valve replaced"}, user_id=6, email="bo@x.com")
    assert status == 200, answer
    alert = answer["alert"]
    assert answer["status"] == "resolved"
    assert (alert["resolved"], alert["resolved_by"], alert["resolved_by_email"]) == (True, 6, "bo@x.com")
    assert (alert["acknowledged"], alert["acknowledged_by"]) == (True, 6)
    assert (alert["status"], alert["is_active"], alert["resolution"]) == ("resolved", False, "manual")
    assert alert["notes"] == "[Resolução] bo@x.com: Valve replaced"
    (event,) = world.events("alert.resolved")
    assert event["data"]["resolution"] == "manual" and event["data"]["resolved_by"] == 6
    assert _statistics(api) | {"by_severity": None} == {
        "total": 1,
        "active": 0,
        "acknowledged": 0,
        "resolved": 1,
        "by_severity": None,
    }

    for action in ("resolve", "acknowledge"):
        again = api.post(f"{ALERTS}{alert_id}/{action}/")
        assert again.status == 400 and again.json["error"] == "This alert has already been resolved.", action
    assert len(world.events("alert.resolved")) == 1
    assert world.events("alert.acknowledged") == []


def test_resolving_an_acknowledged_alert_appends_to_its_notes(api, world) -> None:
    alert_id = world.alert(world.rule())
    api.post(f"{ALERTS}{alert_id}/acknowledge/", {"notes": "seen"})
    resolved = api.post(f"{ALERTS}{alert_id}/resolve/", {"notes": "fixed"}).json["alert"]
    assert resolved["notes"] == "[Reconhecimento] user@example.com: seen\n[Resolução] user@example.com: fixed"
    assert _statistics(api)["acknowledged"] == 0 and _statistics(api)["resolved"] == 1
    # a status change moves the alert in the status index
    assert api.get(ALERTS, query={"status": "acknowledged"}).json["results"] == []
    assert [alert["id"] for alert in api.get(ALERTS, query={"status": "resolved"}).json["results"]] == [alert_id]


def test_link_work_order_links_acknowledges_and_moves_the_link(api, world) -> None:
    alert_id = world.alert(world.rule())
    first, second = _work_order(api, world), _work_order(api, world)
    status, answer = api.post(f"{ALERTS}{alert_id}/link_work_order/", {"work_order_id": first["id"]})
    assert status == 200, answer
    assert answer["status"] == "linked" and answer["work_order_number"] == first["number"]
    alert = answer["alert"]
    assert (alert["work_order"], alert["work_order_number"]) == (first["id"], first["number"])
    assert alert["acknowledged"] is True and alert["status"] == "acknowledged"
    assert alert["notes"] == f"[OS Vinculada] {first['number']}"
    assert [(int(link.work_order_id), int(link.alert_id)) for link in world.links()] == [(first["id"], alert_id)]
    assert world.repo().alerts_of_work_order(first["id"]) == [alert_id]
    assert len(world.events("alert.acknowledged")) == 1
    assert _statistics(api)["acknowledged"] == 1 and _statistics(api)["active"] == 0

    # the same work order again changes nothing
    assert api.post(f"{ALERTS}{alert_id}/link_work_order/", {"work_order_id": first["id"]}).json["alert"] == alert
    # another one moves the link (string ids are accepted too)
    moved = api.post(f"{ALERTS}{alert_id}/link_work_order/", {"work_order_id": str(second["id"])}).json["alert"]
    assert moved["work_order"] == second["id"]
    assert moved["notes"] == f"[OS Vinculada] {first['number']}\n[OS Vinculada] {second['number']}"
    assert [(int(link.work_order_id), int(link.alert_id)) for link in world.links()] == [(second["id"], alert_id)]
    assert world.repo().alerts_of_work_order(first["id"]) == []
    assert len(world.events("alert.acknowledged")) == 1

    # deleting the alert deletes its link
    assert api.delete(f"{ALERTS}{alert_id}/").status == 204
    assert world.links() == []


def test_link_work_order_refuses_bad_bodies_and_unknown_work_orders_with_an_error(api, world) -> None:
    alert_id = world.alert(world.rule())
    path = f"{ALERTS}{alert_id}/link_work_order/"
    for body in ({}, {"work_order_id": None}, {"work_order_id": "abc"}, {"work_order_id": True}, {"work_order_id": 0}):
        status, response = api.post(path, body)
        assert status == 400 and response["error"], (body, response)
    missing = api.post(path, {"work_order_id": 999})
    assert missing.status == 404 and missing.json["error"] == "Work order not found."
    assert api.post(f"{ALERTS}{alert_id + 1}/link_work_order/", {"work_order_id": 1}).status == 404
    assert world.links() == [] and api.get(f"{ALERTS}{alert_id}/").json["status"] == "active"


# ---- the logic the event consumers call ---------------------------------------------------------


def test_resolve_alert_for_a_completed_work_order(api, world) -> None:
    alert_id = world.alert(world.rule())
    repo = world.repo()
    resolved = logic.resolve_alert(repo, alert_id, None, None, "[OS Concluída] OS2026030001", BY_WORK_ORDER)
    assert resolved.resolved and resolved.resolution == BY_WORK_ORDER
    alert = api.get(f"{ALERTS}{alert_id}/").json
    assert (alert["resolution"], alert["resolved_by"], alert["notes"]) == (
        "work_order",
        None,
        "[OS Concluída] OS2026030001",
    )
    (event,) = world.events("alert.resolved")
    assert event["data"]["resolution"] == "work_order"
    with pytest.raises(DomainError) as refused:
        logic.resolve_alert(repo, alert_id, None, None, "", BY_WORK_ORDER)
    assert not isinstance(refused.value, NotFound)
    with pytest.raises(NotFound):
        logic.resolve_alert(repo, alert_id + 1, None, None, "", BY_WORK_ORDER)


def test_a_stale_alert_write_is_a_conflict_and_writes_nothing(api, world) -> None:
    alert_id = world.alert(world.rule())
    repo = world.repo()
    stale = repo.get_alert(alert_id)
    assert stale is not None
    assert api.post(f"{ALERTS}{alert_id}/acknowledge/").status == 200
    stale.resolved = True
    with pytest.raises(Conflict):
        repo.change_alert(stale, "active", [])
    assert api.get(f"{ALERTS}{alert_id}/").json["status"] == "acknowledged"
    assert _statistics(api)["resolved"] == 0
