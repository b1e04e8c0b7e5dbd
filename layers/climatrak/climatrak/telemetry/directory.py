"""Who a device is: its tenant binding (site, asset, ingest secret) and its tenant's time zone.

Ingest asks for the same few devices on every batch, so answers are cached per container
for a short time (a rebinding or secret rotation takes effect within `ttl_seconds`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from climatrak.core.dynamo import batch_get
from climatrak.core.keys import TenantKeys
from climatrak.telemetry.envelope import Topic

_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class DeviceBinding:
    tenant: str
    device_id: int
    client_id: str
    site_id: int
    site_name: str
    asset_id: int | None
    asset_tag: str | None
    ingest_secret: str = field(repr=False)

    def matches_topic(self, topic: Topic) -> bool:
        """The topic's site is the device's site (id or name) and its asset the device's asset
        (tag or id; '-' for a device bound to no asset)."""
        if topic.tenant != self.tenant:
            return False
        site_ok = topic.site == str(self.site_id) or topic.site.casefold() == self.site_name.casefold()
        if self.asset_id is None:
            return site_ok and topic.asset == "-"
        return site_ok and topic.asset in (self.asset_tag, str(self.asset_id))


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


class DeviceDirectory:
    def __init__(
        self,
        dynamodb: Any,
        main_table: str,
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = main_table
        self._ttl = ttl_seconds
        self._clock = clock
        self._bindings: dict[tuple[str, str], tuple[float, DeviceBinding | None]] = {}
        self._timezones: dict[str, tuple[float, str | None]] = {}

    def bindings(self, tenant: str, client_ids: Iterable[str], fresh: bool = False) -> dict[str, DeviceBinding]:
        """Bindings of the known devices among `client_ids` (unknown ones are absent)."""
        now = self._clock()
        found: dict[str, DeviceBinding] = {}
        missing: list[str] = []
        for client_id in set(client_ids):
            cached = self._bindings.get((tenant, client_id))
            if cached and not fresh and now - cached[0] < self._ttl:
                if cached[1] is not None:
                    found[client_id] = cached[1]
            else:
                missing.append(client_id)
        if missing:
            loaded = self._load_bindings(tenant, missing)
            for client_id in missing:
                binding = loaded.get(client_id)
                self._bindings[(tenant, client_id)] = (now, binding)
                if binding is not None:
                    found[client_id] = binding
        return found

    def timezone(self, tenant: str) -> str | None:
        """The tenant's time zone, or None when the tenant does not exist."""
        now = self._clock()
        cached = self._timezones.get(tenant)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        keys = TenantKeys(tenant)
        response = self._dynamodb.get_item(
            TableName=self._table,
            Key={"pk": {"S": keys.pk}, "sk": {"S": "TENANT"}},
            ProjectionExpression="#tz",
            ExpressionAttributeNames={"#tz": "timezone"},
        )
        item = response.get("Item")
        value = str(item["timezone"]["S"]) if item and "timezone" in item else None
        self._timezones[tenant] = (now, value)
        return value

    def _load_bindings(self, tenant: str, client_ids: list[str]) -> dict[str, DeviceBinding]:
        keys = TenantKeys(tenant)
        guards = self._batch_get(keys, [keys.device_client(c) for c in client_ids])
        device_ids = {int(g["device_id"]) for g in guards.values() if "device_id" in g}
        devices = self._batch_get(keys, [keys.entity("DEVICE", d) for d in device_ids])
        related = set()
        for device in devices.values():
            related.add(keys.entity("SITE", int(device["site_id"])))
            if device.get("asset_id") is not None:
                related.add(keys.entity("ASSET", int(device["asset_id"])))
        others = self._batch_get(keys, sorted(related))
        result: dict[str, DeviceBinding] = {}
        for device in devices.values():
            site = others.get(keys.entity("SITE", int(device["site_id"])), {})
            asset_id = int(device["asset_id"]) if device.get("asset_id") is not None else None
            asset = others.get(keys.entity("ASSET", asset_id), {}) if asset_id is not None else {}
            client_id = str(device["mqtt_client_id"])
            result[client_id] = DeviceBinding(
                tenant=tenant,
                device_id=int(device["id"]),
                client_id=client_id,
                site_id=int(device["site_id"]),
                site_name=str(site.get("name") or ""),
                asset_id=asset_id,
                asset_tag=str(asset["tag"]) if asset.get("tag") else None,
                ingest_secret=str(device.get("ingest_secret") or ""),
            )
        return result

    def _batch_get(self, keys: TenantKeys, sort_keys: list[str]) -> dict[str, dict[str, Any]]:
        """Items by sort key."""
        requested = [{"pk": {"S": keys.pk}, "sk": {"S": sk}} for sk in sort_keys]
        items = (_plain(raw) for raw in batch_get(self._dynamodb, self._table, requested))
        return {str(item["sk"]): item for item in items}
