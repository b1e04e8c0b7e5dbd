"""Sites (API.md §3.7) and the session payload (§2)."""

from __future__ import annotations

import boto3

from climatrak.core.config import Settings
from climatrak.core.errors import Conflict
from climatrak.registry.logic import create_tenant, get_tenant

SITE = {"name": "Uberlandia", "company": "UMC", "sector": "Hospital", "subsector": "UTI", "address": "Av. 1"}


def test_create_tenant_returns_the_tenant_and_refuses_duplicates(settings: Settings, clean_aws: None) -> None:
    tenant = create_tenant(settings, "umc", "UMC Hospital", "America/Sao_Paulo")
    assert tenant["slug"] == "umc" and tenant["name"] == "UMC Hospital" and tenant["timezone"] == "America/Sao_Paulo"
    assert get_tenant(settings, "umc") == tenant
    try:
        create_tenant(settings, "umc", "Again", "America/Sao_Paulo")
    except Conflict:
        pass
    else:
        raise AssertionError("duplicate tenant accepted")


def test_me_returns_user_tenant_role_and_all_feature_flags(api, tenant) -> None:
    status, body = api.get("/api/auth/me/", role="technician", user_id=7, email="ana@example.com")
    assert status == 200
    assert body["user"]["id"] == 7 and body["user"]["email"] == "ana@example.com"
    assert body["user"]["role"] == "technician" and body["user"]["is_active"] is True
    assert body["tenant"] == {
        "id": body["tenant"]["id"],
        "schema_name": "acme",
        "name": "Acme HVAC",
        "slug": "acme",
        "role": "technician",
        "features": {
            "trakservice.enabled": False,
            "trakservice.dispatch": False,
            "trakservice.tracking": False,
            "trakservice.routing": False,
            "trakservice.km": False,
            "trakservice.quotes": False,
        },
    }


def test_me_reports_features_set_on_the_tenant(api, tenant, settings) -> None:
    boto3.client("dynamodb").update_item(
        TableName=settings.main_table,
        Key={"pk": {"S": "T#acme"}, "sk": {"S": "TENANT"}},
        UpdateExpression="SET features = :f",
        ExpressionAttributeValues={":f": {"M": {"trakservice.enabled": {"BOOL": True}}}},
    )
    features = api.get("/api/auth/me/").json["tenant"]["features"]
    assert features["trakservice.enabled"] is True and features["trakservice.quotes"] is False


def test_me_without_claims_is_401_and_unknown_tenant_is_404(api, tenant) -> None:
    assert api.get("/api/auth/me/", tenant=None).status == 401
    status, body = api.get("/api/auth/me/", tenant="ghost")
    assert status == 404 and body["code"] == "tenant_not_found"


def test_site_crud_round_trip(api, tenant) -> None:
    status, site = api.post("/api/sites/", {**SITE, "latitude": -18.9186, "longitude": "-48.2772"})
    assert status == 201
    assert site["id"] == 1 and site["timezone"] == "America/Sao_Paulo" and site["asset_count"] == 0
    assert site["latitude"] == "-18.9186000" and site["longitude"] == "-48.2772000"
    assert site["full_name"] == "UMC - Hospital - UTI - Uberlandia"
    assert api.get(f"/api/sites/{site['id']}/").json == site

    status, patched = api.patch(f"/api/sites/{site['id']}/", {"name": "Uberlândia", "address": "Av. 2"})
    assert status == 200 and patched["name"] == "Uberlândia" and patched["address"] == "Av. 2"
    assert patched["company"] == "UMC"

    assert api.delete(f"/api/sites/{site['id']}/") == (204, None)
    assert api.get(f"/api/sites/{site['id']}/").status == 404


def test_site_validation_errors_are_field_errors(api, tenant) -> None:
    assert api.post("/api/sites/", {"company": "UMC"}) == (400, {"name": ["Field required"]})
    status, body = api.post("/api/sites/", {"name": "X", "timezone": "Mars/Olympus"})
    assert status == 400 and list(body) == ["timezone"]
    assert api.get("/api/sites/abc/").status == 404


