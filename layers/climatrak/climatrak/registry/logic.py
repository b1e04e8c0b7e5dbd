"""Registry rules: tenants, sites, assets, devices, sensors and the session payload.

Plain functions over a tenant-scoped `RegistryRepository`; no boto3 and no HTTP here.
Not-found ids raise NotFound whatever tenant owns them, so a tenant never learns of another's rows.
"""

from __future__ import annotations

import secrets
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from climatrak.core import aws
from climatrak.core.config import DEFAULT_TIMEZONE, Settings
from climatrak.core.errors import DomainError, NotFound
from climatrak.core.identity import Principal, validate_tenant_slug
from climatrak.core.items import bind_main_table
from climatrak.core.timeutil import iso_ms, parse_iso, utc_now_iso
from climatrak.ledger.items import CostCenterItem, LedgerKeys
from climatrak.registry.items import TENANT_DIRECTORY_PK, AssetItem, DeviceItem, SensorItem, SiteItem, TenantItem
from climatrak.registry.models import (
    COUNTED_ASSET_STATUSES,
    FEATURE_KEYS,
    Asset,
    AssetComplete,
    AssetCreate,
    AssetInfo,
    AssetPatch,
    Device,
    DeviceCreate,
    DeviceDetail,
    DevicePatch,
    DeviceStatus,
    DeviceSummary,
    DeviceWithSecret,
    LatestReading,
    Me,
    Sensor,
    SensorVariable,
    SessionTenant,
    Site,
    SiteCreate,
    SitePatch,
    SiteStats,
    User,
)
from climatrak.registry.repository import RegistryRepository
from climatrak.telemetry.readings import ReadingRepository

T = TypeVar("T")

# A device or sensor heard from within this window is online.
ONLINE_WINDOW = timedelta(minutes=15)
FRESHEN_CONCURRENCY = 16
NOT_FOUND = "Not found."
# DRF DecimalField places per stored decimal.
COORDINATE_PLACES = Decimal("0.0000001")
MEASURE_PLACES = Decimal("0.01")
ASSET_TYPE_LABELS = {
    "CHILLER": "Chiller",
    "AHU": "Air Handling Unit",
    "FAN_COIL": "Fan Coil",
    "PUMP": "Pump",
    "BOILER": "Boiler",
    "COOLING_TOWER": "Cooling Tower",
    "VRF": "VRF System",
    "RTU": "Rooftop Unit",
    "VALVE": "Valve",
    "SENSOR": "Sensor",
    "CONTROLLER": "Controller",
    "FILTER": "Filter",
    "DUCT": "Duct",
    "METER": "Meter",
    "OTHER": "Other",
}
ASSET_ORDERINGS = {"tag", "name", "status", "health_score", "created_at"}
DEVICE_ORDERINGS = {"name", "created_at", "last_seen", "serial_number", "id"}


def active_alert_counts(repo: RegistryRepository, asset_tags: Iterable[str]) -> Mapping[str, int]:
    """Active (unacknowledged, unresolved) alerts per asset tag."""
    # imported here: the alerts module builds on the registry, not the other way round
    from climatrak.alerts.logic import active_alert_counts as counts

    return counts(repo, asset_tags)


# ---- small helpers ---------------------------------------------------------------------------


def is_recent(timestamp: str | None, now: datetime) -> bool:
    return bool(timestamp) and now - parse_iso(timestamp or "") <= ONLINE_WINDOW


def _quantize(value: Decimal | None, places: Decimal) -> Decimal | None:
    return None if value is None else value.quantize(places)


def _iso_date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _contains(needle: str, *haystack: str | None) -> bool:
    needle = needle.lower()
    return any(needle in (text or "").lower() for text in haystack)


def _validate_timezone(value: str, field_name: str = "timezone") -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(f'"{value}" is not a valid time zone.', field=field_name) from None
    return value


def _not_null(patch: Any, names: Iterable[str]) -> None:
    for name in names:
        if name in patch.model_fields_set and getattr(patch, name) is None:
            raise DomainError("This field may not be null.", field=name)


def _cost_center_id(repo: RegistryRepository, value: Any) -> str | None:
    """A `cost_center` field (uuid or None) as stored; it must name a cost centre of the tenant."""
    if value is None:
        return None
    cost_center_id = str(value)
    try:
        CostCenterItem.get(repo.pk, LedgerKeys.cost_center(cost_center_id), consistent_read=True)
    except CostCenterItem.DoesNotExist:
        raise DomainError(f'Invalid pk "{cost_center_id}" - object does not exist.', field="cost_center") from None
    return cost_center_id


