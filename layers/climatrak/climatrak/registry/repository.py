"""Tenant-scoped data access for the registry (docs/access-patterns.md).

Every key is built here and starts with `T#{tenant}`. Uniqueness (asset tag, device MQTT
client id) is enforced by guard items written in the same transaction as the entity, and
updates carry the entity's `version`, so races fail inside DynamoDB instead of corrupting data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from pynamodb.constants import UPDATED_NEW
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from climatrak.core.config import Settings
from climatrak.core.errors import Conflict, DomainError
from climatrak.core.items import (
    MainItem,
    bind_main_table,
    condition_failed,
    failed_positions,
    transaction_connection,
)
from climatrak.core.keys import TenantKeys
from climatrak.registry.items import (
    AssetItem,
    AssetTagGuard,
    CounterItem,
    DeviceClientGuard,
    DeviceItem,
    SensorItem,
    SiteItem,
    TenantItem,
)

M = TypeVar("M", bound=MainItem)

STALE_WRITE = "This record was changed by someone else; reload it and try again."
DUPLICATE_TAG = "asset with this tag already exists."
DUPLICATE_CLIENT_ID = "device with this mqtt client id already exists."


class RegistryRepository:
    def __init__(self, tenant: str, settings: Settings) -> None:
        if not tenant:
            raise ValueError("a tenant is required to build registry keys")
        self.tenant = tenant
        self.settings = settings
        self.keys = TenantKeys(tenant)  # the one key builder (docs/access-patterns.md)
        self.pk = self.keys.pk
        bind_main_table(settings.main_table)

    # ---- keys --------------------------------------------------------------------------

    @staticmethod
    def site_sk(site_id: int) -> str:
        return TenantKeys.entity("SITE", site_id)

    @staticmethod
    def asset_sk(asset_id: int) -> str:
        return TenantKeys.entity("ASSET", asset_id)

    @staticmethod
    def device_sk(device_id: int) -> str:
        return TenantKeys.entity("DEVICE", device_id)

    @staticmethod
    def asset_tag_sk(tag: str) -> str:
        return TenantKeys.asset_tag(tag)

    @staticmethod
    def device_client_sk(mqtt_client_id: str) -> str:
        return TenantKeys.device_client(mqtt_client_id)

    @staticmethod
    def sensor_sk(device_id: int, tag: str) -> str:
        return TenantKeys.sensor(device_id, tag)

    def asset_index_pk(self, asset_id: int) -> str:
        return self.keys.asset_index(asset_id)

    # ---- generic -----------------------------------------------------------------------

    def _get(self, model: type[M], sk: str) -> M | None:
        try:
            return model.get(self.pk, sk, consistent_read=True)
        except model.DoesNotExist:
            return None

    def _query(self, model: type[M], prefix: str) -> Iterator[M]:
        return model.query(self.pk, model.sk.startswith(prefix))

    def allocate_ids(self, entity: str, count: int = 1) -> int:
        """Reserve `count` consecutive ids for `entity`; returns the LAST one reserved."""
        data = CounterItem._get_connection().update_item(
            self.pk,
            f"COUNTER#{entity}",
            actions=[CounterItem.value.add(count)],
            return_values=UPDATED_NEW,
        )
        return int(data["Attributes"]["value"]["N"])

    def new_id(self, entity: str) -> int:
        return self.allocate_ids(entity, 1)

    # ---- tenant ------------------------------------------------------------------------

    def get_tenant(self) -> TenantItem | None:
        return self._get(TenantItem, "TENANT")

    def create_tenant(self, item: TenantItem) -> None:
        item.pk, item.sk = self.pk, "TENANT"
        try:
            item.save(condition=TenantItem.pk.does_not_exist())
        except PutError as error:
            if condition_failed(error):
                raise Conflict(f"tenant {self.tenant!r} already exists") from error
            raise

    # ---- sites -------------------------------------------------------------------------

    def list_sites(self) -> list[SiteItem]:
        return list(self._query(SiteItem, "SITE#"))

    def get_site(self, site_id: int) -> SiteItem | None:
        return self._get(SiteItem, self.site_sk(site_id))

    def create_site(self, item: SiteItem) -> None:
        item.pk, item.sk = self.pk, self.site_sk(int(item.id))
        item.save(condition=SiteItem.pk.does_not_exist())

    def save_site(self, item: SiteItem) -> None:
        """Write back a site read earlier; fails with Conflict if it changed meanwhile."""
        try:
            item.save()
        except PutError as error:
            if condition_failed(error):
                raise Conflict(STALE_WRITE) from error
            raise

    def delete_site(self, item: SiteItem) -> None:
        try:
            item.delete()
        except DeleteError as error:
            if condition_failed(error):
                raise Conflict(STALE_WRITE) from error
            raise

    # ---- assets ------------------------------------------------------------------------

    def list_assets(self) -> list[AssetItem]:
        return list(self._query(AssetItem, "ASSET#"))

    def get_asset(self, asset_id: int) -> AssetItem | None:
        return self._get(AssetItem, self.asset_sk(asset_id))

    def asset_by_tag(self, tag: str) -> AssetItem | None:
        guard = self._get(AssetTagGuard, self.asset_tag_sk(tag))
        return self.get_asset(int(guard.asset_id)) if guard else None

    def create_asset(self, item: AssetItem) -> None:
        item.pk, item.sk = self.pk, self.asset_sk(int(item.id))
        guard = AssetTagGuard(self.pk, self.asset_tag_sk(item.tag), asset_id=item.id)
        with self._guarded("tag", DUPLICATE_TAG, guard_position=0) as tw:
            tw.save(guard, condition=AssetTagGuard.pk.does_not_exist())
            tw.save(item, condition=AssetItem.pk.does_not_exist())

    def save_asset(self, item: AssetItem, previous_tag: str) -> None:
        """Write back an asset read earlier (version-checked), moving its tag guard if renamed."""
        renamed = item.tag != previous_tag
        with self._guarded("tag", DUPLICATE_TAG, guard_position=1 if renamed else None) as tw:
            if renamed:
                tw.save(
                    AssetTagGuard(self.pk, self.asset_tag_sk(item.tag), asset_id=item.id),
                    condition=AssetTagGuard.pk.does_not_exist(),
                )
                tw.delete(AssetTagGuard(self.pk, self.asset_tag_sk(previous_tag)))
            tw.save(item)

    def delete_asset(self, item: AssetItem) -> None:
        with self._guarded("tag", DUPLICATE_TAG, guard_position=None) as tw:
            tw.delete(item)
            tw.delete(AssetTagGuard(self.pk, self.asset_tag_sk(item.tag)))

    # ---- devices -----------------------------------------------------------------------

    def list_devices(self) -> list[DeviceItem]:
        return list(self._query(DeviceItem, "DEVICE#"))

    def get_device(self, device_id: int) -> DeviceItem | None:
        return self._get(DeviceItem, self.device_sk(device_id))

    def device_by_client_id(self, mqtt_client_id: str) -> DeviceItem | None:
        guard = self._get(DeviceClientGuard, self.device_client_sk(mqtt_client_id))
        return self.get_device(int(guard.device_id)) if guard else None

    def devices_of_asset(self, asset_id: int) -> list[DeviceItem]:
        return [device for device in self.list_devices() if device.asset_id == asset_id]

    def devices_of_site(self, site_id: int) -> list[DeviceItem]:
        return [device for device in self.list_devices() if device.site_id == site_id]

    def create_device(self, item: DeviceItem) -> None:
        item.pk, item.sk = self.pk, self.device_sk(int(item.id))
        guard = DeviceClientGuard(self.pk, self.device_client_sk(item.mqtt_client_id), device_id=item.id)
        with self._guarded("mqtt_client_id", DUPLICATE_CLIENT_ID, guard_position=0) as tw:
            tw.save(guard, condition=DeviceClientGuard.pk.does_not_exist())
            tw.save(item, condition=DeviceItem.pk.does_not_exist())

    def save_device(self, item: DeviceItem, previous_client_id: str) -> None:
        renamed = item.mqtt_client_id != previous_client_id
        with self._guarded("mqtt_client_id", DUPLICATE_CLIENT_ID, guard_position=1 if renamed else None) as tw:
            if renamed:
                tw.save(
                    DeviceClientGuard(self.pk, self.device_client_sk(item.mqtt_client_id), device_id=item.id),
                    condition=DeviceClientGuard.pk.does_not_exist(),
                )
                tw.delete(DeviceClientGuard(self.pk, self.device_client_sk(previous_client_id)))
            tw.save(item)

    def delete_device(self, item: DeviceItem) -> None:
        with self._guarded("mqtt_client_id", DUPLICATE_CLIENT_ID, guard_position=None) as tw:
            tw.delete(item)
            tw.delete(DeviceClientGuard(self.pk, self.device_client_sk(item.mqtt_client_id)))

    # ---- sensors (written by telemetry ingest) -----------------------------------------

    def list_sensors(self) -> list[SensorItem]:
        return list(self._query(SensorItem, "SENSOR#"))

    def sensors_of_device(self, device_id: int) -> list[SensorItem]:
        return list(self._query(SensorItem, f"SENSOR#{device_id:08d}#"))

    def sensors_of_asset(self, asset_id: int) -> list[SensorItem]:
        return list(SensorItem.by_asset.query(self.asset_index_pk(asset_id)))

    # ---- transactions ------------------------------------------------------------------

    @contextmanager
    def _guarded(self, field: str, message: str, guard_position: int | None) -> Iterator[TransactWrite]:
        """A TransactWrite whose failure maps to the API's errors: the guard item's condition
        failing is a field error (a duplicate); any other failed condition is a stale version.

        `guard_position` is the guard's index in the request PynamoDB sends (condition checks,
        then deletes, then puts, then updates), or None when no guard is written."""
        try:
            with TransactWrite(connection=transaction_connection()) as transaction:
                yield transaction
        except TransactWriteError as error:
            if not condition_failed(error):
                raise
            if guard_position is not None and guard_position in failed_positions(error):
                raise DomainError(message, field=field) from error
            raise Conflict(STALE_WRITE) from error
