"""Registry API (API.md §2 /auth/me/, §3.6 assets, §3.7 sites, §4.1-4.4 devices and sensors).

Routes only: identity and permission, parse, call climatrak.registry.logic, shape the response.
Paths are declared without the /api prefix (the resolver strips it) and with a trailing slash.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.core.http import json_response, principal, requires
from climatrak.core.identity import Permission
from climatrak.registry import logic
from climatrak.registry.models import (
    Asset,
    AssetComplete,
    AssetCreate,
    AssetPatch,
    Device,
    DeviceCreate,
    DeviceDetail,
    DevicePatch,
    DeviceSummary,
    DeviceWithSecret,
    Me,
    Sensor,
    Site,
    SiteCreate,
    SitePatch,
    SiteStats,
)
from climatrak.registry.repository import RegistryRepository

from .route_support import claims, doc, int_id, no_content, page, query, tenant_repository

router = APIGatewayRouter()

READ = Permission.REGISTRY_READ
WRITE = Permission.REGISTRY_WRITE

_repo = tenant_repository(router, RegistryRepository)


# ---- session --------------------------------------------------------------------------------


@router.get("/auth/me/", responses=doc(Me))
@requires(router, READ)
def auth_me() -> Response[Any]:
    return json_response(200, logic.session(_repo(), principal(router), claims(router)))


# ---- sites ----------------------------------------------------------------------------------

SITE_FILTERS = ("company", "sector", "subsector", "timezone", "search")
DEVICE_FILTERS = ("asset", "device_type", "status", "is_online", "search", "ordering")


@router.get("/sites/", responses=doc(list[Site]))
@requires(router, READ)
def list_sites() -> Response[Any]:
    return page(router, logic.list_sites(_repo(), query(router, *SITE_FILTERS)))


@router.post("/sites/", responses=doc(Site, 201))
@requires(router, WRITE)
def create_site(body: SiteCreate) -> Response[Any]:
    return json_response(201, logic.create_site(_repo(), body))


@router.get("/sites/<site_id>/", responses=doc(Site))
@requires(router, READ)
def get_site(site_id: str) -> Response[Any]:
    return json_response(200, logic.get_site(_repo(), int_id(site_id)))


@router.patch("/sites/<site_id>/", responses=doc(Site))
@requires(router, WRITE)
def update_site(site_id: str, body: SitePatch) -> Response[Any]:
    return json_response(200, logic.update_site(_repo(), int_id(site_id), body))


@router.delete("/sites/<site_id>/")
@requires(router, WRITE)
def delete_site(site_id: str) -> Response[Any]:
    logic.delete_site(_repo(), int_id(site_id))
    return no_content()


@router.get("/sites/<site_id>/stats/", responses=doc(SiteStats))
@requires(router, READ)
def site_stats(site_id: str) -> Response[Any]:
    return json_response(200, logic.site_stats(_repo(), int_id(site_id)))


@router.get("/sites/<site_id>/devices/", responses=doc(list[Device]))
@requires(router, READ)
def site_devices(site_id: str) -> Response[Any]:
    return page(router, logic.site_devices(_repo(), int_id(site_id), query(router, *DEVICE_FILTERS)))


@router.get("/sites/<site_id>/devices/summary/", responses=doc(list[DeviceSummary]))
@requires(router, READ)
def site_device_summaries(site_id: str) -> Response[Any]:
    return page(router, logic.site_device_summaries(_repo(), int_id(site_id), query(router, *DEVICE_FILTERS)))


# ---- assets ---------------------------------------------------------------------------------

ASSET_FILTERS = ("site", "asset_type", "status", "manufacturer", "search", "ordering")


@router.get("/assets/", responses=doc(list[Asset]))
@requires(router, READ)
def list_assets() -> Response[Any]:
    return page(router, logic.list_assets(_repo(), query(router, *ASSET_FILTERS)))


@router.get("/assets/complete/", responses=doc(list[AssetComplete]))
@requires(router, READ)
def list_assets_complete() -> Response[Any]:
    return page(router, logic.list_assets_complete(_repo(), query(router, *ASSET_FILTERS)))


@router.post("/assets/", responses=doc(Asset, 201))
@requires(router, WRITE)
def create_asset(body: AssetCreate) -> Response[Any]:
    return json_response(201, logic.create_asset(_repo(), body))


@router.get("/assets/<asset_id>/", responses=doc(Asset))
@requires(router, READ)
def get_asset(asset_id: str) -> Response[Any]:
    return json_response(200, logic.get_asset(_repo(), int_id(asset_id)))


@router.patch("/assets/<asset_id>/", responses=doc(Asset))
@requires(router, WRITE)
def update_asset(asset_id: str, body: AssetPatch) -> Response[Any]:
    return json_response(200, logic.update_asset(_repo(), int_id(asset_id), body))


@router.delete("/assets/<asset_id>/")
@requires(router, WRITE)
def delete_asset(asset_id: str) -> Response[Any]:
    logic.delete_asset(_repo(), int_id(asset_id))
    return no_content()


@router.get("/assets/<asset_id>/sensors/", responses=doc(list[Sensor]))
@requires(router, READ)
def asset_sensors(asset_id: str) -> Response[Any]:
    # A bare array: the frontend calls .map/.find on this body (API.md §9).
    return json_response(200, logic.asset_sensors(_repo(), int_id(asset_id), query(router, "metric_type", "is_online")))


# ---- devices --------------------------------------------------------------------------------


@router.get("/devices/", responses=doc(list[Device]))
@requires(router, READ)
def list_devices() -> Response[Any]:
    return page(router, logic.list_devices(_repo(), query(router, *DEVICE_FILTERS)))


@router.post("/devices/", responses=doc(DeviceWithSecret, 201))
@requires(router, WRITE)
def create_device(body: DeviceCreate) -> Response[Any]:
    return json_response(201, logic.create_device(_repo(), body))


@router.get("/devices/<device_id>/", responses=doc(DeviceDetail))
@requires(router, READ)
def get_device(device_id: str) -> Response[Any]:
    return json_response(200, logic.get_device(_repo(), int_id(device_id)))


@router.patch("/devices/<device_id>/", responses=doc(DeviceDetail))
@requires(router, WRITE)
def update_device(device_id: str, body: DevicePatch) -> Response[Any]:
    return json_response(200, logic.update_device(_repo(), int_id(device_id), body))


@router.delete("/devices/<device_id>/")
@requires(router, WRITE)
def delete_device(device_id: str) -> Response[Any]:
    logic.delete_device(_repo(), int_id(device_id))
    return no_content()


@router.post("/devices/<device_id>/rotate-secret/", responses=doc(DeviceWithSecret))
@requires(router, Permission.DEVICE_SECRET_ROTATE)
def rotate_device_secret(device_id: str) -> Response[Any]:
    return json_response(200, logic.rotate_device_secret(_repo(), int_id(device_id)))


@router.get("/devices/<device_id>/summary/", responses=doc(DeviceSummary))
@requires(router, READ)
def device_summary(device_id: str) -> Response[Any]:
    return json_response(200, logic.device_summary(_repo(), int_id(device_id)))