def display_name(serial_number: str) -> str:
    return serial_number[-4:] if serial_number else ""


def variable_name(tag: str) -> str:
    """`F80332010002C857_Temperatura de retorno` -> `Temperatura De Retorno`; RSSI/SNR stay upper."""
    _, sep, rest = tag.partition("_")
    name = rest if sep else tag
    return name.upper() if name.upper() in {"RSSI", "SNR"} else name.title()


# ---- tenants and the session -----------------------------------------------------------------


def _tenant_dict(item: TenantItem) -> dict[str, Any]:
    return {
        "id": int(item.id),
        "slug": item.slug,
        "name": item.name,
        "timezone": item.timezone,
        "features": dict(item.features.as_dict() if item.features else {}),
        "created_at": item.created_at,
    }


def create_tenant(settings: Settings, slug: str, name: str, timezone: str = DEFAULT_TIMEZONE) -> dict[str, Any]:
    """Create a tenant; a duplicate slug raises Conflict."""
    try:
        validate_tenant_slug(slug)
    except ValueError as error:
        raise DomainError(str(error), field="slug") from None
    if not name.strip():
        raise DomainError("This field may not be blank.", field="name")
    _validate_timezone(timezone or DEFAULT_TIMEZONE)
    repo = RegistryRepository(slug, settings)
    # A stable integer id without a cross-tenant counter: the frontend only displays it.
    item = TenantItem(
        id=zlib.crc32(slug.encode()) & 0x7FFFFFFF,
        slug=slug,
        name=name.strip(),
        timezone=timezone or DEFAULT_TIMEZONE,
        features={},
        created_at=utc_now_iso(),
        gsi1pk=TENANT_DIRECTORY_PK,
        gsi1sk=f"{timezone or DEFAULT_TIMEZONE}#{slug}",
    )
    repo.create_tenant(item)
    return _tenant_dict(item)


def list_tenants(settings: Settings, timezone: str | None = None) -> list[TenantItem]:
    """Every tenant (of one time zone), from the tenant directory index; for system jobs only."""
    bind_main_table(settings.main_table)
    condition = TenantItem.gsi1sk.startswith(f"{timezone}#") if timezone else None
    return list(TenantItem.directory.query(TENANT_DIRECTORY_PK, condition))


def get_tenant(settings: Settings, slug: str) -> dict[str, Any] | None:
    item = RegistryRepository(slug, settings).get_tenant()
    return _tenant_dict(item) if item else None


def session(repo: RegistryRepository, caller: Principal, claims: Mapping[str, Any]) -> Me:
    tenant = repo.get_tenant()
    if tenant is None:
        raise NotFound("Tenant not found.", code="tenant_not_found")
    stored = tenant.features.as_dict() if tenant.features else {}
    features = {key: bool(stored.get(key, False)) for key in FEATURE_KEYS}
    features.update({key: bool(value) for key, value in stored.items() if key not in features})
    first = str(claims.get("given_name") or "")
    last = str(claims.get("family_name") or "")
    full = " ".join(part for part in (first, last) if part) or str(claims.get("name") or "") or caller.email
    initials = "".join(word[0] for word in full.replace("@", " ").split()[:2]).upper()
    user = User(
        id=caller.user_id,
        username=caller.email or caller.subject,
        email=caller.email,
        first_name=first,
        last_name=last,
        full_name=full,
        initials=initials,
        avatar=None,
        phone="",
        bio="",
        position="",
        timezone=tenant.timezone,
        time_format="24h",
        email_verified=True,
        is_active=True,
        is_staff=False,
        role=caller.role.value,
        site=tenant.name,
        date_joined=None,
        last_login=None,
        created_at=None,
        updated_at=None,
    )
    return Me(
        user=user,
        tenant=SessionTenant(
            id=int(tenant.id),
            schema_name=tenant.slug.replace("-", "_"),
            name=tenant.name,
            slug=tenant.slug,
            role=caller.role.value,
            features=features,
        ),
    )


# ---- a tenant's registry, loaded once per request ------------------------------------------


