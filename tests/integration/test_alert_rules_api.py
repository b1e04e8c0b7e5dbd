"""Alert rules over the API (API.md §4.7): both body forms, validation against the asset's
sensors, PATCH/PUT semantics, toggle and the no-data watch item, statistics and filters."""

from __future__ import annotations

from typing import Any

import pytest

from climatrak.alerts.items import NO_DATA_WATCH_INDEX_PK
from climatrak.core.errors import Conflict
from tests.integration.alerts_world import RULES, AlertsWorld


@pytest.fixture
def world(api, settings) -> AlertsWorld:
    return AlertsWorld.build(api, settings)


def _parameter(**fields: Any) -> dict[str, Any]:
    return {"parameter_key": "temp_supply", "operator": ">", "threshold": 25, "severity": "HIGH", **fields}


# ---- create and read ---------------------------------------------------------------------------


def test_a_multi_parameter_rule_round_trips_and_is_stored_where_ingest_reads_it(api, world) -> None:
    body = world.rule_body(
        parameters=[
            _parameter(unit="°C", duration=10, cooldown=30, message_template="{sensor} alto: {value}"),
            {"parameter_key": "temp_return", "operator": "<=", "threshold": 4.5, "severity": "critical"},
        ],
        create_work_order=True,
    )
    status, rule = api.post(RULES, body)
    assert status == 201, rule
    first = {
        "id": rule["parameters"][0]["id"],
        "parameter_key": "temp_supply",
        "variable_key": "",
        "operator": ">",
        "threshold": 25,
        "unit": "°C",
        "duration": 10,
        "cooldown": 30,
        "severity": "High",
        "message_template": "{sensor} alto: {value}",
        "order": 0,
        "device": world.device,
    }
    second = {
        **first,
        "id": rule["parameters"][1]["id"],
        "parameter_key": "temp_return",
        "operator": "<=",
        "threshold": 4.5,
        "unit": "",
        "duration": 5,
        "cooldown": 60,
        "severity": "Critical",
        "message_template": "",
        "order": 1,
    }
    assert rule["parameters"] == [first, second]
    assert rule["parameters"][0]["id"] != rule["parameters"][1]["id"]
    # the legacy fields mirror the first parameter
    legacy = {name: rule[name] for name in ("parameter_key", "variable_key", "operator", "threshold", "unit")}
    assert legacy == {
        "parameter_key": "temp_supply",
        "variable_key": "",
        "operator": ">",
        "threshold": 25,
        "unit": "°C",
    }
    mirrored = (rule["duration"], rule["severity"], rule["cooldown"])
    assert mirrored == (10, "High", 30)
    assert rule["equipment"] == world.asset
    assert (rule["equipment_name"], rule["equipment_tag"]) == ("Chiller 1", "CH-001")
    assert rule["actions"] == ["IN_APP", "EMAIL"]
    assert rule["enabled"] is True and rule["kind"] == "threshold" and rule["create_work_order"] is True
    assert rule["created_by"] == 1 and rule["created_by_email"] == "user@example.com"
    assert rule["condition_display"] == "temp_supply > 25 °C"
    assert rule["created_at"].endswith("Z") and len(rule["created_at"]) == len("2026-03-02T12:00:00.000Z")

    assert api.get(f"{RULES}{rule['id']}/").json == rule
    listed = api.get(RULES).json
    assert listed["count"] == 1 and listed["results"] == [rule]

    stored = world.rule_item(rule["id"])
    assert stored is not None
    assert (stored.pk, stored.sk) == ("T#acme", f"RULE#{rule['id']:08d}")
    assert (stored.gsi1pk, stored.gsi1sk) == (f"T#acme#ASSET#{world.asset:08d}", f"RULE#{rule['id']:08d}")
    assert (stored.asset_tag, stored.asset_name, stored.site_id) == ("CH-001", "Chiller 1", world.site)
    assert [int(parameter.device_id) for parameter in stored.parameters] == [world.device, world.device]
    assert [int(found.id) for found in world.repo().rules_of_asset(world.asset)] == [rule["id"]]
    assert world.repo().rules_of_asset(world.other_asset) == []


