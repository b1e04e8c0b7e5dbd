"""The `climatrak` command line.

Commands talk to the running local runtime, which they find through its state file
(`climatrak_local.state`), so they work whatever ports `climatrak local up` was given.
Groups are plain Typer apps: later modules add theirs (`reports`, `query`) with
`app.add_typer(...)` next to the ones below.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, Any

import typer

from climatrak.core.config import DEFAULT_TIMEZONE, Settings
from climatrak.core.errors import DomainError
from climatrak.core.identity import Role, validate_tenant_slug
from climatrak_local import state, targets, tokens

app = typer.Typer(
    help="ClimaTrak Cloud: local runtime and operations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
local_app = typer.Typer(help="The local runtime (everything on this machine, no AWS).", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants.", no_args_is_help=True)
events_app = typer.Typer(help="Events: the outbox, its delivery state, retries and replays.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts: their scheduled checks.", no_args_is_help=True)
reports_app = typer.Typer(help="Reports: the daily (D-1) and monthly state machines.", no_args_is_help=True)
reports_run_app = typer.Typer(help="Run a report state machine now and wait for its end.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(tenants_app, name="tenants")
app.add_typer(events_app, name="events")
app.add_typer(alerts_app, name="alerts")
app.add_typer(reports_app, name="reports")
reports_app.add_typer(reports_run_app, name="run")


class CliError(Exception):
    """A failure worth one line to the user, never a traceback."""


def _console() -> Any:
    """Rich console for tables; piped output gets a wide fixed width instead of 80 columns."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turns the errors a user can act on into one-line messages and exit status 1."""
    try:
        yield
    except state.RuntimeNotRunning as error:
        raise fail(str(error)) from None
    except DomainError as error:
        raise fail(f"{error.field}: {error.detail}" if error.field else error.detail) from None
    except (CliError, ValueError) as error:
        raise fail(str(error)) from None


TARGET = {"target": "local", "stage": "dev"}


@app.callback()
def choose_target(
    target: Annotated[
        str, typer.Option(envvar="CLIMATRAK_TARGET", help="local (the running local runtime) or aws (a deployed stage)")
    ] = "local",
    stage: Annotated[str, typer.Option(envvar="CLIMATRAK_STAGE", help="deployed stage, with --target aws")] = "dev",
) -> None:
    if target not in ("local", "aws"):
        raise fail("--target must be local or aws")
    TARGET.update(target=target, stage=stage)


def connect() -> Settings:
    """Settings of the environment the CLI points at (the local runtime unless --target aws)."""
    return targets.connect(TARGET["target"], TARGET["stage"])


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


# -- climatrak local ---------------------------------------------------------------------------


@local_app.command("up")
def local_up(
    api_port: Annotated[int, typer.Option(help="API Gateway emulation port (0: any free port).")] = 3000,
    mqtt_port: Annotated[int, typer.Option(help="MQTT broker port (0: any free port).")] = 1883,
    moto_port: Annotated[int, typer.Option(help="moto (AWS services) port (0: any free port).")] = 0,
) -> None:
    """Start the local runtime in the foreground; Ctrl-C stops it."""
    from climatrak_local.runtime import LocalRuntime

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        running = state.read_state()
    except state.RuntimeNotRunning:
        running = None
    if running is not None:
        raise fail(f"a local runtime is already running (pid {running.pid}, api {running.api_url})")

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    # The report sweeps too (every 15 minutes: each tenant's 03:00, and the 1st at 04:00), as deployed.
    runtime = LocalRuntime(api_port=api_port, mqtt_port=mqtt_port, moto_port=moto_port, report_schedules=True)
    try:
        runtime.start()
    except Exception as error:
        raise fail(f"could not start the local runtime: {error}") from None
    show_notifications(runtime)
    pid = os.getpid()
    try:
        state.write_state(
            state.RuntimeState(
                pid=pid,
                api_url=runtime.api_url,
                api_port=runtime.api_port,
                mqtt_port=runtime.mqtt_port,
                moto_port=runtime.moto_port,
                endpoint_url=runtime.endpoint_url,
                jwt_secret=runtime.jwt_secret,
                environment=runtime.environment,
            )
        )
        typer.echo(
            f"climatrak local runtime ready: api {runtime.api_url} (docs {runtime.api_url}/api/docs), "
            f"mqtt mqtt://127.0.0.1:{runtime.mqtt_port}, aws {runtime.endpoint_url} - Ctrl-C to stop"
        )
        sys.stdout.flush()
        while not stop_requested.wait(0.5):
            pass
    finally:
        typer.echo("stopping local runtime...")
        runtime.stop()
        state.clear_state(pid)
    typer.echo("stopped")