@dataclass
class Registry:
    """Lazily loaded rows of one tenant, so a list response costs a few queries, not N+1."""

    repo: RegistryRepository
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _freshened: set[int] = field(default_factory=set)

    @cached_property
    def sites(self) -> dict[int, SiteItem]:
        return {int(item.id): item for item in self.repo.list_sites()}

    @cached_property
    def assets(self) -> dict[int, AssetItem]:
        return {int(item.id): item for item in self.repo.list_assets()}

    @cached_property
    def devices(self) -> dict[int, DeviceItem]:
        return {int(item.id): item for item in self.repo.list_devices()}

    @cached_property
    def sensors(self) -> list[SensorItem]:
        return self.repo.list_sensors()

    @cached_property
    def sensors_by_device(self) -> dict[int, list[SensorItem]]:
        grouped: dict[int, list[SensorItem]] = defaultdict(list)
        for sensor in self.sensors:
            grouped[int(sensor.device_id)].append(sensor)
        return grouped

    @cached_property
    def devices_by_asset(self) -> dict[int, list[DeviceItem]]:
        grouped: dict[int, list[DeviceItem]] = defaultdict(list)
        for device in self.devices.values():
            if device.asset_id is not None:
                grouped[int(device.asset_id)].append(device)
        return grouped

    def sensors_of_asset(self, asset_id: int) -> list[SensorItem]:
        return [sensor for sensor in self.sensors if sensor.asset_id is not None and int(sensor.asset_id) == asset_id]

    @cached_property
    def _readings(self) -> ReadingRepository:
        settings = self.repo.settings
        return ReadingRepository(
            aws.client("dynamodb"), settings.telemetry_table, settings.main_table, self.repo.tenant
        )

    def freshen(self, devices: Iterable[DeviceItem]) -> None:
        """Overlay the newest Telemetry items on the loaded sensor and device items (in memory only).

        Ingest refreshes the stored latest values about once an hour to keep its write cost at
        one write unit per message; the Telemetry table always has the current ones."""
        pending = [d for d in devices if int(d.id) not in self._freshened]
        if not pending:
            return
        if len(pending) == 1:  # a detail view: no thread pool for one query
            newest = [self._readings.newest(pending[0].mqtt_client_id)]
        else:
            with ThreadPoolExecutor(max_workers=min(len(pending), FRESHEN_CONCURRENCY)) as pool:
                newest = list(pool.map(lambda device: self._readings.newest(device.mqtt_client_id), pending))
        for device, (newest_ts, values) in zip(pending, newest, strict=True):
            self._freshened.add(int(device.id))
            if newest_ts is not None and iso_ms(newest_ts) > (device.last_seen or ""):
                device.last_seen = iso_ms(newest_ts)
            for sensor in self.sensors_by_device.get(int(device.id), []):
                hit = values.get(sensor.tag)
                if hit and iso_ms(hit[0]) > (sensor.last_reading_at or ""):
                    sensor.last_reading_at, sensor.last_value = iso_ms(hit[0]), hit[1]

    def freshen_sensors(self, sensors: Iterable[SensorItem]) -> None:
        device_ids = {int(sensor.device_id) for sensor in sensors}
        self.freshen(self.devices[d] for d in device_ids if d in self.devices)

    def device_online(self, device: DeviceItem) -> bool:
        self.freshen([device])
        return is_recent(device.last_seen, self.now)

    def sensor_online(self, sensor: SensorItem) -> bool:
        self.freshen_sensors([sensor])
        return is_recent(sensor.last_reading_at, self.now)


def _require(item: T | None) -> T:
    if item is None:
        raise NotFound(NOT_FOUND)
    return item


# ---- sites -----------------------------------------------------------------------------------


def site_full_name(site: SiteItem) -> str:
    return " - ".join(part for part in (site.company, site.sector, site.subsector, site.name) if part)


def site_view(site: SiteItem, registry: Registry) -> Site:
    asset_count = sum(
        1
        for asset in registry.assets.values()
        if int(asset.site_id) == int(site.id) and asset.status in COUNTED_ASSET_STATUSES
    )
    return Site(
        id=int(site.id),
        name=site.name,
        full_name=site_full_name(site),
        company=site.company,
        sector=site.sector,
        subsector=site.subsector,
        address=site.address,
        latitude=site.latitude,
        longitude=site.longitude,
        timezone=site.timezone,
        cost_center=site.cost_center_id,
        asset_count=asset_count,
        created_at=site.created_at,
        updated_at=site.updated_at,
    )


def list_sites(repo: RegistryRepository, filters: Mapping[str, str | None]) -> list[Site]:
    registry = Registry(repo)
    rows = sorted(registry.sites.values(), key=lambda site: (site.name.lower(), int(site.id)))
    for name in ("company", "sector", "subsector", "timezone"):
        wanted = filters.get(name)
        if wanted:
            rows = [site for site in rows if getattr(site, name).lower() == wanted.lower()]
    search = filters.get("search")
    if search:
        rows = [s for s in rows if _contains(search, s.name, s.company, s.sector, s.subsector, s.address)]
    return [site_view(site, registry) for site in rows]


