"""Alert rules on an ingest World (tests/integration/telemetry_world.py): rules stored as the
API stores them, batches of readings one minute apart, and what the evaluation left behind."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from climatrak.alerts.items import AlertItem, AlertStatsItem, RuleItem, RuleParameterAttribute, rule_sk
from climatrak.core.config import Settings
from climatrak.core.events import OutboxItem, outbox_pk
from climatrak.core.items import bind_main_table
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import iso_ms
from tests.integration.telemetry_world import World, standard

# readings one minute apart, starting two hours ago (inside the accepted window)
START_S = (int(time.time()) // 60) * 60 - 7200
MINUTE = 60


@pytest.fixture
def world(settings: Settings, clean_aws: None) -> Iterator[World]:
    """Tenant acme: site, asset CH-1 and its device dev-1."""
    world = World.build(settings, "acme")
    world.add_device("dev-1")
    bind_main_table(settings.main_table)
    yield world


def add_rule(world: World, *parameters: dict[str, Any], rule_id: int = 1, **fields: Any) -> RuleItem:
    """A rule stored as the API stores it (the API's own tests cover its validation)."""
    keys = TenantKeys(world.tenant)
    device_id = world.devices["dev-1"].id
    rule = RuleItem(
        keys.pk,
        rule_sk(rule_id),
        id=rule_id,
        name=fields.pop("name", "Chiller supply"),
        asset_id=world.asset_id,
        asset_tag=world.asset_tag,
        asset_name="Chiller",
        site_id=world.site_id,
        parameters=[
            RuleParameterAttribute(
                id=index + 1,
                device_id=device_id,
                order=index,
                **{"operator": ">", "duration": 5, "cooldown": 60, "severity": "High", **parameter},
            )
            for index, parameter in enumerate(parameters)
        ],
        actions=fields.pop("actions", ["IN_APP"]),
        created_at=iso_ms(0),
        updated_at=iso_ms(0),
        gsi1pk=keys.asset_index(world.asset_id),
        gsi1sk=rule_sk(rule_id),
        **fields,
    )
    rule.save()
    world.service = None  # a new container: no cached rules
    return rule


def send(world: World, minutes: list[int], values: list[float], sensor: str = "temp_supply") -> Any:
    """One batch: a message per reading, at START + minute."""
    records = [
        world.record("dev-1", standard(START_S + minute * MINUTE, **{sensor: value}))
        for minute, value in zip(minutes, values, strict=True)
    ]
    result = world.ingest(records)
    assert not result.failed_message_ids
    return result


def alerts(tenant: str = "acme") -> list[AlertItem]:
    return sorted(AlertItem.query(TenantKeys(tenant).pk, AlertItem.sk.startswith("ALERT#")), key=lambda a: a.id)


def outbox_names(tenant: str = "acme") -> list[str]:
    return sorted(
        item.event_name for item in OutboxItem.query(outbox_pk(tenant)) if item.event_name.startswith("alert")
    )


def stats(tenant: str = "acme") -> dict[str, int]:
    try:
        item = AlertStatsItem.get(TenantKeys(tenant).pk, "ALERTSTATS")
    except AlertStatsItem.DoesNotExist:
        return {}
    names = ("total", "active", "acknowledged", "resolved", "critical", "high", "medium", "low")
    return {name: int(getattr(item, name) or 0) for name in names if getattr(item, name)}


def at(minute: int) -> int:
    return (START_S + minute * MINUTE) * 1000
