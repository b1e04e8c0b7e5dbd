"""Assets (API.md §3.6, §4.2): shapes, decimals, uniqueness of tags (also under a race), versions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from pynamodb.transactions import TransactWrite

from climatrak.registry.repository import RegistryRepository

SPECS = {"capacity": 60, "capacityUnit": "TR", "voltage": "380", "nested": {"list": [1, 2.5, None, True, ""]}}


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def site_id(api, tenant) -> int:
    return api.post("/api/sites/", {"name": "Uberlandia", "company": "UMC"}).json["id"]


def _asset(site_id: int, tag: str = "CH-001", **extra: object) -> dict[str, object]:
    return {"tag": tag, "name": "Chiller 1", "site": site_id, "asset_type": "CHILLER", **extra}


def test_create_asset_with_string_decimals_and_specifications(api, site_id) -> None:
    body = _asset(
        site_id,
        nominal_voltage="220",
        nominal_current="12.5",
        power_factor="0.92",
        capacity="60",
        capacity_unit="TR",
        phases=3,
        criticality="ALTA",
        installation_date="2024-03-01",
        specifications=SPECS,
    )
    status, asset = api.post("/api/assets/", body)
    assert status == 201
    assert asset["nominal_voltage"] == "220.00" and asset["nominal_current"] == "12.50"
    assert asset["power_factor"] == "0.92" and asset["capacity"] == "60.00" and asset["phases"] == 3
    assert asset["status"] == "OK" and asset["health_score"] == 100 and asset["criticality"] == "ALTA"
    assert asset["installation_date"] == "2024-03-01" and asset["warranty_expiry"] is None
    assert asset["specifications"] == SPECS
    assert asset["site_name"] == "Uberlandia" and asset["device_count"] == 0 and asset["sensor_count"] == 0
    assert api.get(f"/api/assets/{asset['id']}/").json == asset


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "BROKEN"), ("criticality", "HIGH"), ("capacity_unit", "HP"), ("phases", 4), ("power_factor", "1.5")],
)
def test_invalid_choices_are_field_errors(api, site_id, field, value) -> None:
    status, body = api.post("/api/assets/", _asset(site_id, **{field: value}))
    assert status == 400 and list(body) == [field]


def test_explicit_nulls_clear_optional_bounded_decimals(api, site_id) -> None:
    status, asset = api.post("/api/assets/", _asset(site_id, power_factor=None))
    assert status == 201 and asset["power_factor"] is None


def test_unknown_site_is_a_field_error(api, site_id) -> None:
    status, body = api.post("/api/assets/", _asset(site_id + 99))
    assert status == 400 and list(body) == ["site"]


def test_duplicate_tag_is_refused_drf_style(api, site_id) -> None:
    assert api.post("/api/assets/", _asset(site_id)).status == 201
    assert api.post("/api/assets/", _asset(site_id)) == (400, {"tag": ["asset with this tag already exists."]})
    assert api.get("/api/assets/").json["count"] == 1


def test_two_concurrent_creates_with_one_tag_give_exactly_one_201(api, site_id, monkeypatch) -> None:
    """Worst-case interleaving: both requests are past every read before either writes."""
    original_commit = TransactWrite._commit
    first_waiting, second_done = threading.Event(), threading.Event()
    commits: list[int] = []
    lock = threading.Lock()

    def interleaved_commit(self):  # type: ignore[no-untyped-def]
        with lock:
            order = len(commits)
            commits.append(order)
        if order == 0:
            first_waiting.set()
            assert second_done.wait(timeout=30)
            return original_commit(self)
        try:
            return original_commit(self)
        finally:
            second_done.set()

    monkeypatch.setattr(TransactWrite, "_commit", interleaved_commit)
    results: list[tuple[int, object]] = []

    def create(name: str) -> None:
        results.append(tuple(api.post("/api/assets/", {**_asset(site_id), "name": name})))

    first = threading.Thread(target=create, args=("first",))
    first.start()
    assert first_waiting.wait(timeout=30)
    second = threading.Thread(target=create, args=("second",))
    second.start()
    second.join(timeout=30)
    first.join(timeout=30)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 400]
    listed = api.get("/api/assets/").json["results"]
    assert [(row["tag"], row["name"]) for row in listed] == [("CH-001", "second")]


def test_patch_renames_tag_frees_the_old_one_and_clears_empty_dates(api, site_id, settings) -> None:
    asset = api.post("/api/assets/", _asset(site_id, warranty_expiry="2030-01-01")).json
    status, patched = api.patch(f"/api/assets/{asset['id']}/", {"tag": "CH-009", "warranty_expiry": ""})
    assert status == 200 and patched["tag"] == "CH-009" and patched["warranty_expiry"] is None
    repo = RegistryRepository("acme", settings)
    assert repo.asset_by_tag("CH-001") is None and int(repo.asset_by_tag("CH-009").id) == asset["id"]  # type: ignore[union-attr]
    assert api.post("/api/assets/", _asset(site_id, tag="CH-001")).status == 201
    assert api.patch(f"/api/assets/{asset['id']}/", {"tag": "CH-001"}) == (
        400,
        {"tag": ["asset with this tag already exists."]},
    )
    assert api.patch(f"/api/assets/{asset['id']}/", {"name": None}) == (400, {"name": ["This field may not be null."]})


def test_a_stale_update_is_a_409(api, site_id, settings, monkeypatch) -> None:
    asset = api.post("/api/assets/", _asset(site_id)).json
    original_get = RegistryRepository.get_asset
    interfered: list[bool] = []

    def get_then_someone_else_writes(self, asset_id):  # type: ignore[no-untyped-def]
        item = original_get(self, asset_id)
        if not interfered:
            interfered.append(True)
            other = original_get(self, asset_id)
            other.name = "changed meanwhile"
            self.save_asset(other, previous_tag=other.tag)
        return item

    monkeypatch.setattr(RegistryRepository, "get_asset", get_then_someone_else_writes)
    status, body = api.patch(f"/api/assets/{asset['id']}/", {"name": "mine"})
    assert status == 409 and body["code"] == "conflict"
    monkeypatch.undo()
    assert api.get(f"/api/assets/{asset['id']}/").json["name"] == "changed meanwhile"


def test_delete_asset_frees_its_tag(api, site_id) -> None:
    asset = api.post("/api/assets/", _asset(site_id)).json
    assert api.delete(f"/api/assets/{asset['id']}/") == (204, None)
    assert api.get(f"/api/assets/{asset['id']}/").status == 404
    assert api.post("/api/assets/", _asset(site_id)).status == 201


def test_list_filters_search_and_ordering(api, site_id) -> None:
    other_site = api.post("/api/sites/", {"name": "Other"}).json["id"]
    api.post("/api/assets/", _asset(site_id, "B-2", name="Beta", manufacturer="Carrier", health_score=50))
    api.post("/api/assets/", _asset(site_id, "A-1", name="Alpha", manufacturer="Trane", status="ALERT"))
    api.post("/api/assets/", _asset(other_site, "C-3", name="Gamma", manufacturer="Carrier", asset_type="AHU"))

    def tags(**query: str) -> list[str]:
        return [row["tag"] for row in api.get("/api/assets/", query=query).json["results"]]

    assert tags() == ["A-1", "B-2", "C-3"]
    assert tags(ordering="-health_score") == ["A-1", "C-3", "B-2"]
    assert tags(ordering="name") == ["A-1", "B-2", "C-3"]
    assert tags(site=str(site_id)) == ["A-1", "B-2"]
    assert tags(status="ALERT") == ["A-1"]
    assert tags(manufacturer="carrier") == ["B-2", "C-3"]
    assert tags(asset_type="AHU") == ["C-3"]
    assert tags(search="gam") == ["C-3"]
    # Lists return the detail shape (the CMMS reads dates from list rows).
    assert "installation_date" in api.get("/api/assets/").json["results"][0]


def test_complete_feed_and_sensors_bare_array(api, site_id, put_sensor) -> None:
    asset = api.post("/api/assets/", _asset(site_id)).json
    device = api.post(
        "/api/devices/",
        {
            "name": "Ctl",
            "serial_number": "F80332010002C857",
            "mqtt_client_id": "c-1",
            "site": site_id,
            "asset": asset["id"],
        },
    ).json
    fresh, stale = _iso(-timedelta(minutes=1)), _iso(-timedelta(hours=2))
    put_sensor(
        "acme",
        sensor_id=1,
        device_id=device["id"],
        tag="C857_Temperatura de retorno",
        asset_id=asset["id"],
        metric_type="temp_return",
        last_value=12.5,
        last_reading_at=fresh,
    )
    put_sensor(
        "acme",
        sensor_id=2,
        device_id=device["id"],
        tag="C857_rssi",
        asset_id=asset["id"],
        metric_type="rssi",
        unit="dBm",
        last_value=-70,
        last_reading_at=stale,
    )

    status, page = api.get("/api/assets/complete/")
    assert status == 200 and page["count"] == 1
    row = page["results"][0]
    assert row["sensor_count"] == 2 and row["device_count"] == 1 and row["online_sensor_count"] == 1
    assert row["online_device_count"] == 0 and row["alert_count"] == 0 and row["site_company"] == "UMC"
    assert row["latest_readings"]["temp_return"] == {
        "sensor_id": 1,
        "sensor_name": "C857_Temperatura de retorno",
        "value": 12.5,
        "unit": "celsius",
        "timestamp": fresh,
        "is_online": True,
    }

    status, sensors = api.get(f"/api/assets/{asset['id']}/sensors/")
    assert status == 200 and isinstance(sensors, list)
    assert [sensor["tag"] for sensor in sensors] == ["C857_Temperatura de retorno", "C857_rssi"]
    assert sensors[0]["device"] == device["id"] and sensors[0]["device_display_name"] == "Device C857"
    assert sensors[0]["asset_tag"] == "CH-001" and sensors[0]["is_online"] is True
    online = api.get(f"/api/assets/{asset['id']}/sensors/", query={"is_online": "false"}).json
    assert [sensor["id"] for sensor in online] == [2]
    by_metric = api.get(f"/api/assets/{asset['id']}/sensors/", query={"metric_type": "temp_return"}).json
    assert [sensor["id"] for sensor in by_metric] == [1]


def test_an_asset_names_an_existing_cost_center_of_its_tenant_or_none(api, site_id, settings) -> None:
    from climatrak.ledger.items import ensure_default_cost_center

    assert api.post("/api/assets/", _asset(site_id)).json["cost_center"] is None
    foreign = ensure_default_cost_center("beta")  # another tenant's cost centre is unknown here
    status, body = api.post("/api/assets/", _asset(site_id, tag="CH-002", cost_center=foreign))
    assert status == 400 and list(body) == ["cost_center"]
    own = ensure_default_cost_center("acme")
    status, asset = api.post("/api/assets/", _asset(site_id, tag="CH-002", cost_center=own))
    assert status == 201 and asset["cost_center"] == own
    assert api.patch(f"/api/assets/{asset['id']}/", {"cost_center": ""}).json["cost_center"] is None
    assert api.patch(f"/api/assets/{asset['id']}/", {"cost_center": own}).json["cost_center"] == own