def get_site(repo: RegistryRepository, site_id: int) -> Site:
    return site_view(_require(repo.get_site(site_id)), Registry(repo))


def create_site(repo: RegistryRepository, body: SiteCreate) -> Site:
    _validate_timezone(body.timezone)
    now = utc_now_iso()
    site = SiteItem(
        id=repo.new_id("site"),
        name=body.name,
        company=body.company,
        sector=body.sector,
        subsector=body.subsector,
        address=body.address,
        latitude=_quantize(body.latitude, COORDINATE_PLACES),
        longitude=_quantize(body.longitude, COORDINATE_PLACES),
        timezone=body.timezone,
        cost_center_id=_cost_center_id(repo, body.cost_center),
        created_at=now,
        updated_at=now,
    )
    repo.create_site(site)
    return site_view(site, Registry(repo))


def update_site(repo: RegistryRepository, site_id: int, body: SitePatch) -> Site:
    site = _require(repo.get_site(site_id))
    _not_null(body, ("name", "company", "sector", "subsector", "address", "timezone"))
    changes = body.model_dump(exclude_unset=True)
    if "timezone" in changes:
        _validate_timezone(changes["timezone"])
    for name in ("latitude", "longitude"):
        if name in changes:
            changes[name] = _quantize(changes[name], COORDINATE_PLACES)
    if "cost_center" in changes:
        changes["cost_center_id"] = _cost_center_id(repo, changes.pop("cost_center"))
    for name, value in changes.items():
        setattr(site, name, value)
    site.updated_at = utc_now_iso()
    repo.save_site(site)
    return site_view(site, Registry(repo))


def delete_site(repo: RegistryRepository, site_id: int) -> None:
    site = _require(repo.get_site(site_id))
    registry = Registry(repo)
    if any(int(asset.site_id) == site_id for asset in registry.assets.values()) or any(
        int(device.site_id) == site_id for device in registry.devices.values()
    ):
        raise DomainError("This site still has assets or devices; move or delete them first.")
    repo.delete_site(site)


def site_stats(repo: RegistryRepository, site_id: int) -> SiteStats:
    _require(repo.get_site(site_id))
    registry = Registry(repo)
    assets = [asset for asset in registry.assets.values() if int(asset.site_id) == site_id]
    devices = [device for device in registry.devices.values() if int(device.site_id) == site_id]
    registry.freshen(devices)
    sensors = [sensor for device in devices for sensor in registry.sensors_by_device.get(int(device.id), [])]
    online_devices = sum(1 for device in devices if registry.device_online(device))
    alerts = active_alert_counts(repo, [asset.tag for asset in assets])
    return SiteStats(
        total_assets=len(assets),
        assets_by_status=dict(Counter(asset.status for asset in assets)),
        assets_by_type=dict(Counter(asset.asset_type for asset in assets)),
        total_devices=len(devices),
        online_devices=online_devices,
        avg_device_availability=round(100 * online_devices / len(devices), 1) if devices else 0.0,
        total_sensors=len(sensors),
        online_sensors=sum(1 for sensor in sensors if registry.sensor_online(sensor)),
        assets_with_active_alerts=sum(1 for asset in assets if alerts.get(asset.tag, 0) > 0),
    )


# ---- assets ----------------------------------------------------------------------------------


