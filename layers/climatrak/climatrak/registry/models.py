"""Request and response shapes of the registry API (API.md §2, §3.6, §3.7, §4.1-4.4).

Request models validate what the frontend sends (decimals arrive as strings, empty-string
dates mean null); response models document what it reads and feed the OpenAPI document.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from climatrak.core.config import DEFAULT_TIMEZONE

AssetStatus = Literal["OK", "MAINTENANCE", "STOPPED", "ALERT"]
Criticality = Literal["BAIXA", "MEDIA", "ALTA", "CRITICA", ""]
CapacityUnit = Literal["BTU", "TR", "KCAL", "KW"]
DeviceType = Literal["CONTROLLER", "ENERGY_METER", "SENSOR_HUB", "GATEWAY", "OTHER"]
DeviceStatus = Literal["ONLINE", "OFFLINE"]
ASSET_STATUSES: tuple[str, ...] = ("OK", "MAINTENANCE", "STOPPED", "ALERT")
# Site.asset_count counts assets in these states (stopped assets are not "in service").
COUNTED_ASSET_STATUSES = frozenset({"OK", "MAINTENANCE", "ALERT"})
FEATURE_KEYS: tuple[str, ...] = (
    "trakservice.enabled",
    "trakservice.dispatch",
    "trakservice.tracking",
    "trakservice.routing",
    "trakservice.km",
    "trakservice.quotes",
)


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# The frontend sends "" for cleared dates and decimals: both mean null.
OptionalDate = Annotated[date | None, BeforeValidator(_blank_to_none)]
OptionalDecimal = Annotated[Decimal | None, BeforeValidator(_blank_to_none)]
OptionalPhases = Annotated[Literal[1, 2, 3] | None, BeforeValidator(_blank_to_none)]
OptionalCapacityUnit = Annotated[CapacityUnit | None, BeforeValidator(_blank_to_none)]
# A TrakLedger cost centre id (uuid string); null = none of its own.
OptionalCostCenter = Annotated[UUID | None, BeforeValidator(_blank_to_none)]
Latitude = Annotated[Annotated[Decimal, Field(ge=-90, le=90)] | None, BeforeValidator(_blank_to_none)]
Longitude = Annotated[Annotated[Decimal, Field(ge=-180, le=180)] | None, BeforeValidator(_blank_to_none)]


class RequestModel(BaseModel):
    # Unknown keys are ignored, as DRF serializers do.
    model_config = ConfigDict(extra="ignore")


# ---- sites -------------------------------------------------------------------------------


class SiteCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    company: str = ""
    sector: str = ""
    subsector: str = ""
    address: str = ""
    timezone: str = DEFAULT_TIMEZONE
    latitude: Latitude = None
    longitude: Longitude = None
    cost_center: OptionalCostCenter = None


class SitePatch(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    company: str | None = None
    sector: str | None = None
    subsector: str | None = None
    address: str | None = None
    timezone: str | None = None
    latitude: Latitude = None
    longitude: Longitude = None
    cost_center: OptionalCostCenter = None


class Site(BaseModel):
    id: int
    name: str
    full_name: str
    company: str
    sector: str
    subsector: str
    address: str
    latitude: Decimal | None
    longitude: Decimal | None
    timezone: str
    cost_center: str | None
    asset_count: int
    created_at: str
    updated_at: str


class SiteStats(BaseModel):
    total_assets: int
    assets_by_status: dict[str, int]
    assets_by_type: dict[str, int]
    total_devices: int
    online_devices: int
    avg_device_availability: float
    total_sensors: int
    online_sensors: int
    assets_with_active_alerts: int


# ---- assets ------------------------------------------------------------------------------


class AssetFields(RequestModel):
    """Writable asset fields shared by create and patch (all optional here)."""

    asset_type_other: str | None = None
    status: AssetStatus | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    patrimony_number: str | None = None
    criticality: Criticality | None = None
    warranty_expiry: OptionalDate = None
    installation_date: OptionalDate = None
    last_maintenance: OptionalDate = None
    location_description: str | None = None
    sector: int | None = None
    subsection: int | None = None
    capacity: OptionalDecimal = None
    capacity_unit: OptionalCapacityUnit = None
    nominal_voltage: OptionalDecimal = None
    phases: OptionalPhases = None
    nominal_current: OptionalDecimal = None
    power_factor: Annotated[Annotated[Decimal, Field(ge=0, le=1)] | None, BeforeValidator(_blank_to_none)] = None
    refrigerant: str | None = None
    active_power_kw: OptionalDecimal = None
    apparent_power_kva: OptionalDecimal = None
    reactive_power_kvar: OptionalDecimal = None
    specifications: dict[str, Any] | None = None
    health_score: int | None = Field(default=None, ge=0, le=100)
    cost_center: OptionalCostCenter = None


class AssetCreate(AssetFields):
    tag: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    site: int
    asset_type: str = Field(min_length=1, max_length=100)


class AssetPatch(AssetFields):
    tag: str | None = Field(default=None, min_length=1, max_length=100)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    site: int | None = None
    asset_type: str | None = Field(default=None, min_length=1, max_length=100)


class Asset(BaseModel):
    id: int
    tag: str
    name: str
    site: int
    site_name: str
    full_location: str
    asset_type: str
    asset_type_display: str
    asset_type_other: str | None
    manufacturer: str
    model: str
    serial_number: str
    patrimony_number: str
    criticality: str
    warranty_expiry: str | None
    location_description: str
    installation_date: str | None
    last_maintenance: str | None
    status: str
    health_score: int
    specifications: dict[str, Any]
    nominal_voltage: Decimal | None
    phases: int | None
    nominal_current: Decimal | None
    power_factor: Decimal | None
    capacity: Decimal | None
    capacity_unit: str | None
    refrigerant: str | None
    active_power_kw: Decimal | None
    apparent_power_kva: Decimal | None
    reactive_power_kvar: Decimal | None
    device_count: int
    sensor_count: int
    created_at: str
    updated_at: str
    sector: int | None
    subsection: int | None
    company_id: int | None
    sector_name: str | None
    subsection_name: str | None
    cost_center: str | None


class LatestReading(BaseModel):
    sensor_id: int
    sensor_name: str
    value: float | None
    unit: str
    timestamp: str | None
    is_online: bool


class AssetComplete(Asset):
    site_company: str
    site_sector: str
    site_subsector: str
    sector_id: int | None
    subsection_id: int | None
    company_name: str | None
    online_device_count: int
    online_sensor_count: int
    alert_count: int
    latest_readings: dict[str, LatestReading]


# ---- devices and sensors -----------------------------------------------------------------


class DeviceCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    serial_number: str = Field(default="", max_length=100)
    mqtt_client_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")
    site: int
    asset: int | None = None
    device_type: DeviceType = "OTHER"
    firmware_version: str | None = None


class DevicePatch(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    serial_number: str | None = Field(default=None, max_length=100)
    mqtt_client_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")
    site: int | None = None
    asset: int | None = None
    device_type: DeviceType | None = None
    firmware_version: str | None = None


class Device(BaseModel):
    id: int
    name: str
    serial_number: str
    display_name: str
    mqtt_client_id: str
    site: int
    asset: int | None
    asset_tag: str | None
    device_type: str
    status: DeviceStatus
    sensor_count: int
    is_online: bool
    last_seen: str | None
    created_at: str


class DeviceDetail(Device):
    asset_name: str | None
    site_name: str | None
    firmware_version: str | None
    updated_at: str


class DeviceWithSecret(DeviceDetail):
    """Returned by create and rotate-secret only: the one time the secret is shown."""

    ingest_secret: str


class SensorVariable(BaseModel):
    id: int
    tag: str
    name: str
    metric_type: str
    unit: str
    last_value: float | None
    last_reading_at: str | None
    is_online: bool


class AssetInfo(BaseModel):
    id: int
    tag: str
    name: str
    site_name: str | None


class DeviceSummary(BaseModel):
    id: int
    name: str
    display_name: str
    serial_number: str
    mqtt_client_id: str
    device_type: str
    status: DeviceStatus
    firmware_version: str | None
    last_seen: str | None
    asset_info: AssetInfo | None
    variables: list[SensorVariable]
    total_variables_count: int
    online_variables_count: int
    device_status: DeviceStatus
    created_at: str
    updated_at: str


class Sensor(BaseModel):
    id: int
    tag: str
    device: int
    device_name: str
    device_display_name: str
    device_serial: str
    device_mqtt_client_id: str
    asset_tag: str | None
    metric_type: str
    unit: str
    is_online: bool
    last_value: float | None
    last_reading_at: str | None
    created_at: str | None


# ---- auth --------------------------------------------------------------------------------


class User(BaseModel):
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    full_name: str
    initials: str
    avatar: str | None
    phone: str
    bio: str
    position: str
    timezone: str
    time_format: str
    email_verified: bool
    is_active: bool
    is_staff: bool
    role: str
    site: str
    date_joined: str | None
    last_login: str | None
    created_at: str | None
    updated_at: str | None


class SessionTenant(BaseModel):
    id: int
    schema_name: str
    name: str
    slug: str
    role: str
    features: dict[str, bool]


class Me(BaseModel):
    user: User
    tenant: SessionTenant