def test_the_legacy_single_parameter_body_makes_a_one_parameter_rule(api, world) -> None:
    body = {
        "name": "Return too cold",
        "description": "",
        "equipment": world.asset,
        "parameter_key": "temp_return",
        "variable_key": "retorno",
        "operator": "<",
        "threshold": 5,
        "unit": "°C",
        "duration": 15,
        "severity": "CRITICAL",
        "cooldown": 20,
        "actions": ["SMS", "whatsapp"],
    }
    status, rule = api.post(RULES, body)
    assert status == 201, rule
    (parameter,) = rule["parameters"]
    expected = {
        "parameter_key": "temp_return",
        "variable_key": "retorno",
        "operator": "<",
        "threshold": 5,
        "unit": "°C",
        "duration": 15,
        "cooldown": 20,
        "severity": "Critical",
        "message_template": "",
        "order": 0,
        "device": world.device,
    }
    assert {name: parameter[name] for name in expected} == expected
    assert rule["severity"] == "Critical" and rule["condition_display"] == "temp_return < 5 °C"
    assert rule["actions"] == ["SMS", "WHATSAPP"] and rule["create_work_order"] is False


def test_defaults_of_a_parameter_and_of_a_rule(api, world) -> None:
    body = {
        "name": "Minimal",
        "equipment": world.asset,
        "parameters": [{"parameter_key": "temp_supply", "threshold": 1}],
    }
    status, rule = api.post(RULES, body)
    assert status == 201, rule
    (parameter,) = rule["parameters"]
    defaults = {
        "operator": ">",
        "unit": "",
        "duration": 5,
        "cooldown": 60,
        "severity": "Medium",
        "message_template": "",
    }
    assert {name: parameter[name] for name in defaults} == defaults
    assert rule["actions"] == ["IN_APP"] and rule["enabled"] is True and rule["description"] == ""


@pytest.mark.parametrize(("sent", "stored"), [("LOW", "Low"), ("Low", "Low"), ("low", "Low"), ("CRITICAL", "Critical")])
def test_severity_is_accepted_in_any_case_and_returned_titlecase(api, world, sent: str, stored: str) -> None:
    status, rule = api.post(RULES, world.rule_body(parameters=[_parameter(severity=sent)]))
    assert status == 201, rule
    assert rule["parameters"][0]["severity"] == stored and rule["severity"] == stored
    legacy = {"name": "legacy", "equipment": world.asset, "parameter_key": "temp_supply", "threshold": 1}
    assert api.post(RULES, {**legacy, "severity": sent}).json["severity"] == stored


def test_a_legacy_sensor_reference_is_resolved_to_the_sensors_tag(api, world) -> None:
    sensor_id = world.sensors[f"{world.device}:temp_return"]
    status, rule = api.post(RULES, world.rule_body(parameters=[_parameter(parameter_key=f"sensor_{sensor_id}")]))
    assert status == 201, rule
    assert rule["parameter_key"] == "temp_return" and rule["parameters"][0]["device"] == world.device


def test_the_frontends_device_decides_between_two_devices_with_the_same_tag(api, world) -> None:
    second = world.add_device("acme-ctl-ch-2", world.asset)
    world.add_sensors(second, world.asset, "temp_supply")
    chosen = api.post(RULES, world.rule_body(parameters=[_parameter(device=second)])).json
    assert chosen["parameters"][0]["device"] == second
    # without one, the oldest sensor's device
    unhinted = api.post(RULES, world.rule_body(parameters=[_parameter(device=None)])).json
    assert unhinted["parameters"][0]["device"] == world.device


# ---- validation -------------------------------------------------------------------------------


def _refused(api, world, body: dict[str, Any]) -> dict[str, Any]:
    status, response = api.post(RULES, body)
    assert status == 400, response
    return dict(response)