def asset_view(asset: AssetItem, registry: Registry) -> Asset:
    site = registry.sites.get(int(asset.site_id))
    site_name = site.name if site else ""
    location = site_full_name(site) if site else ""
    if asset.location_description:
        location = f"{location} - {asset.location_description}" if location else asset.location_description
    devices = registry.devices_by_asset.get(int(asset.id), [])
    return Asset(
        id=int(asset.id),
        tag=asset.tag,
        name=asset.name,
        site=int(asset.site_id),
        site_name=site_name,
        full_location=location,
        asset_type=asset.asset_type,
        asset_type_display=ASSET_TYPE_LABELS.get(asset.asset_type, asset.asset_type),
        asset_type_other=asset.asset_type_other,
        manufacturer=asset.manufacturer,
        model=asset.model_name,
        serial_number=asset.serial_number,
        patrimony_number=asset.patrimony_number,
        criticality=asset.criticality,
        warranty_expiry=asset.warranty_expiry,
        location_description=asset.location_description,
        installation_date=asset.installation_date,
        last_maintenance=asset.last_maintenance,
        status=asset.status,
        health_score=int(asset.health_score),
        specifications=asset.specifications.as_dict() if asset.specifications else {},
        nominal_voltage=asset.nominal_voltage,
        phases=int(asset.phases) if asset.phases is not None else None,
        nominal_current=asset.nominal_current,
        power_factor=asset.power_factor,
        capacity=asset.capacity,
        capacity_unit=asset.capacity_unit,
        refrigerant=asset.refrigerant,
        active_power_kw=asset.active_power_kw,
        apparent_power_kva=asset.apparent_power_kva,
        reactive_power_kvar=asset.reactive_power_kvar,
        device_count=len(devices),
        sensor_count=len(registry.sensors_of_asset(int(asset.id))),
        created_at=asset.created_at,
        updated_at=asset.updated_at,
        sector=int(asset.sector) if asset.sector is not None else None,
        subsection=int(asset.subsection) if asset.subsection is not None else None,
        # Locations (companies/sectors/subsections) are another module; names join in later.
        company_id=None,
        sector_name=None,
        subsection_name=None,
        cost_center=asset.cost_center_id,
    )


def latest_readings(sensors: Iterable[SensorItem], registry: Registry) -> dict[str, LatestReading]:
    """Latest reading per lower-case metric type; with several sensors of one type the newest wins."""
    readings: dict[str, LatestReading] = {}
    sensors = list(sensors)
    registry.freshen_sensors(sensors)
    for sensor in sorted(sensors, key=lambda s: s.last_reading_at or ""):
        if not sensor.metric_type:
            continue
        readings[sensor.metric_type.lower()] = LatestReading(
            sensor_id=int(sensor.id),
            sensor_name=sensor.tag,
            value=sensor.last_value,
            unit=sensor.unit,
            timestamp=sensor.last_reading_at,
            is_online=registry.sensor_online(sensor),
        )
    return readings


def asset_complete_view(asset: AssetItem, registry: Registry, alerts: Mapping[str, int]) -> AssetComplete:
    base = asset_view(asset, registry)
    site = registry.sites.get(int(asset.site_id))
    sensors = registry.sensors_of_asset(int(asset.id))
    devices = registry.devices_by_asset.get(int(asset.id), [])
    return AssetComplete(
        **base.model_dump(),
        site_company=site.company if site else "",
        site_sector=site.sector if site else "",
        site_subsector=site.subsector if site else "",
        sector_id=base.sector,
        subsection_id=base.subsection,
        company_name=None,
        online_device_count=sum(1 for device in devices if registry.device_online(device)),
        online_sensor_count=sum(1 for sensor in sensors if registry.sensor_online(sensor)),
        alert_count=alerts.get(asset.tag, 0),
        latest_readings=latest_readings(sensors, registry),
    )


def _filtered_assets(registry: Registry, filters: Mapping[str, str | None]) -> list[AssetItem]:
    rows = list(registry.assets.values())
    site = filters.get("site")
    if site:
        rows = [asset for asset in rows if str(int(asset.site_id)) == site]
    for name in ("asset_type", "status"):
        wanted = filters.get(name)
        if wanted:
            rows = [asset for asset in rows if getattr(asset, name).lower() == wanted.lower()]
    manufacturer = filters.get("manufacturer")
    if manufacturer:
        rows = [asset for asset in rows if asset.manufacturer.lower() == manufacturer.lower()]
    search = filters.get("search")
    if search:
        rows = [a for a in rows if _contains(search, a.tag, a.name, a.manufacturer, a.model_name, a.serial_number)]
    ordering = filters.get("ordering") or "tag"
    descending = ordering.startswith("-")
    key = ordering.lstrip("-")
    if key not in ASSET_ORDERINGS:  # unknown orderings are ignored, as DRF does
        key, descending = "tag", False
    # Ties keep id order in both directions (sort is stable, also with reverse=True).
    rows.sort(key=lambda asset: int(asset.id))
    rows.sort(key=lambda asset: getattr(asset, key), reverse=descending)
    return rows


def list_assets(repo: RegistryRepository, filters: Mapping[str, str | None]) -> list[Asset]:
    registry = Registry(repo)
    return [asset_view(asset, registry) for asset in _filtered_assets(registry, filters)]


