"""A small TrakSense world on moto for the alerts tests: tenant acme with a site, two assets,
a device on each and their sensors (written as telemetry ingest writes them), plus helpers to
create rules through the API, raise alerts as the evaluator would and read what was stored
(through the items' models: the assertions see the stored keys).

Test modules build it in their own fixture: `world = AlertsWorld.build(api, settings)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

from climatrak.alerts.items import AlertItem, NoDataWatchItem, RuleItem, WorkOrderLinkItem
from climatrak.alerts.records import raised_event
from climatrak.alerts.repository import AlertRepository
from climatrak.core.config import Settings
from climatrak.core.events import OutboxItem, outbox_pk
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import utc_now_iso
from climatrak.registry.logic import create_tenant
from climatrak.telemetry.store import NewSensor, TelemetryStore
from tests.integration.conftest import REGION, ApiClient, ApiResponse

RULES = "/api/alerts/rules/"
ALERTS = "/api/alerts/alerts/"
# 2026-03-02T12:00:00Z: the sensors' first reading
FIRST_READING_MS = 1_772_452_800_000


@dataclass(frozen=True)
class Reading:
    ts_ms: int
    value: float


@dataclass
class AlertsWorld:
    api: ApiClient
    settings: Settings
    tenant: str
    site: int
    asset: int  # CH-001, "Chiller 1"
    other_asset: int  # AHU-002
    device: int  # bound to CH-001
    other_device: int  # bound to AHU-002
    sensors: dict[str, int] = field(default_factory=dict)  # "{device}:{tag}" → sensor id

    @classmethod
    def build(cls, api: ApiClient, settings: Settings, *, tenant: str = "acme", with_beta: bool = False) -> AlertsWorld:
        """Tenant `tenant` with site "Plant 1", assets CH-001 (device ctl-ch, sensors temp_supply
        and temp_return) and AHU-002 (device ctl-ahu, sensor temp_supply); with_beta: tenant
        beta exists too, empty."""
        create_tenant(settings, tenant, tenant.upper(), "America/Sao_Paulo")
        if with_beta:
            create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
        site = _created(api.post("/api/sites/", {"name": "Plant 1"}, tenant=tenant))["id"]
        asset = _created(
            api.post(
                "/api/assets/",
                {"tag": "CH-001", "name": "Chiller 1", "site": site, "asset_type": "CHILLER"},
                tenant=tenant,
            )
        )["id"]
        other = _created(
            api.post(
                "/api/assets/",
                {"tag": "AHU-002", "name": "Air handler", "site": site, "asset_type": "AHU"},
                tenant=tenant,
            )
        )["id"]
        world = cls(api, settings, tenant, site, asset, other, 0, 0)
        world.device = world.add_device(f"{tenant}-ctl-ch", asset)
        world.other_device = world.add_device(f"{tenant}-ctl-ahu", other)
        world.add_sensors(world.device, asset, "temp_supply", "temp_return")
        world.add_sensors(world.other_device, other, "temp_supply")
        return world

    # ---- registry and sensors ---------------------------------------------------------------

    def add_device(self, client_id: str, asset: int) -> int:
        body = {"name": client_id, "mqtt_client_id": client_id, "site": self.site, "asset": asset}
        device: int = _created(self.api.post("/api/devices/", body, tenant=self.tenant))["id"]
        return device

    def add_sensors(self, device: int, asset: int | None, *tags: str) -> None:
        """Sensors first seen on `device`, created exactly as telemetry ingest creates them."""
        store = TelemetryStore(
            boto3.client("dynamodb", region_name=REGION),
            self.settings.telemetry_table,
            self.settings.main_table,
            self.settings.telemetry_ttl_days,
        )
        reading = Reading(FIRST_READING_MS, 7.5)
        sensors = [NewSensor(tag, "temp_supply", "celsius", reading) for tag in tags]
        store.create_sensors(self.tenant, device, asset, sensors, FIRST_READING_MS)
        for sensor in self.repo().registry.sensors_of_device(device):
            self.sensors[f"{device}:{sensor.tag}"] = int(sensor.id)

    def repo(self, tenant: str | None = None) -> AlertRepository:
        return AlertRepository(tenant or self.tenant, self.settings)

    # ---- rules through the API --------------------------------------------------------------

    def rule_body(self, **fields: Any) -> dict[str, Any]:
        """A one-parameter threshold rule on CH-001 (temp_supply > 25), in the multi-parameter form."""
        parameter = {
            "parameter_key": "temp_supply",
            "variable_key": "temp_supply",
            "operator": ">",
            "threshold": 25,
            "unit": "°C",
            "duration": 5,
            "severity": "HIGH",
            "message_template": "",
            "device": self.device,
        }
        return {
            "name": "Supply too warm",
            "description": "Chilled water supply above 25 °C",
            "equipment": self.asset,
            "parameters": [parameter],
            "actions": ["IN_APP", "EMAIL"],
            "enabled": True,
            **fields,
        }

    def rule(self, **fields: Any) -> dict[str, Any]:
        rule: dict[str, Any] = _created(self.api.post(RULES, self.rule_body(**fields), tenant=self.tenant))
        return rule

    # ---- alerts as the evaluator raises them -------------------------------------------------

    def alert(
        self,
        rule: dict[str, Any] | None = None,
        *,
        severity: str = "High",
        triggered_at: str = "2026-03-02T12:05:00.000Z",
        asset: int | None = None,
        asset_tag: str = "CH-001",
        value: float = 27.5,
    ) -> int:
        """An active alert of `rule` (its first parameter) raised with its counters and event."""
        repo = self.repo()
        alert_id = repo.new_alert_id()
        now = utc_now_iso()
        parameter = (rule or {}).get("parameters", [{}])[0]
        alert = AlertItem(
            id=alert_id,
            rule_id=rule["id"] if rule else None,
            rule_name=rule["name"] if rule else "",
            asset_id=asset if asset is not None else self.asset,
            asset_tag=asset_tag,
            equipment_name="Chiller 1" if asset_tag == "CH-001" else asset_tag,
            site_id=self.site,
            message=f"temp_supply está maior que 25°C (valor atual: {value}°C)",
            severity=severity,
            parameter_key=parameter.get("parameter_key", "temp_supply"),
            parameter_value=value,
            threshold=parameter.get("threshold", 25),
            operator=">",
            unit="°C",
            triggered_at=triggered_at,
            created_at=now,
            updated_at=now,
        )
        repo.raise_alert(alert, raised_event(self.tenant, alert))
        return alert_id

    # ---- what was stored --------------------------------------------------------------------

    def rule_item(self, rule_id: int) -> RuleItem | None:
        return self.repo().get_rule(rule_id)

    def rule_items(self, tenant: str | None = None) -> list[RuleItem]:
        return self.repo(tenant).list_rules()

    def watch(self, rule_id: int) -> NoDataWatchItem | None:
        return self.repo().no_data_watch(rule_id)

    def links(self) -> list[WorkOrderLinkItem]:
        pk = TenantKeys(self.tenant).pk
        return list(WorkOrderLinkItem.query(pk, WorkOrderLinkItem.sk.startswith("WOALERT#"), consistent_read=True))

    def events(self, name: str) -> list[dict[str, Any]]:
        """The envelopes of the tenant's outbox events with that name, oldest first."""
        return [
            item.envelope.as_dict()
            for item in OutboxItem.query(outbox_pk(self.tenant), consistent_read=True)
            if item.event_name == name
        ]


def _created(response: ApiResponse) -> Any:
    assert response.status == 201, response
    return response.json
