"""PynamoDB items of the registry in the Main table (layout: docs/access-patterns.md).

One base model carries the keys and the `kind` discriminator; each entity is a subclass.
The table name is bound at cold start from Settings (`bind_main_table`), never at import.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from climatrak.core.items import DecimalAttribute, MainItem


class TenantDirectory(GlobalSecondaryIndex["TenantItem"]):
    """gsi1 `TENANTS` / `{timezone}#{slug}`: every tenant, by time zone (the scheduled reports
    map over the tenants of one zone). The directory entry itself holds no tenant data."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


TENANT_DIRECTORY_PK = "TENANTS"


class TenantItem(MainItem, discriminator="tenant"):
    id = NumberAttribute()
    slug = UnicodeAttribute()
    name = UnicodeAttribute()
    timezone = UnicodeAttribute()
    features = MapAttribute[str, Any](default=dict)
    created_at = UnicodeAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    directory = TenantDirectory()


class CounterItem(MainItem, discriminator="counter"):
    value = NumberAttribute(default=0)


class SiteItem(MainItem, discriminator="site"):
    id = NumberAttribute()
    name = UnicodeAttribute()
    company = UnicodeAttribute(default="")
    sector = UnicodeAttribute(default="")
    subsector = UnicodeAttribute(default="")
    address = UnicodeAttribute(default="")
    latitude = DecimalAttribute(null=True)
    longitude = DecimalAttribute(null=True)
    timezone = UnicodeAttribute()
    # TrakLedger cost centre (uuid) of the site's assets that have none of their own
    cost_center_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class AssetItem(MainItem, discriminator="asset"):
    id = NumberAttribute()
    tag = UnicodeAttribute()
    name = UnicodeAttribute()
    site_id = NumberAttribute()
    asset_type = UnicodeAttribute(default="")
    asset_type_other = UnicodeAttribute(null=True)
    manufacturer = UnicodeAttribute(default="")
    model_name = UnicodeAttribute(attr_name="model", default="")
    serial_number = UnicodeAttribute(default="")
    patrimony_number = UnicodeAttribute(default="")
    criticality = UnicodeAttribute(default="")
    warranty_expiry = UnicodeAttribute(null=True)
    location_description = UnicodeAttribute(default="")
    installation_date = UnicodeAttribute(null=True)
    last_maintenance = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="OK")
    health_score = NumberAttribute(default=100)
    specifications = MapAttribute[str, Any](default=dict)
    nominal_voltage = DecimalAttribute(null=True)
    phases = NumberAttribute(null=True)
    nominal_current = DecimalAttribute(null=True)
    power_factor = DecimalAttribute(null=True)
    capacity = DecimalAttribute(null=True)
    capacity_unit = UnicodeAttribute(null=True)
    refrigerant = UnicodeAttribute(null=True)
    active_power_kw = DecimalAttribute(null=True)
    apparent_power_kva = DecimalAttribute(null=True)
    reactive_power_kvar = DecimalAttribute(null=True)
    sector = NumberAttribute(null=True)
    subsection = NumberAttribute(null=True)
    # TrakLedger cost centre (uuid); None = the site's, else the tenant's default
    cost_center_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class AssetTagGuard(MainItem, discriminator="asset_tag"):
    """Exists while an asset holds `tag`: its creation is the uniqueness check."""

    asset_id = NumberAttribute()


class DeviceItem(MainItem, discriminator="device"):
    id = NumberAttribute()
    name = UnicodeAttribute()
    mqtt_client_id = UnicodeAttribute()
    site_id = NumberAttribute()
    asset_id = NumberAttribute(null=True)
    device_type = UnicodeAttribute(default="OTHER")
    serial_number = UnicodeAttribute(default="")
    firmware_version = UnicodeAttribute(null=True)
    ingest_secret = UnicodeAttribute()
    last_seen = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class DeviceClientGuard(MainItem, discriminator="device_client"):
    """Exists while a device holds `mqtt_client_id`; ingest resolves client ids through it."""

    device_id = NumberAttribute()


class AssetSensorsIndex(GlobalSecondaryIndex["SensorItem"]):
    """gsi1: the sensors of an asset (`gsi1pk = T#{t}#ASSET#{asset_id:08d}`)."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class SensorItem(MainItem, discriminator="sensor"):
    """Written by telemetry ingest (created on first sight, latest value kept up to date)."""

    id = NumberAttribute()
    tag = UnicodeAttribute()
    device_id = NumberAttribute()
    asset_id = NumberAttribute(null=True)
    metric_type = UnicodeAttribute(default="")
    unit = UnicodeAttribute(default="")
    last_value = NumberAttribute(null=True)
    last_reading_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_asset = AssetSensorsIndex()