def show_notifications(runtime: Any) -> None:
    """Print what the alert notifier sends, or would send (SMS, WhatsApp), in this terminal:
    its log lines at INFO while everything else stays at WARNING."""
    from climatrak.core.resources import ALERT_NOTIFIER

    runtime.handler(ALERT_NOTIFIER.name)  # imports the function, which sets its logger up
    logging.getLogger(ALERT_NOTIFIER.name).setLevel(logging.INFO)


@local_app.command("token")
def local_token(
    tenant: Annotated[str, typer.Option(help="Tenant slug the token belongs to.")],
    role: Annotated[Role, typer.Option(help="Membership role.", case_sensitive=False)],
    user_id: Annotated[int, typer.Option(help="User id claim.")] = 1,
    email: Annotated[str | None, typer.Option(help="Email claim (default: user<ID>@<tenant>.local).")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.", min=1)] = tokens.DEFAULT_TTL_SECONDS,
) -> None:
    """Print a bearer token accepted by the running local API."""
    with user_errors():
        validate_tenant_slug(tenant)
        runtime = state.read_state()
        typer.echo(tokens.issue_token(runtime.jwt_secret, tenant, role.value, user_id=user_id, email=email, ttl=ttl))


@local_app.command("status")
def local_status() -> None:
    """Show where the running local runtime listens."""
    with user_errors():
        runtime = state.read_state()
        print_json(
            {
                "pid": runtime.pid,
                "api_url": runtime.api_url,
                "mqtt_port": runtime.mqtt_port,
                "endpoint_url": runtime.endpoint_url,
            }
        )


# -- climatrak tenants -------------------------------------------------------------------------


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Argument(help="Tenant slug: lower-case letters, digits, '-' or '_'.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = DEFAULT_TIMEZONE,
) -> None:
    """Create a tenant."""
    with user_errors():
        settings = connect()
        from climatrak.registry.logic import create_tenant

        print_json(create_tenant(settings, slug, name, timezone))


# -- climatrak events --------------------------------------------------------------------------

TenantOption = Annotated[str, typer.Option(help="Tenant slug.")]
SinceOption = Annotated[str | None, typer.Option(help="From this instant (ISO 8601, inclusive).")]
UntilOption = Annotated[str | None, typer.Option(help="Up to this instant (ISO 8601, inclusive).")]
EventNameOption = Annotated[str | None, typer.Option("--event-name", help="Only this event name.")]


def _outbox(tenant: str) -> tuple[Settings, Any]:
    from climatrak.events.repository import OutboxRepository

    validate_tenant_slug(tenant)
    settings = connect()
    return settings, OutboxRepository(tenant, settings)


def _event_bus(settings: Settings) -> str:
    """The bus to publish on: the local runtime's, or the deployed stage's (its events stack output)."""
    if TARGET["target"] != "aws":
        return settings.event_bus_name
    from climatrak.core import aws

    return stage_event_bus_name(TARGET["stage"], aws.client("cloudformation"))


def stage_event_bus_name(stage: str, cloudformation: Any) -> str:
    """A deployed stage's bus name, from its events stack (infra_cdk/stacks/events.py)."""
    from climatrak.core.resources import EVENT_BUS

    stack = f"Climatrak-{stage}-Events"
    key = targets.output_key(EVENT_BUS.env_var)
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == key:
            return str(output["OutputValue"])
    raise CliError(f"stack {stack} has no {key} output; redeploy it")


@events_app.command("list")
def events_list(
    tenant: TenantOption,
    status: Annotated[
        str | None, typer.Option(help="pending, processed or failed (pending includes stuck events).")
    ] = None,
    event_name: EventNameOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    include_stuck: Annotated[
        bool, typer.Option("--include-stuck", help="With --status failed: stuck pending events too.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List a tenant's events, newest first. A stuck event (pending, but the relay will not get
    it again by itself) shows as "pending (stuck)"; `climatrak events retry` resends it."""
    from climatrak.events.admin import EventFilter, list_events

    with user_errors():
        _, repository = _outbox(tenant)
        criteria = EventFilter(
            status=status, event_name=event_name, since=since, until=until, include_stuck=include_stuck
        )
        rows = list_events(repository, criteria, limit=limit)
    if as_json:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    from rich.table import Table

    table = Table("event_id", "occurred_at", "event_name", "status", "attempts", "last_error")
    for row in rows:
        shown_status = f"{row.status} (stuck)" if row.stuck else row.status
        table.add_row(
            row.event_id, row.occurred_at, row.event_name, shown_status, str(row.attempts), row.last_error or ""
        )
    _console().print(table)
    typer.echo(f"{len(rows)} event(s)")


@events_app.command("show")
def events_show(event_id: Annotated[str, typer.Argument(help="The event id.")], tenant: TenantOption) -> None:
    """Show one event: its envelope and delivery state."""
    from climatrak.events.admin import show_event

    with user_errors():
        _, repository = _outbox(tenant)
        print_json(show_event(repository, event_id).model_dump(mode="json"))


@events_app.command("retry")
def events_retry(
    tenant: TenantOption,
    event_id: Annotated[str | None, typer.Argument(help="A failed or stuck event's id (or --all-failed).")] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed event of the tenant.")] = False,
    include_stuck: Annotated[
        bool, typer.Option("--include-stuck", help="With --all-failed: every stuck pending event too.")
    ] = False,
) -> None:
    """Set failed or stuck events back to pending: the relay publishes them again."""
    from climatrak.events.admin import EventFilter, retry_event, retry_failed

    with user_errors():
        if bool(event_id) == all_failed:
            raise CliError("give one event id or --all-failed")
        if include_stuck and not all_failed:
            raise CliError("--include-stuck goes with --all-failed")
        _, repository = _outbox(tenant)
        if event_id:
            print_json(retry_event(repository, event_id).model_dump(mode="json"))
        else:
            print_json(retry_failed(repository, EventFilter(include_stuck=include_stuck)).model_dump(mode="json"))


@events_app.command("replay")
def events_replay(
    tenant: TenantOption,
    since: Annotated[str, typer.Option(help="From this instant (ISO 8601, inclusive).")],
    until: Annotated[str, typer.Option(help="Up to this instant (ISO 8601, inclusive).")],
    event_name: EventNameOption = None,
    status: Annotated[str | None, typer.Option(help="Only events in this status.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count the events, publish nothing.")] = False,
) -> None:
    """Republish a tenant's recorded events of a time range to the event bus, oldest first.

    Consumers are idempotent: what they already did is not done again. Outbox items are kept
    90 days; older history is in the EventBridge archive on AWS (start a replay there)."""
    from climatrak.core.publisher import EventBusPublisher
    from climatrak.events.admin import EventFilter, replay_events

    with user_errors():
        settings, repository = _outbox(tenant)
        criteria = EventFilter(status=status, event_name=event_name, since=since, until=until)
        publisher = EventBusPublisher(_event_bus(settings))
        result = replay_events(repository, publisher, criteria, dry_run=dry_run)
    print_json(result.model_dump(mode="json"))
    if result.failed:
        raise typer.Exit(1)


# -- climatrak alerts --------------------------------------------------------------------------


@alerts_app.command("check-no-data")
def alerts_check_no_data() -> None:
    """Run the "no data" rule check once, now, against the running local runtime.

    The runtime also runs it every minute; this runs its handler in this process, with the
    runtime's environment."""
    from climatrak.core.resources import NO_DATA_CHECK
    from climatrak_local.lambda_invoke import resolve_handler
    from climatrak_local.runtime import invoke_schedule

    with user_errors():
        if TARGET["target"] != "local":
            raise CliError("check-no-data runs against the local runtime; on AWS its schedule rule runs it")
        connect()
        result = invoke_schedule(NO_DATA_CHECK, resolve_handler(f"functions.{NO_DATA_CHECK.handler}"))
    print_json({"schedule": NO_DATA_CHECK.name, "result": result})


# -- climatrak reports -------------------------------------------------------------------------

StateMachineArnOption = Annotated[
    str | None,
    typer.Option(help="With --target aws: the state machine's ARN (default: the stage's reports stack output)."),
]
ReportTenantOption = Annotated[str | None, typer.Option(help="Only this tenant (default: every tenant).")]
ReportTimezoneOption = Annotated[str | None, typer.Option(help="Only the tenants of this IANA time zone.")]
ReportTimeoutOption = Annotated[float, typer.Option(help="Give up waiting after this many seconds.", min=1)]
WaitOption = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the end and print the output.")]


def report_input(period_field: str, period: str | None, tenant: str | None, timezone: str | None) -> dict[str, str]:
    """The state machine's input: only the fields given (the task defaults the period)."""
    payload: dict[str, str] = {}
    if period is not None:
        payload[period_field] = period
    if tenant is not None:
        validate_tenant_slug(tenant)
        payload["tenant"] = tenant
    if timezone is not None:
        payload["timezone"] = timezone
    return payload


def stage_state_machine_arn(stage: str, env_var: str, cloudformation: Any) -> str:
    """A deployed stage's report state machine ARN, from its reports stack (infra_cdk/stacks/reports.py)."""
    stack = f"Climatrak-{stage}-Reports"
    key = targets.output_key(env_var)
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == key:
            return str(output["OutputValue"])
    raise CliError(f"stack {stack} has no {key} output; redeploy it or pass --state-machine-arn")


def _run_report(kind: str, payload: dict[str, str], arn: str | None, timeout: float, wait: bool) -> None:
    from climatrak.core import aws
    from climatrak.core.resources import STATE_MACHINES
    from climatrak_local import stepfunctions

    (spec,) = [machine for machine in STATE_MACHINES if machine.kind == kind]
    if TARGET["target"] == "aws":
        arn = arn or stage_state_machine_arn(TARGET["stage"], spec.env_var, aws.client("cloudformation"))
    else:
        if arn:
            raise CliError("--state-machine-arn goes with --target aws; locally the runtime's own is used")
        arn = state.connect_env().environment[spec.env_var]
    sfn = aws.client("stepfunctions")
    execution = stepfunctions.start(sfn, arn, payload, stepfunctions.execution_name(f"{kind}-cli"))
    if not wait:
        print_json({"execution_arn": execution, "input": payload})
        return
    try:
        output = stepfunctions.wait_for(sfn, execution, timeout)
    except stepfunctions.ExecutionFailed as failed:
        print_json({"execution_arn": execution, "status": failed.status, "error": failed.error, "cause": failed.cause})
        raise typer.Exit(1) from None
    print_json({"execution_arn": execution, "status": "SUCCEEDED", "output": output})


@reports_run_app.command("daily")
def reports_run_daily(
    date: Annotated[
        str | None, typer.Option(help="The day (YYYY-MM-DD; default: yesterday in each tenant's zone).")
    ] = None,
    tenant: ReportTenantOption = None,
    timezone: ReportTimezoneOption = None,
    state_machine_arn: StateMachineArnOption = None,
    timeout: ReportTimeoutOption = 900.0,
    wait: WaitOption = True,
) -> None:
    """Run the daily (D-1) reports state machine for a day: every tenant, or one."""
    with user_errors():
        if date is not None:
            parse_period(date, "%Y-%m-%d", "--date")
        payload = report_input("date", date, tenant, timezone)
        _run_report("daily", payload, state_machine_arn, timeout, wait)


@reports_run_app.command("monthly")
def reports_run_monthly(
    month: Annotated[
        str | None, typer.Option(help="The month (YYYY-MM; default: last month in each tenant's zone).")
    ] = None,
    tenant: ReportTenantOption = None,
    timezone: ReportTimezoneOption = None,
    state_machine_arn: StateMachineArnOption = None,
    timeout: ReportTimeoutOption = 900.0,
    wait: WaitOption = True,
) -> None:
    """Run the monthly reports state machine for a month: every tenant, or one."""
    with user_errors():
        if month is not None:
            parse_period(month, "%Y-%m", "--month")
        payload = report_input("month", month, tenant, timezone)
        _run_report("monthly", payload, state_machine_arn, timeout, wait)


PERIOD_FORMATS = {"%Y-%m-%d": "YYYY-MM-DD", "%Y-%m": "YYYY-MM"}


def parse_period(value: str, pattern: str, option: str) -> None:
    """A day or month exactly in the given form (strptime alone accepts 2026-1-5)."""
    from datetime import datetime

    try:
        valid = datetime.strptime(value, pattern).strftime(pattern) == value
    except ValueError:
        valid = False
    if not valid:
        raise CliError(f"{option} must be a {PERIOD_FORMATS[pattern]}, not {value!r}")


# -- climatrak demo ----------------------------------------------------------------------------


@app.command("demo")
def demo() -> None:
    """Run the end-to-end demo on a fresh local runtime."""
    from climatrak_local.demo import run_demo

    with user_errors():
        result = run_demo()
    if isinstance(result, int) and result:
        raise typer.Exit(result)


# -- climatrak query ---------------------------------------------------------------------------


@app.command("query")
def query(
    sql: Annotated[
        str | None,
        typer.Argument(
            help="Athena SQL over telemetry_raw, telemetry_daily, sensor_daily, energy_daily, "
            "ledger_transactions (partitions tenant and dt or month)."
        ),
    ] = None,
    file: Annotated[
        typer.FileText | None, typer.Option("--file", "-f", help="Read the SQL from a file (e.g. docs/athena/*.sql).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A value for the next `?` of the SQL (repeatable).")
    ] = None,
) -> None:
    """Run SQL over the running local runtime's lake with DuckDB (the same text Athena runs)."""
    import duckdb
    from rich.table import Table

    from climatrak.core.resources import LAKE_BUCKET
    from climatrak_local import lake

    with user_errors():
        if (sql is None) == (file is None):
            raise CliError("give the SQL or --file, not both")
        text = sql if sql is not None else file.read()  # type: ignore[union-attr]
        runtime = state.read_state()
        location = lake.LakeLocation(runtime.endpoint_url, runtime.environment[LAKE_BUCKET.env_var])
        try:
            columns, rows = lake.query(location, text, param or [])
        except duckdb.Error as error:
            raise CliError(f"query failed: {error}") from None
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    _console().print(table)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as error:  # the promise: one line, never a traceback
        typer.echo(f"error: {type(error).__name__}: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
