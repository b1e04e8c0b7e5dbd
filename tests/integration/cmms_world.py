"""A small CMMS world on moto for the CMMS tests: tenant acme with a site and two assets, and
helpers to create work orders and cost inputs through the API and to read what was stored.

Test modules build it in their own fixture: `world = CmmsWorld.build(api, settings)`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import boto3

from climatrak.core.config import Settings
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.items import CostCenterItem, LedgerKeys
from climatrak.registry.logic import create_tenant
from tests.integration.conftest import REGION, ApiClient, ApiResponse

TECHNICIAN_ID = 7
OTHER_TECHNICIAN_ID = 8

TIME_ENTRY = {"role": "technician", "hours": "2.5", "work_date": "2026-03-02", "hourly_rate": "80"}
PART_USAGE = {"part_name": "Filter G4", "part_number": "F-G4", "quantity": "2", "unit": "UN", "unit_cost": "12.5"}
EXTERNAL_COST = {
    "cost_type": "service",
    "supplier_name": "Cool Contractors",
    "description": "Coil cleaning",
    "amount": "300",
    "currency": "BRL",
    "invoice_number": "NF-1",
}
INPUT_PATHS = {
    "time": "/api/cmms/time-entries/",
    "part": "/api/cmms/part-usages/",
    "external": "/api/cmms/external-costs/",
}
INPUT_BODIES = {"time": TIME_ENTRY, "part": PART_USAGE, "external": EXTERNAL_COST}


@dataclass
class CmmsWorld:
    api: ApiClient
    settings: Settings
    tenant: str
    site: int
    asset: int
    other_asset: int

    @classmethod
    def build(cls, api: ApiClient, settings: Settings, *, with_beta: bool = False) -> CmmsWorld:
        """Tenant acme (America/Sao_Paulo) with site "Plant 1" and assets CH-001 and AHU-002;
        with_beta: tenant beta exists too, empty."""
        create_tenant(settings, "acme", "Acme HVAC", "America/Sao_Paulo")
        if with_beta:
            create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
        site = api.post("/api/sites/", {"name": "Plant 1"}).json["id"]
        asset = api.post("/api/assets/", {"tag": "CH-001", "name": "Chiller 1", "site": site, "asset_type": "CHILLER"})
        other = api.post("/api/assets/", {"tag": "AHU-002", "name": "Air handler", "site": site, "asset_type": "AHU"})
        return cls(api, settings, "acme", site, asset.json["id"], other.json["id"])

    # ---- through the API ----------------------------------------------------------------------

    def work_order(self, **fields: Any) -> dict[str, Any]:
        body = {"asset": self.asset, "type": "CORRECTIVE", "priority": "MEDIUM", "description": "Noisy fan", **fields}
        status, created = self.api.post("/api/cmms/work-orders/", body)
        assert status == 201, created
        return created

    def action(self, work_order_id: int, action: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.api.post(f"/api/cmms/work-orders/{work_order_id}/{action}/", body, **kwargs)

    def add_input(self, kind: str, work_order_id: int, **fields: Any) -> dict[str, Any]:
        status, created = self.api.post(
            INPUT_PATHS[kind], {**INPUT_BODIES[kind], "work_order": work_order_id, **fields}
        )
        assert status == 201, created
        return created

    # ---- straight to the table ----------------------------------------------------------------

    def cost_center(self, code: str) -> str:
        """A cost centre item as TrakLedger stores it (no dependency on its API)."""
        keys = LedgerKeys(self.tenant)
        cost_center_id = str(uuid.uuid4())
        now = utc_now_iso()
        CostCenterItem(
            keys.pk,
            keys.cost_center(cost_center_id),
            id=cost_center_id,
            code=code,
            name=code,
            created_at=now,
            updated_at=now,
        ).save()
        return cost_center_id

    def items(self, kind: str, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every stored item of a kind (raw DynamoDB attribute values) of one tenant."""
        prefix = TenantKeys(tenant or self.tenant).pk
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        found = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=self.settings.main_table):
            for item in page["Items"]:
                pk = item["pk"]["S"]
                if item.get("kind", {}).get("S") == kind and (pk == prefix or pk.startswith(prefix + "#")):
                    found.append(item)
        return found

    def events(self, name: str = "work_order.closed") -> list[dict[str, Any]]:
        """The envelopes of the tenant's outbox items with that event name."""
        return [_plain(item["envelope"]) for item in self.items("outbox") if item["event_name"]["S"] == name]


def _plain(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as plain Python (numbers as strings are not expected here)."""
    ((tag, inner),) = value.items()
    if tag == "M":
        return {name: _plain(item) for name, item in inner.items()}
    if tag == "L":
        return [_plain(item) for item in inner]
    if tag == "NULL":
        return None
    if tag == "N":
        number = float(inner)
        return int(number) if number.is_integer() else number
    return inner