def test_site_list_is_a_drf_page_honouring_page_size_with_absolute_links(api, tenant) -> None:
    for index in range(5):
        api.post("/api/sites/", {"name": f"Site {index}", "company": "UMC" if index % 2 else "Other"})
    status, page = api.get("/api/sites/", query={"page_size": "2"})
    assert status == 200
    assert page["count"] == 5 and len(page["results"]) == 2 and page["previous"] is None
    assert page["next"] == "https://testserver/api/sites/?page_size=2&page=2"
    last = api.get("/api/sites/", query={"page_size": "2", "page": "3"}).json
    assert [site["name"] for site in last["results"]] == ["Site 4"] and last["next"] is None
    assert last["previous"].startswith("https://testserver/api/sites/?")

    filtered = api.get("/api/sites/", query={"company": "umc"}).json
    assert [site["name"] for site in filtered["results"]] == ["Site 1", "Site 3"]
    assert api.get("/api/sites/", query={"search": "site 4"}).json["count"] == 1


def test_site_stats_and_asset_count(api, tenant, put_sensor) -> None:
    site = api.post("/api/sites/", SITE).json
    other = api.post("/api/sites/", {"name": "Elsewhere"}).json
    for tag, status in (("A-1", "OK"), ("A-2", "ALERT"), ("A-3", "STOPPED"), ("A-4", "MAINTENANCE")):
        api.post("/api/assets/", {"tag": tag, "name": tag, "site": site["id"], "asset_type": "AHU", "status": status})
    api.post("/api/assets/", {"tag": "B-1", "name": "B", "site": other["id"], "asset_type": "CHILLER"})
    device = api.post("/api/devices/", {"name": "Gw", "mqtt_client_id": "gw-1", "site": site["id"]}).json
    api.post("/api/devices/", {"name": "Gw2", "mqtt_client_id": "gw-2", "site": site["id"]})
    put_sensor("acme", sensor_id=1, device_id=device["id"], tag="gw-1_temp", asset_id=None)

    assert api.get(f"/api/sites/{site['id']}/").json["asset_count"] == 3  # STOPPED is not counted
    status, stats = api.get(f"/api/sites/{site['id']}/stats/")
    assert status == 200
    assert stats == {
        "total_assets": 4,
        "assets_by_status": {"OK": 1, "ALERT": 1, "STOPPED": 1, "MAINTENANCE": 1},
        "assets_by_type": {"AHU": 4},
        "total_devices": 2,
        "online_devices": 0,
        "avg_device_availability": 0.0,
        "total_sensors": 1,
        "online_sensors": 0,
        "assets_with_active_alerts": 0,
    }


def test_a_site_with_assets_cannot_be_deleted(api, tenant) -> None:
    site = api.post("/api/sites/", SITE).json
    api.post("/api/assets/", {"tag": "A-1", "name": "A", "site": site["id"], "asset_type": "AHU"})
    status, body = api.delete(f"/api/sites/{site['id']}/")
    assert status == 400 and "detail" in body
    assert api.get(f"/api/sites/{site['id']}/").status == 200


def test_a_site_names_an_existing_cost_center_of_its_tenant_or_none(api, tenant) -> None:
    from climatrak.ledger.items import ensure_default_cost_center

    cost_center = ensure_default_cost_center("acme")
    status, site = api.post("/api/sites/", {**SITE, "cost_center": cost_center})
    assert status == 201 and site["cost_center"] == cost_center
    assert api.get(f"/api/sites/{site['id']}/").json["cost_center"] == cost_center
    assert api.patch(f"/api/sites/{site['id']}/", {"cost_center": None}).json["cost_center"] is None
    assert api.post("/api/sites/", {"name": "Plain"}).json["cost_center"] is None
    unknown = "00000000-0000-4000-8000-000000000000"
    assert api.patch(f"/api/sites/{site['id']}/", {"cost_center": unknown}) == (
        400,
        {"cost_center": [f'Invalid pk "{unknown}" - object does not exist.']},
    )
    status, body = api.post("/api/sites/", {"name": "X", "cost_center": "not-a-uuid"})
    assert status == 400 and list(body) == ["cost_center"]


def test_system_jobs_list_the_tenants_by_time_zone(settings, clean_aws) -> None:
    from climatrak.registry.logic import create_tenant, list_tenants

    create_tenant(settings, "acme", "Acme", "America/Sao_Paulo")
    create_tenant(settings, "beta", "Beta", "America/Manaus")
    create_tenant(settings, "gama", "Gama", "America/Sao_Paulo")

    assert sorted(tenant.slug for tenant in list_tenants(settings)) == ["acme", "beta", "gama"]
    assert [tenant.slug for tenant in list_tenants(settings, "America/Sao_Paulo")] == ["acme", "gama"]
