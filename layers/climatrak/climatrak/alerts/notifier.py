"""Alert notifications (the `alert_notifier` consumer of `alert.raised`).

Each of the rule's actions is one channel:
- EMAIL: published to the tenant's SNS topic (`{prefix}-{tenant}`, created on first use); its
  e-mail subscriptions are the recipients;
- IN_APP: the alert itself is the in-app notification (the header bell polls it): recorded;
- SMS, WHATSAPP: accepted and recorded; no provider is connected yet.
Every channel leaves a record (pk `T#{t}`, sk `ALERTNOTIFY#{alert:08d}#{channel}`) written with
`attribute_not_exists`: a redelivered event finds it and sends nothing twice.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from pynamodb.exceptions import PutError

from climatrak.alerts.conditions import SEVERITY_DISPLAY, number_text
from climatrak.alerts.items import NotificationItem, notification_sk
from climatrak.core.config import Settings
from climatrak.core.items import bind_main_table, condition_failed
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import utc_now_iso

logger = Logger(service="alert_notifier")

SENT = "sent"
RECORDED = "recorded"
# SNS subjects: under 100 characters, printable, on one line
SUBJECT_LIMIT = 99


def render(data: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of an alert's e-mail."""
    severity = SEVERITY_DISPLAY.get(str(data.get("severity")), str(data.get("severity") or ""))
    equipment = data.get("equipment_name") or data.get("asset_tag") or ""
    subject = f"[ClimaTrak] {severity}: {data.get('rule_name') or 'Alerta'} — {equipment}"
    lines = [
        str(data.get("message") or ""),
        "",
        f"Equipamento: {equipment} ({data.get('asset_tag') or '-'})",
        f"Sensor: {data.get('parameter_key') or '-'}",
        f"Valor: {number_text(data.get('parameter_value'))} {data.get('unit') or ''}".rstrip(),
        f"Limite: {data.get('operator') or ''} {number_text(data.get('threshold'))}".strip(),
        f"Severidade: {severity}",
        f"Disparado em: {data.get('triggered_at')} (UTC)",
        f"Alerta nº {data.get('alert_id')}",
    ]
    printable = "".join(character if character.isprintable() else " " for character in subject)
    return " ".join(printable.split())[:SUBJECT_LIMIT], "\n".join(lines)


class Notifier:
    def __init__(self, sns: Any, settings: Settings) -> None:
        self._sns = sns
        self._settings = settings
        self._topics: dict[str, str] = {}
        bind_main_table(settings.main_table)

    def topic_arn(self, tenant: str) -> str:
        """The tenant's alert topic (CreateTopic is idempotent: it returns the existing one)."""
        if tenant not in self._topics:
            name = f"{self._settings.alerts_topic_prefix}-{tenant}"
            response = self._sns.create_topic(
                Name=name,
                # encrypted at rest with the account's SNS key (its key policy admits SNS callers)
                Attributes={"KmsMasterKeyId": "alias/aws/sns"},
                Tags=[{"Key": "tenant", "Value": tenant}],
            )
            self._topics[tenant] = str(response["TopicArn"])
        return self._topics[tenant]

    def notify(self, tenant: str, data: dict[str, Any]) -> dict[str, str]:
        alert_id = int(data["alert_id"])
        subject, body = render(data)
        done: dict[str, str] = {}
        for channel in dict.fromkeys(data.get("actions") or []):
            key = (TenantKeys(tenant).pk, notification_sk(alert_id, channel))
            if NotificationItem.count(key[0], NotificationItem.sk == key[1]):
                done[channel] = "already notified"
                continue
            status, detail = self._send(tenant, channel, subject, body)
            logger.info(
                "alert notification",
                extra={
                    "tenant": tenant,
                    "alert_id": alert_id,
                    "channel": channel,
                    "status": status,
                    "subject": subject,
                    "body": body,
                },
            )
            record = NotificationItem(
                *key,
                alert_id=str(alert_id),
                channel=channel,
                status=status,
                subject=subject,
                detail=detail,
                created_at=utc_now_iso(),
            )
            try:
                record.save(condition=NotificationItem.pk.does_not_exist())
            except PutError as error:
                if not condition_failed(error):
                    raise
            done[channel] = status
        return done

    def _send(self, tenant: str, channel: str, subject: str, body: str) -> tuple[str, str]:
        if channel == "EMAIL":
            topic = self.topic_arn(tenant)
            response = self._sns.publish(TopicArn=topic, Subject=subject, Message=body)
            return SENT, f"{topic.rsplit(':', 1)[-1]} message {response.get('MessageId') or ''}".strip()
        if channel == "IN_APP":
            return RECORDED, "shown by the alerts list"
        return RECORDED, f"no {channel} provider is connected"
