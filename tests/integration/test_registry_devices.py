"""Devices and sensors (API.md §4.3, §4.4): binding, secrets shown once, summaries, online state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from climatrak.registry.repository import RegistryRepository


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def site_and_asset(api, tenant) -> tuple[int, int]:
    site = api.post("/api/sites/", {"name": "Uberlandia"}).json["id"]
    asset = api.post("/api/assets/", {"tag": "AHU-1", "name": "AHU 1", "site": site, "asset_type": "AHU"}).json["id"]
    return site, asset


def _device(site: int, asset: int | None = None, client_id: str = "khomp-c857", **extra: object) -> dict[str, object]:
    return {
        "name": "Khomp",
        "serial_number": "F80332010002C857",
        "mqtt_client_id": client_id,
        "site": site,
        "asset": asset,
        "device_type": "GATEWAY",
        "firmware_version": "1.2",
        **extra,
    }


def test_create_returns_the_secret_once_and_stores_the_binding(api, site_and_asset, settings) -> None:
    site, asset = site_and_asset
    status, created = api.post("/api/devices/", _device(site, asset))
    assert status == 201
    secret = created.pop("ingest_secret")
    assert len(secret) >= 43
    assert created["display_name"] == "C857" and created["asset"] == asset and created["asset_tag"] == "AHU-1"
    assert created["site"] == site and created["status"] == "OFFLINE" and created["is_online"] is False
    detail = api.get(f"/api/devices/{created['id']}/").json
    assert "ingest_secret" not in detail and detail == created
    assert all("ingest_secret" not in row for row in api.get("/api/devices/").json["results"])
    # Ingest's lookup: DEVICECLIENT#{client_id} -> device, carrying the secret.
    stored = RegistryRepository("acme", settings).device_by_client_id("khomp-c857")
    assert stored is not None and stored.ingest_secret == secret and int(stored.id) == created["id"]


def test_rotate_secret_replaces_it_and_needs_owner_or_admin(api, site_and_asset, settings) -> None:
    site, asset = site_and_asset
    created = api.post("/api/devices/", _device(site, asset)).json
    assert api.post(f"/api/devices/{created['id']}/rotate-secret/", role="operator").status == 403
    status, rotated = api.post(f"/api/devices/{created['id']}/rotate-secret/", role="admin")
    assert status == 200 and rotated["ingest_secret"] != created["ingest_secret"]
    stored = RegistryRepository("acme", settings).device_by_client_id("khomp-c857")
    assert stored is not None and stored.ingest_secret == rotated["ingest_secret"]


def test_client_id_is_unique_per_tenant_only(api, site_and_asset, settings) -> None:
    site, asset = site_and_asset
    assert api.post("/api/devices/", _device(site, asset)).status == 201
    assert api.post("/api/devices/", _device(site)) == (
        400,
        {"mqtt_client_id": ["device with this mqtt client id already exists."]},
    )
    from climatrak.registry.logic import create_tenant

    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    other_site = api.post("/api/sites/", {"name": "B"}, tenant="beta").json["id"]
    assert api.post("/api/devices/", _device(other_site), tenant="beta").status == 201


def test_asset_must_belong_to_the_site(api, site_and_asset) -> None:
    site, asset = site_and_asset
    other_site = api.post("/api/sites/", {"name": "Other"}).json["id"]
    assert list(api.post("/api/devices/", _device(other_site, asset)).json) == ["asset"]
    assert list(api.post("/api/devices/", _device(site, 999)).json) == ["asset"]
    assert list(api.post("/api/devices/", _device(999)).json) == ["site"]
    assert list(api.post("/api/devices/", {"name": "x", "mqtt_client_id": "x"}).json) == ["site"]


def test_patch_moves_the_client_id_guard_and_delete_frees_it(api, site_and_asset, settings) -> None:
    site, asset = site_and_asset
    created = api.post("/api/devices/", _device(site, asset)).json
    status, patched = api.patch(f"/api/devices/{created['id']}/", {"mqtt_client_id": "khomp-new", "asset": None})
    assert status == 200 and patched["mqtt_client_id"] == "khomp-new" and patched["asset"] is None
    repo = RegistryRepository("acme", settings)
    assert repo.device_by_client_id("khomp-c857") is None and repo.device_by_client_id("khomp-new") is not None
    assert repo.get_device(created["id"]).ingest_secret == created["ingest_secret"]  # type: ignore[union-attr]
    assert api.delete(f"/api/devices/{created['id']}/") == (204, None)
    assert repo.device_by_client_id("khomp-new") is None
    assert api.post("/api/devices/", _device(site, client_id="khomp-new")).status == 201


def test_summary_variables_and_online_state(api, site_and_asset, settings, put_sensor) -> None:
    site, asset = site_and_asset
    device = api.post("/api/devices/", _device(site, asset)).json
    put_sensor(
        "acme",
        sensor_id=1,
        device_id=device["id"],
        tag="F80332010002C857_Temperatura de retorno",
        asset_id=asset,
        metric_type="temp_return",
        last_value=12.5,
        last_reading_at=_iso(-timedelta(minutes=3)),
    )
    put_sensor(
        "acme",
        sensor_id=2,
        device_id=device["id"],
        tag="F80332010002C857_rssi",
        asset_id=asset,
        metric_type="rssi",
        unit="dBm",
        last_value=-70,
        last_reading_at=_iso(-timedelta(minutes=30)),
    )
    put_sensor(
        "acme",
        sensor_id=3,
        device_id=device["id"],
        tag="F80332010002C857_snr",
        asset_id=asset,
        metric_type="snr",
        unit="dB",
        last_value=None,
        last_reading_at=None,
    )
    # Ingest keeps last_seen on the device.
    repo = RegistryRepository("acme", settings)
    item = repo.get_device(device["id"])
    assert item is not None
    item.last_seen = _iso(-timedelta(minutes=3))
    repo.save_device(item, previous_client_id=item.mqtt_client_id)

    status, summary = api.get(f"/api/devices/{device['id']}/summary/")
    assert status == 200
    assert [(v["name"], v["is_online"]) for v in summary["variables"]] == [
        ("Temperatura De Retorno", True),
        ("RSSI", False),
        ("SNR", False),
    ]
    assert summary["total_variables_count"] == 3 and summary["online_variables_count"] == 1
    assert summary["device_status"] == "ONLINE" and summary["status"] == "ONLINE"
    assert summary["asset_info"] == {"id": asset, "tag": "AHU-1", "name": "AHU 1", "site_name": "Uberlandia"}
    assert summary["variables"][2]["last_value"] is None

    site_summaries = api.get(f"/api/sites/{site}/devices/summary/").json
    assert site_summaries["count"] == 1 and site_summaries["results"][0] == summary
    listed = api.get("/api/devices/", query={"is_online": "true"}).json["results"]
    assert [row["id"] for row in listed] == [device["id"]] and listed[0]["sensor_count"] == 3
    assert api.get("/api/devices/", query={"status": "OFFLINE"}).json["count"] == 0
    assert api.get(f"/api/sites/{site}/devices/", query={"device_type": "GATEWAY"}).json["count"] == 1
    assert api.get("/api/devices/", query={"asset": str(asset + 1)}).json["count"] == 0
    assert api.get("/api/devices/", query={"search": "c857"}).json["count"] == 1
