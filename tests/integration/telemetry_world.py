"""A small registry and an ingest pipeline on moto, for the telemetry tests."""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
import pyarrow.parquet as pq

from climatrak.core.config import Settings
from climatrak.registry import logic
from climatrak.registry.models import AssetCreate, DeviceCreate, SiteCreate
from climatrak.registry.repository import RegistryRepository
from climatrak.telemetry.ingest import BatchResult, IngestService, QueueRecord
from climatrak.telemetry.wiring import build_ingest_service


@dataclass
class Device:
    id: int
    client_id: str
    secret: str
    topic: str


@dataclass
class World:
    settings: Settings
    tenant: str
    site_id: int
    asset_id: int
    asset_tag: str
    devices: dict[str, Device] = field(default_factory=dict)
    service: IngestService | None = None
    _sequence: int = 0

    @classmethod
    def build(cls, settings: Settings, tenant: str, asset_tag: str = "CH-1") -> World:
        if logic.get_tenant(settings, tenant) is None:
            logic.create_tenant(settings, tenant, tenant.upper(), "America/Sao_Paulo")
        repo = RegistryRepository(tenant, settings)
        site = logic.create_site(repo, SiteCreate(name="Uberlandia"))
        asset = logic.create_asset(repo, AssetCreate(tag=asset_tag, name="Chiller", site=site.id, asset_type="CHILLER"))
        return cls(settings, tenant, site.id, asset.id, asset_tag)

    def add_device(self, client_id: str) -> Device:
        repo = RegistryRepository(self.tenant, self.settings)
        created = logic.create_device(
            repo, DeviceCreate(name=client_id, mqtt_client_id=client_id, site=self.site_id, asset=self.asset_id)
        )
        topic = f"tenants/{self.tenant}/sites/{self.site_id}/assets/{self.asset_tag}/telemetry"
        device = Device(created.id, client_id, created.ingest_secret, topic)
        self.devices[client_id] = device
        return device

    def pipeline(self) -> IngestService:
        if self.service is None:
            self.service = build_ingest_service(self.settings)
        return self.service

    def record(
        self, client_id: str, payload: Any, topic: str | None = None, received_at_ms: int | None = None
    ) -> QueueRecord:
        """A queue message exactly as the IoT topic rule writes it."""
        self._sequence += 1
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        received = received_at_ms or int(time.time() * 1000)
        body = orjson.dumps(
            {
                "payload_b64": base64.b64encode(raw).decode(),
                "topic": topic or self.devices[client_id].topic,
                "client_id": client_id,
                "received_at": received,
            }
        ).decode()
        return QueueRecord(f"msg-{self._sequence}", body, received)

    def ingest(self, records: list[QueueRecord]) -> BatchResult:
        return self.pipeline().process(records)


def standard(ts_s: int, **values: float | str) -> dict[str, Any]:
    return {"timestamp": ts_s, "sensors": [{"sensor_id": k, "value": v, "unit": "celsius"} for k, v in values.items()]}


def telemetry_items(tenant: str, client_id: str) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb")
    response = dynamodb.query(
        TableName="climatrak-telemetry",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"T#{tenant}#D#{client_id}"}},
    )
    return list(response["Items"])


def objects(prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket="climatrak-lake", Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket="climatrak-lake", Key=o["Key"])["Body"].read() for o in listing}


def lake_rows(tenant: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for body in objects(f"telemetry/raw/tenant={tenant}/").values():
        rows.extend(pq.read_table(io.BytesIO(body)).to_pylist())
    return rows


def quarantine_records(tenant: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for body in objects(f"quarantine/tenant={tenant}/").values():
        records.extend(orjson.loads(line) for line in body.splitlines() if line)
    return records
