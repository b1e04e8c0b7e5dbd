"""Permissions and tenant isolation across every registry route."""

from __future__ import annotations

import pytest

from climatrak.core.identity import PERMISSIONS, Permission, Role
from climatrak.registry.logic import create_tenant
from functions.api import registry_routes


@pytest.fixture
def world(api, tenant, settings) -> dict[str, int]:
    """Tenant acme with one site, asset and device; tenant beta exists and is empty."""
    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    site = api.post("/api/sites/", {"name": "A-site"}).json["id"]
    asset = api.post("/api/assets/", {"tag": "A-1", "name": "A", "site": site, "asset_type": "AHU"}).json["id"]
    device = api.post("/api/devices/", {"name": "D", "mqtt_client_id": "a-dev", "site": site, "asset": asset}).json
    spare_site = api.post("/api/sites/", {"name": "Spare"}).json["id"]
    return {"site": site, "asset": asset, "device": device["id"], "spare_site": spare_site}


def _routes(ids: dict[str, int]) -> list[tuple[str, str, str, dict[str, object] | None]]:
    """(route function, method, path, body) for every registry route."""
    site, asset, device, spare_site = ids["site"], ids["asset"], ids["device"], ids["spare_site"]
    return [
        ("auth_me", "GET", "/api/auth/me/", None),
        ("list_sites", "GET", "/api/sites/", None),
        ("create_site", "POST", "/api/sites/", {"name": "New"}),
        ("get_site", "GET", f"/api/sites/{site}/", None),
        ("update_site", "PATCH", f"/api/sites/{site}/", {"address": "x"}),
        ("site_stats", "GET", f"/api/sites/{site}/stats/", None),
        ("site_devices", "GET", f"/api/sites/{site}/devices/", None),
        ("site_device_summaries", "GET", f"/api/sites/{site}/devices/summary/", None),
        ("list_assets", "GET", "/api/assets/", None),
        ("list_assets_complete", "GET", "/api/assets/complete/", None),
        ("create_asset", "POST", "/api/assets/", {"tag": "N-1", "name": "N", "site": site, "asset_type": "AHU"}),
        ("get_asset", "GET", f"/api/assets/{asset}/", None),
        ("update_asset", "PATCH", f"/api/assets/{asset}/", {"name": "x"}),
        ("asset_sensors", "GET", f"/api/assets/{asset}/sensors/", None),
        ("list_devices", "GET", "/api/devices/", None),
        ("create_device", "POST", "/api/devices/", {"name": "N", "mqtt_client_id": "n-1", "site": site}),
        ("get_device", "GET", f"/api/devices/{device}/", None),
        ("update_device", "PATCH", f"/api/devices/{device}/", {"name": "x"}),
        ("device_summary", "GET", f"/api/devices/{device}/summary/", None),
        ("rotate_device_secret", "POST", f"/api/devices/{device}/rotate-secret/", None),
        # Deletes last: device before asset; the spare site has nothing in it.
        ("delete_device", "DELETE", f"/api/devices/{device}/", None),
        ("delete_asset", "DELETE", f"/api/assets/{asset}/", None),
        ("delete_site", "DELETE", f"/api/sites/{spare_site}/", None),
    ]


def _permission_of(route_name: str) -> Permission:
    for func in registry_routes.router._routes.values():
        if func.__name__ == route_name:
            from climatrak.core.http import ROUTE_PERMISSIONS

            return ROUTE_PERMISSIONS[func.__qualname__]
    raise AssertionError(f"no route {route_name}")


def test_the_walk_covers_every_registry_route() -> None:
    declared = {func.__name__ for func in registry_routes.router._routes.values()}
    assert declared == {name for name, *_ in _routes({"site": 1, "asset": 1, "device": 1, "spare_site": 2})}


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
    writers = {Role.OWNER, Role.ADMIN, Role.OPERATOR}
    assert (role in writers) == (role in PERMISSIONS[Permission.REGISTRY_WRITE])


def test_another_tenant_gets_404_on_every_id_and_sees_no_rows(api, world) -> None:
    for name, method, path, body in _routes(world):
        if not any(part.isdigit() for part in path.split("/")):
            continue
        status, response = api.request(method, path, tenant="beta", role="owner", body=body)
        assert status == 404, (name, status, response)
        assert response["detail"] == "Not found."
    for path in ("/api/sites/", "/api/assets/", "/api/assets/complete/", "/api/devices/"):
        assert api.get(path, tenant="beta").json == {"count": 0, "next": None, "previous": None, "results": []}
    # Nothing of acme changed.
    assert api.get(f"/api/assets/{world['asset']}/").json["name"] == "A"
    assert api.get("/api/devices/").json["count"] == 1


def test_x_tenant_header_that_disagrees_with_the_token_is_403(api, world) -> None:
    status, body = api.get("/api/sites/", headers={"X-Tenant": "beta"})
    assert status == 403 and body["code"] == "tenant_mismatch"


@pytest.mark.parametrize("raw", ["²", "\u0661", "1" * 5000])  # superscript two, Arabic-Indic one
def test_path_ids_that_are_not_ascii_digits_are_404(api, world, raw: str) -> None:
    """`"²".isdigit()` is True, yet int("²") fails: such ids are simply not found."""
    for name, method, path, body in _routes(world):
        parts = path.split("/")
        if not any(part.isdigit() for part in parts):
            continue
        odd = "/".join(raw if part.isdigit() else part for part in parts)
        status, response = api.request(method, odd, body=body)
        assert status == 404 and response["detail"] == "Not found.", (name, status)
