"""`climatrak demo` / `make demo`: the product's main job, end to end, on a fresh local runtime.

A hospital tenant with a site, four HVAC assets and their devices is registered through the API;
a simulated fleet publishes yesterday's 1-minute telemetry over real MQTT (both payload formats,
plus a few bad messages on purpose) and a gateway posts signed messages to POST /ingest. Once
the pipeline is idle the demo summarises what was stored and rejected, reads data back through
the API, and runs a SQL query over the Parquet lake with DuckDB. Alert rules saved after the first
hour catch the afternoon's chiller fault (demo_alerts): alerts raised and resolved, the work
order one of them opened, the notifications. Then maintenance work turns into
money (demo_finance): a budget, rate cards, a commitment, work orders closed, the cost engine's
postings and the month's budget summary.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from climatrak.core.errors import DomainError
from climatrak.core.resources import INGEST_QUEUE, LAKE_BUCKET
from climatrak.telemetry.signing import sign
from climatrak_local import demo_alerts, demo_finance, demo_reports, lake
from climatrak_local.api_client import ApiClient, DemoError
from climatrak_local.runtime import LocalRuntime
from climatrak_local.simulator import (
    BadMessage,
    FleetPublisher,
    Kind,
    PublishError,
    SimDevice,
    day_bounds_ms,
    fleet_messages,
    outdoor_temperature,
    yesterday,
)
from climatrak_local.simulator import (
    bad_messages as make_bad_messages,
)

TENANT = "umc"
TENANT_NAME = "UMC Hospital"
TIMEZONE = "America/Sao_Paulo"
SITE_NAME = "Uberlandia"
GATEWAY_CLIENT_ID = "umc-gw-001"
GATEWAY_MESSAGES = 24  # hourly outdoor conditions from the rooftop gateway

# Measured on 2 cores: a backlog kept under 30 gives about 47 msg/s end to end; letting the
# queue grow to hundreds gives under 20 (see wait_for_backlog_below).
PUBLISH_CHUNK = 60  # messages published between two looks at the ingest backlog
BACKLOG_LIMIT = 30  # publish the next chunk once the ingest queue holds fewer messages than this
PUBLISH_TIMEOUT_S = 300.0
IDLE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class AssetPlan:
    tag: str
    name: str
    kind: Kind
    asset_type: str
    manufacturer: str
    model: str
    asset_type_other: str | None = None


FLEET: tuple[AssetPlan, ...] = (
    AssetPlan("CH-001", "Chiller 1 - Central Plant", "chiller", "CHILLER", "Carrier", "30XA-0502"),
    AssetPlan("CH-002", "Chiller 2 - Central Plant", "chiller", "CHILLER", "Carrier", "30XA-0402"),
    AssetPlan("AHU-001", "AHU Surgical Center", "ahu", "AHU", "Trane", "CLCP-25"),
    AssetPlan("SPL-001", "Split Reception", "split", "OTHER", "Daikin", "FTKP24", "Split Hi-Wall"),
)

LAKE_SQL = """
SELECT coalesce(asset_tag, device_id) AS asset,
       count(*) AS readings,
       round(avg(value) FILTER (WHERE metric_type = 'temp_supply'), 2) AS avg_supply_c,
       round(min(value) FILTER (WHERE metric_type = 'temp_supply'), 2) AS min_supply_c,
       round(max(value) FILTER (WHERE metric_type = 'temp_supply'), 2) AS max_supply_c,
       round(24 * avg(CASE WHEN unit = 'watt' THEN value / 1000 ELSE value END)
             FILTER (WHERE metric_type = 'power_kw'), 1) AS est_kwh_day