def test_invalid_rules_are_400_field_errors_and_store_nothing(api, world, settings) -> None:
    beta = AlertsWorld.build(api, settings, tenant="beta")
    beta.add_sensors(beta.device, beta.asset, "humidity")  # a tag acme's assets do not have
    beta_sensor = beta.sensors[f"{beta.device}:humidity"]
    assert beta_sensor not in world.sensors.values()
    legacy_only = {name: value for name, value in world.rule_body().items() if name != "parameters"}

    cases: dict[str, tuple[dict[str, Any], str]] = {
        "no parameters": (world.rule_body(parameters=[]), "parameters"),
        "neither form": (legacy_only, "parameters"),
        "bad operator": (world.rule_body(parameters=[_parameter(operator="=>")]), "parameters.0.operator"),
        "threshold as text": (world.rule_body(parameters=[_parameter(threshold="25")]), "parameters.0.threshold"),
        "threshold missing": (world.rule_body(parameters=[_parameter(threshold=None)]), "parameters"),
        "zero minutes": (world.rule_body(parameters=[_parameter(duration=0)]), "parameters.0.duration"),
        "unknown severity": (world.rule_body(parameters=[_parameter(severity="URGENT")]), "parameters.0.severity"),
        "sensor of another asset": (
            world.rule_body(equipment=world.other_asset, parameters=[_parameter(parameter_key="temp_return")]),
            "parameters",
        ),
        "sensor of another tenant": (world.rule_body(parameters=[_parameter(parameter_key="humidity")]), "parameters"),
        "legacy id of another tenant's sensor": (
            world.rule_body(parameters=[_parameter(parameter_key=f"sensor_{beta_sensor}")]),
            "parameters",
        ),
        "invalid action": (world.rule_body(actions=["IN_APP", "FAX"]), "actions"),
        "no action": (world.rule_body(actions=[]), "actions"),
        "unknown equipment": (world.rule_body(equipment=999), "equipment"),
        "blank name": (world.rule_body(name="  "), "name"),
    }
    for case, (body, field) in cases.items():
        response = _refused(api, world, body)
        assert list(response) == [field], (case, response)
        assert all(isinstance(message, str) and message for message in response[field]), (case, response)
    assert "CH-001" in _refused(api, world, cases["sensor of another tenant"][0])["parameters"][0]
    assert world.rule_items() == []
    # a no-data rule needs no threshold (and stores none)
    status, no_data = api.post(RULES, world.rule_body(kind="no_data", parameters=[_parameter(threshold=None)]))
    assert status == 201, no_data
    assert no_data["threshold"] is None


# ---- update -----------------------------------------------------------------------------------


def test_patch_with_parameters_replaces_them_all(api, world) -> None:
    rule = world.rule(parameters=[_parameter(), _parameter(parameter_key="temp_return", threshold=3, operator="<")])
    path = f"{RULES}{rule['id']}/"
    status, patched = api.patch(path, {"parameters": [_parameter(parameter_key="temp_return", threshold=2)]})
    assert status == 200, patched
    assert [parameter["parameter_key"] for parameter in patched["parameters"]] == ["temp_return"]
    assert patched["parameters"][0]["id"] not in {parameter["id"] for parameter in rule["parameters"]}
    assert patched["parameter_key"] == "temp_return" and patched["threshold"] == 2
    assert patched["name"] == rule["name"] and patched["actions"] == rule["actions"]
    stored = world.rule_item(rule["id"])
    assert stored is not None and [parameter.parameter_key for parameter in stored.parameters] == ["temp_return"]
    assert api.patch(path, {"parameters": []}).json == {"parameters": ["A rule needs at least one parameter."]}


