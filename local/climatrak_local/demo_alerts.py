"""The demo's monitoring chapter: alert rules saved through the API after the first simulated
hour (the sensors exist once ingest has seen them), evaluated by ingest on the rest of the day.

CH-002 loses a condenser fan from 14:00 to 15:00 (simulator.condenser_fault): its supply water
warms past 9 °C for longer than the rule's 10 minutes, so one Critical alert is raised — it
opens a corrective work order through the alert_actions consumer, is e-mailed through the
tenant's SNS topic by the alert_notifier, and resolves itself when the fan is reset. A
two-parameter rule catches the straining compressor. After the day, the no-data check (each
minute on AWS; run once here) finds the split unit silent since the simulation ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from climatrak.alerts.items import NotificationItem
from climatrak.core.items import bind_main_table
from climatrak.core.keys import TenantKeys
from climatrak_local.api_client import ApiClient, DemoError
from climatrak_local.runtime import LocalRuntime

NO_DATA_SCHEDULE = "alerts_no_data"
IDLE_TIMEOUT_S = 120.0


def rules(assets: dict[str, int]) -> list[dict[str, Any]]:
    """The demo tenant's rules, in the frontend's body shape."""
    supply = {
        "parameter_key": "temp_supply",
        "operator": ">",
        "threshold": 9.0,
        "unit": "°C",
        "duration": 10,
        "severity": "CRITICAL",  # as the frontend's form sends it
        "message_template": "{asset}: água gelada a {value}{unit} (limite {threshold}{unit})",
    }
    chillers = [
        {
            "name": f"Água gelada acima de 9 °C ({tag})",
            "description": "Água gelada quente: risco para o centro cirúrgico.",
            "equipment": assets[tag],
            "parameters": [supply],
            "actions": ["IN_APP", "EMAIL"],
            "enabled": True,
            "create_work_order": True,
        }
        for tag in ("CH-001", "CH-002")
    ]
    compressor = {
        "name": "Compressor sobrecarregado (CH-002)",
        "description": "Corrente alta e retorno quente ao mesmo tempo indicam perda de condensação.",
        "equipment": assets["CH-002"],
        "parameters": [
            {
                "parameter_key": "current",
                "operator": ">",
                "threshold": 300,
                "unit": "A",
                "duration": 5,
                "severity": "High",
            },
            {
                "parameter_key": "temp_return",
                "operator": ">=",
                "threshold": 15,
                "unit": "°C",
                "duration": 15,
                "severity": "Medium",
            },
        ],
        "actions": ["IN_APP", "SMS"],
        "enabled": True,
    }
    split = {
        "name": "Split sem comunicação (SPL-001)",
        "description": "O gateway LoRa da recepção parou de enviar dados.",
        "equipment": assets["SPL-001"],
        "kind": "no_data",
        "parameters": [{"parameter_key": "umc-spl-001:temp_supply", "duration": 30, "severity": "Medium"}],
        "actions": ["IN_APP"],
        "enabled": True,
    }
    return [*chillers, compressor, split]


def create_rules(api: ApiClient, console: Console) -> None:
    assets = {row["tag"]: int(row["id"]) for row in api.expect(200, "GET", "/api/assets/?page_size=100")["results"]}
    table = Table(title="Alert rules (POST /api/alerts/rules/, after the first simulated hour)")
    for column in ("id", "rule", "condition", "actions"):
        table.add_column(column)
    for body in rules(assets):
        rule = api.expect(201, "POST", "/api/alerts/rules/", body)
        conditions = "; ".join(
            f"{p['parameter_key']} {p['operator']} {p['threshold']} {p['unit']} for {p['duration']} min"
            if rule.get("kind") != "no_data"
            else f"{p['parameter_key']} silent for {p['duration']} min"
            for p in rule["parameters"]
        )
        actions = ", ".join(rule["actions"]) + (" + work order" if rule.get("create_work_order") else "")
        table.add_row(str(rule["id"]), rule["name"], conditions, actions)
    console.print(table)


def _local(moment: str | None, timezone: str) -> str:
    if not moment:
        return "-"
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(ZoneInfo(timezone)).strftime("%d/%m %H:%M")


def report(runtime: LocalRuntime, api: ApiClient, tenant: str, timezone: str, console: Console) -> None:
    """After the day: the no-data check, then what the alerts did."""
    checked = runtime.run_schedule(NO_DATA_SCHEDULE)
    runtime.wait_until_idle(timeout=IDLE_TIMEOUT_S)  # the consumers: work orders, notifications
    page = api.expect(200, "GET", "/api/alerts/alerts/?page_size=100")
    alerts = sorted(page["results"], key=lambda alert: alert["id"])
    if not alerts:
        raise DemoError("the simulated day raised no alert")
    table = Table(title=f"Alerts of the simulated day ({page['count']}), GET /api/alerts/alerts/")
    for column in ("id", "asset", "severity", "message", "raised", "resolved", "work order"):
        table.add_column(column)
    for alert in alerts:
        resolved = _local(alert["resolved_at"], timezone) if alert["resolved"] else alert["status"]
        table.add_row(
            str(alert["id"]),
            alert["asset_tag"],
            alert["severity_display"],
            alert["message"],
            _local(alert["triggered_at"], timezone),
            resolved + (f" ({alert['resolution']})" if alert.get("resolution") else ""),
            alert["work_order_number"] or "-",
        )
    console.print(table)
    console.print(f"no-data check run once after the day: {len(checked['raised'])} alert(s) raised")

    opened = [alert for alert in alerts if alert["work_order"]]
    for alert in opened:
        work_order = api.expect(200, "GET", f"/api/cmms/work-orders/{alert['work_order']}/")
        console.print(
            f"alert {alert['id']} opened work order [bold]{work_order['number']}[/] "
            f"({work_order['type']}, {work_order['priority']}, {work_order['status']}): {work_order['description']}"
        )
    active = [alert for alert in alerts if alert["status"] == "active"]
    if active:
        first = active[0]
        answer = api.expect(
            200, "POST", f"/api/alerts/alerts/{first['id']}/acknowledge/", {"notes": "Técnico a caminho."}
        )
        console.print(f"alert {first['id']} acknowledged by the operator -> {answer['alert']['status']}")
    statistics = api.expect(200, "GET", "/api/alerts/alerts/statistics/")
    console.print(
        "GET /api/alerts/alerts/statistics/: "
        + ", ".join(f"{name} {statistics[name]}" for name in ("total", "active", "acknowledged", "resolved"))
        + " | by severity "
        + ", ".join(f"{name} {count}" for name, count in statistics["by_severity"].items() if count)
    )
    console.print(notifications_table(runtime, tenant))


def notifications_table(runtime: LocalRuntime, tenant: str) -> Table:
    """What the notifier sent (e-mail to the tenant's SNS topic, on moto here) or recorded."""
    bind_main_table(runtime.settings.main_table)  # the runtime's environment points PynamoDB at moto
    records = list(NotificationItem.query(TenantKeys(tenant).pk, NotificationItem.sk.startswith("ALERTNOTIFY#")))
    table = Table(title="Notifications (alert_notifier; e-mail is published to the tenant's SNS topic)")
    for column in ("alert", "channel", "status", "subject / detail"):
        table.add_column(column)
    for record in sorted(records, key=lambda item: (int(item.alert_id), item.channel)):
        table.add_row(record.alert_id, record.channel, record.status, record.subject or record.detail)
    return table