FROM telemetry_raw
WHERE tenant = '{tenant}' AND dt = '{day}'
GROUP BY 1
ORDER BY 1
"""


# -- what the demo builds and measures -----------------------------------------------------------


@dataclass
class Registry:
    site_id: int
    devices: list[SimDevice]
    gateway_secret: str


@dataclass
class Stats:
    messages_published: int = 0
    bad_messages: int = 0
    gateway_accepted: int = 0
    gateway_refused: dict[str, int] = field(default_factory=dict)
    first_publish_at: float = 0.0
    publish_seconds: float = 0.0
    idle_at: float = 0.0


def register_fleet(runtime: LocalRuntime, console: Console) -> tuple[ApiClient, Registry]:
    from climatrak.registry.logic import create_tenant

    create_tenant(runtime.settings, TENANT, TENANT_NAME, TIMEZONE)
    api = ApiClient(runtime.api_url, runtime.issue_token(TENANT, "owner"))
    site = api.expect(
        201,
        "POST",
        "/api/sites/",
        {"name": SITE_NAME, "company": TENANT_NAME, "sector": "Healthcare", "timezone": TIMEZONE},
    )
    devices: list[SimDevice] = []
    table = Table(title=f"Tenant {TENANT} ({TENANT_NAME}), site {SITE_NAME} (id {site['id']})")
    for column in ("asset", "type", "device", "payload format"):
        table.add_column(column)
    for plan in FLEET:
        asset = api.expect(
            201,
            "POST",
            "/api/assets/",
            {
                "tag": plan.tag,
                "name": plan.name,
                "site": site["id"],
                "asset_type": plan.asset_type,
                "asset_type_other": plan.asset_type_other,
                "manufacturer": plan.manufacturer,
                "model": plan.model,
            },
        )
        client_id = f"{TENANT}-{plan.tag.lower()}"
        api.expect(
            201,
            "POST",
            "/api/devices/",
            {
                "name": f"Controller {plan.tag}",
                "mqtt_client_id": client_id,
                "site": site["id"],
                "asset": asset["id"],
                "device_type": "SENSOR_HUB" if plan.kind == "split" else "CONTROLLER",
            },
        )
        devices.append(SimDevice(client_id, plan.tag, plan.kind, TENANT, int(site["id"])))
        table.add_row(
            plan.tag,
            plan.asset_type_other or asset["asset_type_display"],
            client_id,
            "SenML (Khomp)" if plan.kind == "split" else "standard JSON",
        )
    gateway = api.expect(
        201,
        "POST",
        "/api/devices/",
        {"name": "Rooftop gateway", "mqtt_client_id": GATEWAY_CLIENT_ID, "site": site["id"], "device_type": "GATEWAY"},
    )
    table.add_row("-", "gateway", GATEWAY_CLIENT_ID, "standard JSON via POST /ingest")
    console.print(table)
    return api, Registry(int(site["id"]), devices, str(gateway["ingest_secret"]))


def ingest_backlog(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def wait_for_backlog_below(sqs: Any, queue_url: str, limit: int, timeout: float) -> None:
    """Flow control: moto's SQS scans every message of a queue on each call, so a deep queue makes
    every send and receive slower; publishing only while the ingest backlog is short keeps the
    whole pipeline at its best rate (a real fleet spreads the same messages over a day)."""
    deadline = time.monotonic() + timeout
    while ingest_backlog(sqs, queue_url) >= limit:
        if time.monotonic() >= deadline:
            raise DemoError(f"the ingest queue stayed above {limit} messages for {timeout} s")
        time.sleep(0.05)


def publish_day(
    runtime: LocalRuntime,
    registry: Registry,
    day: date,
    console: Console,
    stats: Stats,
    after_first_hour: Callable[[], None],
) -> list[BadMessage]:
    """The day over MQTT; after its first hour is ingested, `after_first_hour` (the alert rules:
    the API only accepts rules on sensors that exist, and ingest creates them)."""
    start_ms, _ = day_bounds_ms(day, TIMEZONE)
    messages = fleet_messages(registry.devices, start_ms)
    bad = make_bad_messages(registry.devices, start_ms, int(time.time() * 1000))
    first_hour = 60 * len(registry.devices)
    # the bad ones go out mid-day, among the good ones, as they would in real life
    middle = len(messages) // 2
    outgoing = [*messages[:middle], *(item.message for item in bad), *messages[middle:]]
    sqs, queue_url = runtime.client("sqs"), runtime.queue_urls[INGEST_QUEUE.env_var]
    publisher = FleetPublisher("127.0.0.1", runtime.mqtt_port)
    columns = (
        TextColumn("[bold]MQTT publish"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("publish", total=len(outgoing))
            starts = [*range(0, first_hour, PUBLISH_CHUNK), *range(first_hour, len(outgoing), PUBLISH_CHUNK)]
            ends = [*starts[1:], len(outgoing)]
            for start, end in zip(starts, ends, strict=True):
                if start == first_hour:
                    runtime.wait_until_idle(timeout=IDLE_TIMEOUT_S)
                    after_first_hour()
                wait_for_backlog_below(sqs, queue_url, BACKLOG_LIMIT, PUBLISH_TIMEOUT_S)
                publisher.publish_all(outgoing[start:end])
                publisher.wait_acked(PUBLISH_TIMEOUT_S, lambda acked: progress.update(task, completed=acked))
    finally:
        publisher.close()
    assert publisher.first_publish_at is not None and publisher.last_ack_at is not None
    stats.messages_published = len(messages)
    stats.bad_messages = len(bad)
    stats.first_publish_at = publisher.first_publish_at
    stats.publish_seconds = publisher.last_ack_at - publisher.first_publish_at
    return bad


def gateway_body(registry: Registry, ts: datetime, temperature: float, humidity: float) -> bytes:
    topic = f"tenants/{TENANT}/sites/{registry.site_id}/assets/-/telemetry"
    payload = {
        "sensors": [
            {"sensor_id": "temp_external", "value": temperature, "unit": "celsius"},
            {"sensor_id": "humidity_external", "value": humidity, "unit": "%RH", "type": "humidity"},
        ]
    }
    return orjson.dumps({"client_id": GATEWAY_CLIENT_ID, "topic": topic, "payload": payload, "ts": ts.isoformat()})


def post_gateway(api: ApiClient, registry: Registry, day: date, console: Console, stats: Stats) -> None:
    """Signed POST /ingest from the gateway, then one replay of the last request (must be 409)."""
    start_ms, _ = day_bounds_ms(day, TIMEZONE)
    last: tuple[bytes, dict[str, str]] | None = None
    for hour in range(GATEWAY_MESSAGES):
        ts = datetime.fromtimestamp(start_ms / 1000 + hour * 3600 + 30, UTC)
        temperature = round(outdoor_temperature(hour + 0.5), 2)
        body = gateway_body(registry, ts, temperature, round(80 - 1.8 * (temperature - 19), 1))
        timestamp = str(int(time.time()))
        headers = {
            "X-Tenant": TENANT,
            "X-Ingest-Timestamp": timestamp,
            "X-Ingest-Signature": sign(registry.gateway_secret, timestamp, body),
        }
        status, answer = api.call("POST", "/ingest", headers=headers, raw=body)
        if status != 202:
            raise DemoError(f"POST /ingest answered {status}: {answer}")
        stats.gateway_accepted += 1
        last = (body, headers)
    assert last is not None
    status, answer = api.call("POST", "/ingest", headers=last[1], raw=last[0])
    code = answer.get("error", answer.get("code", "")) if isinstance(answer, dict) else ""
    if status != 409:
        raise DemoError(f"a replayed POST /ingest answered {status} instead of 409: {answer}")
    stats.gateway_refused[f"{status} {code}".strip()] = 1
    console.print(
        f"POST /ingest: {stats.gateway_accepted} signed gateway messages accepted (202); "
        f"the last one replayed -> [bold]{status}[/] {code}"
    )


# -- read-back -------------------------------------------------------------------------------


def summary_table(runtime: LocalRuntime, api: ApiClient, day: date, stats: Stats, bad: Sequence[BadMessage]) -> Table:
    bucket = runtime.environment[LAKE_BUCKET.env_var]
    s3 = runtime.client("s3")
    location = lake.LakeLocation(runtime.endpoint_url, bucket)
    _, rows = lake.query(location, f"SELECT count(*) FROM {lake.RAW_VIEW} WHERE tenant = '{TENANT}'")  # noqa: S608 - constants
    readings = int(rows[0][0])
    objects = lake.raw_object_keys(s3, bucket, TENANT)
    reasons = lake.reject_reasons(lake.quarantine_records(s3, bucket))
    ingest_seconds = stats.idle_at - stats.first_publish_at

    table = Table(title="Summary", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    total_mqtt = stats.messages_published + stats.bad_messages
    table.add_row("MQTT messages published (QoS 1, acked)", f"{total_mqtt:,} ({stats.bad_messages} bad on purpose)")
    table.add_row(
        "MQTT publish rate (paced by the ingest backlog)",
        f"{total_mqtt / stats.publish_seconds:,.0f} msg/s ({stats.publish_seconds:.1f} s)"
        if stats.publish_seconds
        else "-",
    )
    table.add_row("gateway messages (POST /ingest)", f"{stats.gateway_accepted} accepted, 1 replay refused (409)")
    table.add_row("readings stored in the lake", f"{readings:,}")
    table.add_row("Parquet objects written", f"{len(objects):,}")
    table.add_row(
        "ingest rate (first publish -> idle)", f"{readings / ingest_seconds:,.0f} readings/s ({ingest_seconds:.1f} s)"
    )
    expected = {item.expected_reason for item in bad}
    for reason, count in sorted(reasons.items()):
        mark = "" if reason in expected else " (unexpected)"
        table.add_row(f"rejected: {reason}", f"{count}{mark}")
    for reason in sorted(expected - set(reasons)):
        table.add_row(f"rejected: {reason}", "0 [red](expected at least 1)[/]")

    start_ms, end_ms = day_bounds_ms(day, TIMEZONE)
    query = urllib.parse.urlencode(
        {
            "from": datetime.fromtimestamp(start_ms / 1000, UTC).isoformat().replace("+00:00", "Z"),
            "to": datetime.fromtimestamp(end_ms / 1000, UTC).isoformat().replace("+00:00", "Z"),
            "interval": "1h",
        }
    )
    history = api.expect(200, "GET", f"/api/telemetry/assets/CH-001/history/?{query}")
    sensors = sorted({point["sensor_id"] for point in history["data"]})
    table.add_row("API: CH-001 history, interval 1h", f"{history['count']} points ({len(sensors)} sensors x 24 h)")
    assets = api.expect(200, "GET", "/api/assets/complete/?search=CH-001")
    chiller = next((row for row in assets["results"] if row["tag"] == "CH-001"), None)
    if chiller is None:
        raise DemoError("GET /api/assets/complete/ did not list CH-001")
    latest = ", ".join(
        f"{name} {reading['value']:.1f} {reading['unit']}"
        for name, reading in sorted(chiller["latest_readings"].items())
        if reading.get("value") is not None
    )
    table.add_row("API: CH-001 latest readings", latest or "(none)")
    return table


def lake_table(runtime: LocalRuntime, day: date) -> Table:
    sql = LAKE_SQL.format(tenant=TENANT, day=day.isoformat())  # a constant slug and a date: nothing to inject
    columns, rows = lake.query(lake.LakeLocation(runtime.endpoint_url, runtime.environment[LAKE_BUCKET.env_var]), sql)
    table = Table(title=f"DuckDB over the lake (telemetry_raw, tenant={TENANT}, dt={day.isoformat()})")
    for column in columns:
        table.add_column(column, justify="left" if column == "asset" else "right")
    for row in rows:
        table.add_row(
            *("-" if value is None else f"{value:,}" if isinstance(value, int) else str(value) for value in row)
        )
    return table


# -- entry point -----------------------------------------------------------------------------


def run_demo() -> int:
    console = Console()
    if not console.is_terminal:  # piped or under make: wide enough for the tables
        console = Console(width=110)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    # the no-data check runs once, after the day, instead of each minute (the day is a replay)
    runtime = LocalRuntime(api_port=0, mqtt_port=0, schedule_period_seconds=0)
    try:
        with console.status("starting the local runtime (moto, API Gateway, MQTT broker, pollers)..."):
            runtime.start()
        console.print(
            f"[green]local runtime ready[/]: api {runtime.api_url} (docs {runtime.api_url}/api/docs), "
            f"mqtt mqtt://127.0.0.1:{runtime.mqtt_port}, aws {runtime.endpoint_url}"
        )
        api, registry = register_fleet(runtime, console)
        day = yesterday(TIMEZONE)
        console.print(
            f"Simulating {day.isoformat()} ({TIMEZONE}), 1-minute telemetry from {len(registry.devices)} devices..."
        )
        stats = Stats()
        bad = publish_day(runtime, registry, day, console, stats, lambda: demo_alerts.create_rules(api, console))
        post_gateway(api, registry, day, console, stats)
        with console.status("waiting for the ingest pipeline to drain..."):
            runtime.wait_until_idle(timeout=IDLE_TIMEOUT_S)
        stats.idle_at = time.monotonic()
        console.print(summary_table(runtime, api, day, stats, bad))
        console.print(lake_table(runtime, day))
        demo_alerts.report(runtime, api, TENANT, TIMEZONE, console)
        demo_finance.run_finance(runtime, api, registry.site_id, TIMEZONE, console)
        demo_reports.run_reports(runtime, api, TENANT, day.isoformat(), console)
    except (DemoError, PublishError, DomainError, TimeoutError, OSError) as error:
        console.print(f"[red]demo failed:[/] {error}")
        return 1
    finally:
        with console.status("stopping the local runtime..."):
            runtime.stop()
    console.print(f"[green]demo finished[/] in {time.monotonic() - started:.1f} s")
    return 0