def test_patch_without_parameters_keeps_them_and_legacy_fields_change_the_first(api, world) -> None:
    rule = world.rule(parameters=[_parameter(), _parameter(parameter_key="temp_return", threshold=3)])
    path = f"{RULES}{rule['id']}/"
    renamed = api.patch(path, {"name": "Renamed", "enabled": False}).json
    assert renamed["name"] == "Renamed" and renamed["enabled"] is False
    assert renamed["parameters"] == rule["parameters"]
    status, raised = api.patch(path, {"threshold": 30, "severity": "LOW"})
    assert status == 200, raised
    # the same parameter (same place, same sensor): same id, new values; the second untouched
    assert raised["parameters"][0] == {**rule["parameters"][0], "threshold": 30, "severity": "Low"}
    assert raised["parameters"][1] == rule["parameters"][1]
    assert api.patch(path, {"name": None}).json == {"name": ["This field may not be null."]}
    moved = api.patch(path, {"equipment": world.other_asset})
    assert moved.status == 400 and list(moved.json) == ["parameters"]  # temp_return is not on AHU-002


def test_put_replaces_the_whole_rule(api, world) -> None:
    rule = world.rule(create_work_order=True)
    body = {"name": "Replaced", "equipment": world.other_asset, "parameter_key": "temp_supply", "threshold": 9}
    status, replaced = api.request("PUT", f"{RULES}{rule['id']}/", body=body)
    assert status == 200, replaced
    assert replaced["id"] == rule["id"] and replaced["created_at"] == rule["created_at"]
    assert (replaced["equipment"], replaced["equipment_tag"]) == (world.other_asset, "AHU-002")
    assert replaced["parameters"][0]["device"] == world.other_device
    assert replaced["description"] == "" and replaced["actions"] == ["IN_APP"]
    assert replaced["create_work_order"] is False
    stored = world.rule_item(rule["id"])
    assert stored is not None and stored.gsi1pk == f"T#acme#ASSET#{world.other_asset:08d}"
    assert world.repo().rules_of_asset(world.asset) == []


def test_a_stale_rule_write_is_a_conflict(api, world) -> None:
    rule = world.rule()
    stale = world.rule_item(rule["id"])
    assert api.patch(f"{RULES}{rule['id']}/", {"name": "First"}).status == 200
    assert stale is not None
    stale.name = "Second"
    with pytest.raises(Conflict):
        world.repo().save_rule(stale)
    assert api.get(f"{RULES}{rule['id']}/").json["name"] == "First"


# ---- toggle, no-data watch, delete ------------------------------------------------------------


def test_the_no_data_watch_item_exists_exactly_while_the_rule_is_an_enabled_no_data_rule(api, world) -> None:
    rule = world.rule(kind="no_data", parameters=[_parameter(threshold=None, duration=15)])
    rule_id = rule["id"]
    assert rule["condition_display"] == "temp_supply sem dados por 15 min"
    watch = world.watch(rule_id)
    assert watch is not None
    assert (watch.pk, watch.sk) == ("T#acme", f"NODATAWATCH#{rule_id:08d}")
    assert (watch.gsi1pk, watch.gsi1sk) == (NO_DATA_WATCH_INDEX_PK, f"acme#{rule_id:08d}")
    assert (watch.tenant, int(watch.rule_id), int(watch.asset_id)) == ("acme", rule_id, world.asset)

    toggled = api.post(f"{RULES}{rule_id}/toggle_status/")
    assert toggled.status == 200
    assert toggled.json["status"] == "disabled" and toggled.json["rule"]["enabled"] is False
    assert world.watch(rule_id) is None
    back = api.post(f"{RULES}{rule_id}/toggle_status/").json
    assert back["status"] == "enabled" and back["rule"]["enabled"] is True
    assert world.watch(rule_id) is not None

    # a threshold rule needs thresholds: switching kind checks them
    switched = api.patch(f"{RULES}{rule_id}/", {"kind": "threshold"})
    assert switched.status == 400 and list(switched.json) == ["parameters"]
    assert world.watch(rule_id) is not None
    assert api.patch(f"{RULES}{rule_id}/", {"kind": "threshold", "threshold": 20}).status == 200
    assert world.watch(rule_id) is None
    assert api.patch(f"{RULES}{rule_id}/", {"kind": "no_data"}).json["threshold"] is None
    assert world.watch(rule_id) is not None

    assert api.delete(f"{RULES}{rule_id}/").status == 204
    assert world.watch(rule_id) is None and world.rule_item(rule_id) is None
    assert api.get(f"{RULES}{rule_id}/").status == 404
    assert api.post(f"{RULES}{rule_id}/toggle_status/").status == 404


