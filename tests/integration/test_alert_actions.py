"""Alert actions through the real event path (outbox → relay → EventBridge → consumer queues):
the work order an alert opens (once), its completion resolving the alert, and notifications."""

from __future__ import annotations

import json
from typing import Any

import boto3

from climatrak.alerts.actions import open_work_order
from climatrak.alerts.items import NotificationItem, WorkOrderLinkItem
from climatrak.alerts.notifier import Notifier
from climatrak.cmms.items import WorkOrderItem
from climatrak.core.config import Settings
from climatrak.core.keys import TenantKeys
from tests.integration.alert_rules_world import add_rule, alerts, send, world
from tests.integration.conftest import ApiClient
from tests.integration.event_pump import pump_events
from tests.integration.telemetry_world import World

__all__ = ["world"]  # the fixture


def work_orders(tenant: str = "acme") -> list[WorkOrderItem]:
    return list(WorkOrderItem.query(TenantKeys(tenant).pk, WorkOrderItem.sk.startswith("WO#")))


def raise_one(world: World, **rule_fields: Any) -> None:
    parameter = {"parameter_key": "temp_supply", "threshold": 10, "duration": 1, "severity": "Critical", "unit": "°C"}
    add_rule(world, parameter, **rule_fields)
    send(world, [0, 1], [14, 15])


def test_an_alert_opens_one_corrective_work_order_and_its_completion_resolves_the_alert(
    world: World, settings: Settings, api: ApiClient
) -> None:
    raise_one(world, create_work_order=True)
    pump_events(settings)

    (work_order,) = work_orders()
    (alert,) = alerts()
    assert (work_order.wo_type, work_order.priority, work_order.status) == ("CORRECTIVE", "CRITICAL", "OPEN")
    assert work_order.asset_id == world.asset_id and work_order.description == alert.message
    assert (alert.work_order_id, alert.work_order_number) == (work_order.id, work_order.number)
    assert alert.notes == [f"[OS Criada] {work_order.number}"] and not alert.acknowledged
    links = list(WorkOrderLinkItem.query(TenantKeys("acme").pk, WorkOrderLinkItem.sk.startswith("WOALERT#")))
    assert [(link.work_order_id, link.alert_id) for link in links] == [(work_order.id, alert.id)]

    # the event delivered again (a retry, a replay): the alert has its work order
    again = open_work_order(settings, "acme", {"alert_id": alert.id})
    assert again["skipped"] == "it already has a work order"
    assert len(work_orders()) == 1

    completed = api.post(f"/api/cmms/work-orders/{work_order.id}/complete/", {})
    assert completed.status == 200, completed.json
    pump_events(settings)

    (alert,) = alerts()
    assert alert.resolved and alert.resolution == "work_order"
    assert alert.notes[-1].endswith(f"OS {work_order.number} concluída.")


def test_a_rule_without_the_option_opens_no_work_order(world: World, settings: Settings) -> None:
    raise_one(world)
    pump_events(settings)

    assert len(alerts()) == 1
    assert work_orders() == []


def test_email_goes_to_the_tenants_topic_once_and_other_channels_are_recorded(world: World, settings: Settings) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="climatrak-alerts-acme", Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
    inbox = sqs.create_queue(QueueName="acme-alert-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    try:
        raise_one(world, actions=["EMAIL", "SMS", "IN_APP"])
        pump_events(settings)

        (alert,) = alerts()
        received = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        assert len(received) == 1
        assert alert.message in received[0]["Body"] and "Crítico" in received[0]["Body"]
        records = {
            item.channel: item.status
            for item in NotificationItem.query(TenantKeys("acme").pk, NotificationItem.sk.startswith("ALERTNOTIFY#"))
        }
        assert records == {"EMAIL": "sent", "SMS": "recorded", "IN_APP": "recorded"}

        # the same event again (redelivered past the consumer's idempotency window)
        event_data = {"alert_id": alert.id, "actions": ["EMAIL", "SMS", "IN_APP"], "message": alert.message}
        repeat = Notifier(sns, settings).notify("acme", event_data)
        assert set(repeat.values()) == {"already notified"}
        assert sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []) == []
    finally:
        sqs.delete_queue(QueueUrl=inbox)
        sns.delete_topic(TopicArn=topic)


def test_the_email_renders_the_alert(world: World, settings: Settings) -> None:
    from climatrak.alerts.notifier import render

    subject, body = render(
        {
            "alert_id": 7,
            "severity": "High",
            "rule_name": "Supply too warm",
            "equipment_name": "Chiller 1",
            "asset_tag": "CH-1",
            "message": "temp_supply está maior que 10°C (valor atual: 15°C)",
            "parameter_key": "temp_supply",
            "parameter_value": 15,
            "unit": "°C",
            "operator": ">",
            "threshold": 10,
            "triggered_at": "2026-11-25T10:00:00.000Z",
        }
    )
    assert subject == "[ClimaTrak] Alto: Supply too warm — Chiller 1"
    assert json.dumps(body, ensure_ascii=False).count("Alerta nº 7") == 1
    assert "Valor: 15 °C" in body and "Limite: > 10" in body


def test_the_monitor_views_count_the_assets_active_alerts(world: World, api: ApiClient) -> None:
    raise_one(world)

    stats = api.get(f"/api/sites/{world.site_id}/stats/")
    assert stats.status == 200 and stats.json["assets_with_active_alerts"] == 1
    (asset,) = api.get("/api/assets/complete/").json["results"]
    assert asset["alert_count"] == 1


def test_an_email_subject_is_one_printable_line_under_snss_limit() -> None:
    from climatrak.alerts.notifier import render

    subject, _ = render({"alert_id": 1, "severity": "Low", "rule_name": "Line one\nline\ttwo " + "x" * 200})

    assert len(subject) < 100 and subject.isprintable()
    assert subject.startswith("[ClimaTrak] Baixo: Line one line two xxx")