def list_assets_complete(repo: RegistryRepository, filters: Mapping[str, str | None]) -> list[AssetComplete]:
    registry = Registry(repo)
    rows = _filtered_assets(registry, filters)
    registry.freshen(device for asset in rows for device in registry.devices_by_asset.get(int(asset.id), []))
    alerts = active_alert_counts(repo, [asset.tag for asset in rows])
    return [asset_complete_view(asset, registry, alerts) for asset in rows]


def get_asset(repo: RegistryRepository, asset_id: int) -> Asset:
    return asset_view(_require(repo.get_asset(asset_id)), Registry(repo))


def _require_site(repo: RegistryRepository, site_id: int) -> SiteItem:
    site = repo.get_site(site_id)
    if site is None:
        raise DomainError(f'Invalid pk "{site_id}" - object does not exist.', field="site")
    return site


_ASSET_DECIMALS = (
    "capacity",
    "nominal_voltage",
    "nominal_current",
    "power_factor",
    "active_power_kw",
    "apparent_power_kva",
    "reactive_power_kvar",
)
_ASSET_DATES = ("warranty_expiry", "installation_date", "last_maintenance")
_ASSET_NOT_NULL = (
    "tag",
    "name",
    "site",
    "asset_type",
    "status",
    "manufacturer",
    "model",
    "serial_number",
    "patrimony_number",
    "criticality",
    "location_description",
    "health_score",
    "specifications",
)


