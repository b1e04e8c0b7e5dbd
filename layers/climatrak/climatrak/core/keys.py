"""Tenant-scoped keys. Every partition key starts with the tenant; no key without one."""

from __future__ import annotations


class TenantKeys:
    __slots__ = ("pk", "tenant")

    def __init__(self, tenant: str) -> None:
        if not tenant or "#" in tenant:
            raise ValueError("a tenant is required to build a key")
        self.tenant = tenant
        self.pk = f"T#{tenant}"

    @staticmethod
    def device_client(client_id: str) -> str:
        return f"DEVICECLIENT#{client_id}"

    @staticmethod
    def asset_tag(tag: str) -> str:
        return f"ASSETTAG#{tag}"

    @staticmethod
    def entity(kind: str, entity_id: int) -> str:
        return f"{kind}#{entity_id:08d}"

    @staticmethod
    def sensor(device_id: int, tag: str) -> str:
        return f"SENSOR#{device_id:08d}#{tag}"

    def asset_index(self, asset_id: int) -> str:
        return f"{self.pk}#ASSET#{asset_id:08d}"

    def telemetry(self, client_id: str) -> str:
        return f"{self.pk}#D#{client_id}"