def test_a_threshold_rule_never_has_a_watch_item(api, world) -> None:
    rule = world.rule()
    api.post(f"{RULES}{rule['id']}/toggle_status/")
    api.post(f"{RULES}{rule['id']}/toggle_status/")
    assert world.watch(rule["id"]) is None


# ---- statistics and filters -------------------------------------------------------------------


def test_statistics_count_each_rule_once_by_its_first_parameters_severity(api, world) -> None:
    world.rule(parameters=[_parameter(severity="CRITICAL"), _parameter(parameter_key="temp_return", severity="LOW")])
    world.rule(parameters=[_parameter(severity="Critical")])
    disabled = world.rule(parameters=[_parameter(severity="medium")])
    api.post(f"{RULES}{disabled['id']}/toggle_status/")
    statistics = api.get(f"{RULES}statistics/").json
    counts = {"Critical": 2, "High": 0, "Medium": 1, "Low": 0}
    assert statistics == {
        "total": 3,
        "enabled": 2,
        "disabled": 1,
        "by_severity": {**counts, **{severity.upper(): count for severity, count in counts.items()}},
    }


def test_statistics_of_a_tenant_without_rules_are_zeros(api, world) -> None:
    statistics = api.get(f"{RULES}statistics/").json
    assert statistics["total"] == 0 and set(statistics["by_severity"].values()) == {0}
    assert len(statistics["by_severity"]) == 8


def test_list_filters(api, world) -> None:
    critical = world.rule(parameters=[_parameter(severity="CRITICAL")])
    low_off = world.rule(parameters=[_parameter(severity="LOW")], enabled=False)
    other = world.rule(equipment=world.other_asset, parameters=[_parameter(severity="low")])

    def ids(**query: str) -> list[int]:
        status, listed = api.get(RULES, query=query)
        assert status == 200, listed
        return [rule["id"] for rule in listed["results"]]

    assert ids() == [other["id"], low_off["id"], critical["id"]]  # newest first
    assert ids(enabled="false") == [low_off["id"]]
    assert ids(enabled="true") == [other["id"], critical["id"]]
    assert ids(severity="critical") == [critical["id"]]
    assert ids(severity="Low") == [other["id"], low_off["id"]]
    assert ids(equipment_id=str(world.other_asset)) == [other["id"]]
    assert ids(equipment=str(world.asset)) == [low_off["id"], critical["id"]]
    assert ids(equipment_id="999") == []
    for name, value in (("enabled", "maybe"), ("severity", "urgent"), ("equipment_id", "x")):
        status, response = api.get(RULES, query={name: value})
        assert status == 400 and list(response) == [name], (name, response)


def test_a_rule_shows_its_assets_live_names(api, world) -> None:
    rule = world.rule()
    assert api.patch(f"/api/assets/{world.asset}/", {"name": "Chiller One"}).status == 200
    assert api.get(f"{RULES}{rule['id']}/").json["equipment_name"] == "Chiller One"
    assert api.get(RULES).json["results"][0]["equipment_name"] == "Chiller One"


def test_an_assets_rules_are_capped_in_parameters(api, world) -> None:
    twenty = [_parameter(threshold=20 + index) for index in range(20)]  # a rule's most
    for _ in range(10):
        assert api.post(RULES, world.rule_body(parameters=twenty)).status == 201

    status, body = api.post(RULES, world.rule_body(parameters=[_parameter()]))

    assert status == 400 and "at most 200 parameters" in body["parameters"][0]