def _apply_asset_fields(asset: AssetItem, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        if name in _ASSET_DECIMALS:
            asset.__setattr__(name, _quantize(value, MEASURE_PLACES))
        elif name in _ASSET_DATES:
            asset.__setattr__(name, _iso_date(value))
        elif name == "site":
            asset.site_id = value
        elif name == "model":
            asset.model_name = value
        elif name == "cost_center":
            asset.cost_center_id = value
        else:
            asset.__setattr__(name, value)


def create_asset(repo: RegistryRepository, body: AssetCreate) -> Asset:
    _require_site(repo, body.site)
    changes = body.model_dump(exclude_none=True)
    if "cost_center" in changes:
        changes["cost_center"] = _cost_center_id(repo, changes["cost_center"])
    now = utc_now_iso()
    asset = AssetItem(id=repo.new_id("asset"), created_at=now, updated_at=now, specifications={})
    # Fields the client left out keep the model defaults (status OK, health 100, "" texts).
    _apply_asset_fields(asset, changes)
    repo.create_asset(asset)
    return asset_view(asset, Registry(repo))


def update_asset(repo: RegistryRepository, asset_id: int, body: AssetPatch) -> Asset:
    asset = _require(repo.get_asset(asset_id))
    _not_null(body, _ASSET_NOT_NULL)
    changes = body.model_dump(exclude_unset=True)
    if "site" in changes:
        _require_site(repo, changes["site"])
    if "cost_center" in changes:
        changes["cost_center"] = _cost_center_id(repo, changes["cost_center"])
    previous_tag = asset.tag
    _apply_asset_fields(asset, changes)
    asset.updated_at = utc_now_iso()
    repo.save_asset(asset, previous_tag=previous_tag)
    return asset_view(asset, Registry(repo))


def delete_asset(repo: RegistryRepository, asset_id: int) -> None:
    asset = _require(repo.get_asset(asset_id))
    if repo.devices_of_asset(asset_id):
        raise DomainError("This asset still has devices; move or delete them first.")
    repo.delete_asset(asset)


# ---- devices and sensors ---------------------------------------------------------------------


def _device_fields(device: DeviceItem, registry: Registry) -> dict[str, Any]:
    asset = registry.assets.get(int(device.asset_id)) if device.asset_id is not None else None
    online = registry.device_online(device)
    return {
        "id": int(device.id),
        "name": device.name,
        "serial_number": device.serial_number,
        "display_name": display_name(device.serial_number),
        "mqtt_client_id": device.mqtt_client_id,
        "site": int(device.site_id),
        "asset": int(device.asset_id) if device.asset_id is not None else None,
        "asset_tag": asset.tag if asset else None,
        "device_type": device.device_type,
        "status": "ONLINE" if online else "OFFLINE",
        "sensor_count": len(registry.sensors_by_device.get(int(device.id), [])),
        "is_online": online,
        "last_seen": device.last_seen,
        "created_at": device.created_at,
    }


def device_view(device: DeviceItem, registry: Registry) -> Device:
    return Device(**_device_fields(device, registry))


def device_detail_view(device: DeviceItem, registry: Registry) -> DeviceDetail:
    asset = registry.assets.get(int(device.asset_id)) if device.asset_id is not None else None
    site = registry.sites.get(int(device.site_id))
    return DeviceDetail(
        **_device_fields(device, registry),
        asset_name=asset.name if asset else None,
        site_name=site.name if site else None,
        firmware_version=device.firmware_version,
        updated_at=device.updated_at,
    )


def _filtered_devices(
    registry: Registry, filters: Mapping[str, str | None], site_id: int | None = None
) -> list[DeviceItem]:
    rows = list(registry.devices.values())
    if site_id is not None:
        rows = [device for device in rows if int(device.site_id) == site_id]
    asset = filters.get("asset")
    if asset:
        rows = [device for device in rows if device.asset_id is not None and str(int(device.asset_id)) == asset]
    device_type = filters.get("device_type")
    if device_type:
        rows = [device for device in rows if device.device_type.lower() == device_type.lower()]
    status = filters.get("status")
    if status:
        rows = [d for d in rows if ("ONLINE" if registry.device_online(d) else "OFFLINE") == status.upper()]
    is_online = filters.get("is_online")
    if is_online in ("true", "false"):
        rows = [device for device in rows if registry.device_online(device) == (is_online == "true")]
    search = filters.get("search")
    if search:
        rows = [d for d in rows if _contains(search, d.name, d.serial_number, d.mqtt_client_id)]
    ordering = filters.get("ordering") or "name"
    descending = ordering.startswith("-")
    key = ordering.lstrip("-")
    if key not in DEVICE_ORDERINGS:
        key, descending = "name", False
    rows.sort(key=lambda device: int(device.id))
    rows.sort(key=lambda device: getattr(device, key) or "", reverse=descending)
    return rows


def list_devices(repo: RegistryRepository, filters: Mapping[str, str | None]) -> list[Device]:
    registry = Registry(repo)
    registry.freshen(registry.devices.values())
    return [device_view(device, registry) for device in _filtered_devices(registry, filters)]


def site_devices(repo: RegistryRepository, site_id: int, filters: Mapping[str, str | None]) -> list[Device]:
    _require(repo.get_site(site_id))
    registry = Registry(repo)
    registry.freshen(device for device in registry.devices.values() if int(device.site_id) == site_id)
    return [device_view(device, registry) for device in _filtered_devices(registry, filters, site_id)]


def get_device(repo: RegistryRepository, device_id: int) -> DeviceDetail:
    return device_detail_view(_require(repo.get_device(device_id)), Registry(repo))


def _check_binding(repo: RegistryRepository, site_id: int, asset_id: int | None) -> None:
    _require_site(repo, site_id)
    if asset_id is None:
        return
    asset = repo.get_asset(asset_id)
    if asset is None:
        raise DomainError(f'Invalid pk "{asset_id}" - object does not exist.', field="asset")
    if int(asset.site_id) != site_id:
        raise DomainError("The asset does not belong to this site.", field="asset")


def new_ingest_secret() -> str:
    return secrets.token_urlsafe(32)


def create_device(repo: RegistryRepository, body: DeviceCreate) -> DeviceWithSecret:
    _check_binding(repo, body.site, body.asset)
    now = utc_now_iso()
    secret = new_ingest_secret()
    device = DeviceItem(
        id=repo.new_id("device"),
        name=body.name,
        mqtt_client_id=body.mqtt_client_id,
        site_id=body.site,
        asset_id=body.asset,
        device_type=body.device_type,
        serial_number=body.serial_number,
        firmware_version=body.firmware_version,
        ingest_secret=secret,
        created_at=now,
        updated_at=now,
    )
    repo.create_device(device)
    return DeviceWithSecret(**device_detail_view(device, Registry(repo)).model_dump(), ingest_secret=secret)


def update_device(repo: RegistryRepository, device_id: int, body: DevicePatch) -> DeviceDetail:
    device = _require(repo.get_device(device_id))
    _not_null(body, ("name", "serial_number", "mqtt_client_id", "site", "device_type"))
    changes = body.model_dump(exclude_unset=True)
    site_id = changes.pop("site", int(device.site_id))
    asset_id = changes.pop("asset", device.asset_id)
    asset_id = int(asset_id) if asset_id is not None else None
    _check_binding(repo, site_id, asset_id)
    previous_client_id = device.mqtt_client_id
    for name, value in changes.items():
        setattr(device, name, value)
    device.site_id, device.asset_id = site_id, asset_id
    device.updated_at = utc_now_iso()
    repo.save_device(device, previous_client_id=previous_client_id)
    return device_detail_view(device, Registry(repo))


def delete_device(repo: RegistryRepository, device_id: int) -> None:
    repo.delete_device(_require(repo.get_device(device_id)))


def rotate_device_secret(repo: RegistryRepository, device_id: int) -> DeviceWithSecret:
    device = _require(repo.get_device(device_id))
    secret = new_ingest_secret()
    device.ingest_secret = secret
    device.updated_at = utc_now_iso()
    repo.save_device(device, previous_client_id=device.mqtt_client_id)
    return DeviceWithSecret(**device_detail_view(device, Registry(repo)).model_dump(), ingest_secret=secret)


def device_summary_view(device: DeviceItem, registry: Registry) -> DeviceSummary:
    registry.freshen([device])
    sensors = sorted(registry.sensors_by_device.get(int(device.id), []), key=lambda sensor: sensor.tag)
    variables = [
        SensorVariable(
            id=int(sensor.id),
            tag=sensor.tag,
            name=variable_name(sensor.tag),
            metric_type=sensor.metric_type,
            unit=sensor.unit,
            last_value=sensor.last_value,
            last_reading_at=sensor.last_reading_at,
            is_online=registry.sensor_online(sensor),
        )
        for sensor in sensors
    ]
    online_variables = sum(1 for variable in variables if variable.is_online)
    asset = registry.assets.get(int(device.asset_id)) if device.asset_id is not None else None
    asset_site = registry.sites.get(int(asset.site_id)) if asset else None
    status: DeviceStatus = "ONLINE" if registry.device_online(device) else "OFFLINE"
    return DeviceSummary(
        id=int(device.id),
        name=device.name,
        display_name=display_name(device.serial_number),
        serial_number=device.serial_number,
        mqtt_client_id=device.mqtt_client_id,
        device_type=device.device_type,
        status=status,
        firmware_version=device.firmware_version,
        last_seen=device.last_seen,
        asset_info=AssetInfo(
            id=int(asset.id), tag=asset.tag, name=asset.name, site_name=asset_site.name if asset_site else None
        )
        if asset
        else None,
        variables=variables,
        total_variables_count=len(variables),
        online_variables_count=online_variables,
        device_status="ONLINE" if online_variables else "OFFLINE",
        created_at=device.created_at,
        updated_at=device.updated_at,
    )


def device_summary(repo: RegistryRepository, device_id: int) -> DeviceSummary:
    return device_summary_view(_require(repo.get_device(device_id)), Registry(repo))


def site_device_summaries(
    repo: RegistryRepository, site_id: int, filters: Mapping[str, str | None]
) -> list[DeviceSummary]:
    _require(repo.get_site(site_id))
    registry = Registry(repo)
    registry.freshen(device for device in registry.devices.values() if int(device.site_id) == site_id)
    return [device_summary_view(device, registry) for device in _filtered_devices(registry, filters, site_id)]


def sensor_view(sensor: SensorItem, registry: Registry) -> Sensor:
    registry.freshen_sensors([sensor])
    device = registry.devices.get(int(sensor.device_id))
    asset = registry.assets.get(int(sensor.asset_id)) if sensor.asset_id is not None else None
    serial = device.serial_number if device else ""
    return Sensor(
        id=int(sensor.id),
        tag=sensor.tag,
        device=int(sensor.device_id),
        device_name=device.name if device else "",
        device_display_name=f"Device {display_name(serial)}".strip(),
        device_serial=serial,
        device_mqtt_client_id=device.mqtt_client_id if device else "",
        asset_tag=asset.tag if asset else None,
        metric_type=sensor.metric_type,
        unit=sensor.unit,
        is_online=registry.sensor_online(sensor),
        last_value=sensor.last_value,
        last_reading_at=sensor.last_reading_at,
        created_at=sensor.created_at,
    )


def asset_sensors(repo: RegistryRepository, asset_id: int, filters: Mapping[str, str | None]) -> list[Sensor]:
    _require(repo.get_asset(asset_id))
    registry = Registry(repo)
    rows = sorted(registry.sensors_of_asset(asset_id), key=lambda sensor: sensor.tag)
    registry.freshen_sensors(rows)
    metric_type = filters.get("metric_type")
    if metric_type:
        rows = [sensor for sensor in rows if sensor.metric_type.lower() == metric_type.lower()]
    is_online = filters.get("is_online")
    if is_online in ("true", "false"):
        rows = [sensor for sensor in rows if registry.sensor_online(sensor) == (is_online == "true")]
    return [sensor_view(sensor, registry) for sensor in rows]
