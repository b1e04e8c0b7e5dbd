"""The local runtime: the whole product on one machine, in one process, no AWS account.

moto (server mode) stands in for DynamoDB (with streams), S3, SQS, EventBridge (rules
deliver to the consumers' queues), Glue and Step Functions (its ASL interpreter runs the report
state machines, their Lambda tasks dispatched to the in-process handlers); an HTTP server
emulates API Gateway with a local JWT issuer in place of Cognito; an MQTT broker emulates IoT
Core and its topic rule; pollers emulate Lambda's event source mappings (SQS queues, the Main
table stream) and invoke the real handlers in-process; timer threads emulate EventBridge
schedules (the alerts' no-data check) and EventBridge Scheduler's report sweeps (every 15
minutes in UTC, starting each report state machine with `{"due_at": boundary}`).
Handlers reach moto through AWS_ENDPOINT_URL, exactly as they reach AWS without it.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from climatrak.core import aws
from climatrak.core.config import Settings
from climatrak.core.resources import (
    ALERTS_TOPIC_PREFIX,
    ALERTS_TOPIC_PREFIX_ENV_VAR,
    ATHENA_WORKGROUP_ENV_VAR,
    ATHENA_WORKGROUP_LOCAL_NAME,
    BUCKETS,
    CONSUMERS,
    EVENT_BUS,
    GLUE_DATABASE_ENV_VAR,
    GLUE_DATABASE_LOCAL_NAME,
    INGEST_BATCH_SIZE,
    INGEST_FUNCTION_TIMEOUT_SECONDS,
    INGEST_QUEUE,
    MAIN_TABLE,
    REPORT_SCHEDULES,
    REPORT_TASKS,
    SCHEDULES,
    STATE_MACHINES,
    TABLES,
    FunctionSpec,
    QueueSpec,
    ReportScheduleSpec,
    ScheduleSpec,
    StateMachineSpec,
)
from climatrak.events.relay import RELAY_BATCH_SIZE, RELAY_STREAM_RETRY_ATTEMPTS, RELAY_TIMEOUT_SECONDS
from climatrak.events.stream import OUTBOX_STREAM_FILTER
from climatrak_local import stepfunctions, tokens
from climatrak_local.activity import Activity
from climatrak_local.apigw import ApiGateway, ApiServer
from climatrak_local.background import BackgroundThread
from climatrak_local.lambda_invoke import ACCOUNT_ID, REGION, Handler, HandlerRef, LambdaContext, resolve_handler
from climatrak_local.moto_dynamodb import serialise_writes
from climatrak_local.mqtt import MqttBroker, SqsRuleAction
from climatrak_local.pollers import SqsPoller
from climatrak_local.provision import (
    create_lake_catalog,
    create_state_machines,
    dead_letter_queue_name,
    provision_all,
)
from climatrak_local.streams import DynamoStreamPoller

logger = logging.getLogger(__name__)

DEFAULT_HANDLERS: dict[str, str] = {
    "api": "functions.api.handler.handler",
    "ingest_http": "functions.ingest_http.handler.handler",
    "ingest": "functions.ingest.handler.handler",
    "relay": "functions.relay.handler.handler",
    # every event consumer, by its ConsumerSpec name
    **{consumer.name: f"functions.{consumer.handler}" for consumer in CONSUMERS},
    # every scheduled function, by its ScheduleSpec name
    **{schedule.name: f"functions.{schedule.handler}" for schedule in SCHEDULES},
    # the report state machines' task function
    REPORT_TASKS.name: f"functions.{REPORT_TASKS.handler}",
}
# Functions the local state machines invoke (dispatched in-process by climatrak_local.stepfunctions).
STATE_MACHINE_FUNCTIONS: tuple[FunctionSpec, ...] = (REPORT_TASKS,)


@dataclass(frozen=True)
class SqsConsumer:
    """An SQS event source mapping: which function consumes which queue, in what batches."""

    function: str
    queue: QueueSpec
    batch_size: int
    timeout_seconds: int


SQS_CONSUMERS: tuple[SqsConsumer, ...] = (
    SqsConsumer("ingest", INGEST_QUEUE, INGEST_BATCH_SIZE, INGEST_FUNCTION_TIMEOUT_SECONDS),
    *(SqsConsumer(c.name, c.queue, c.batch_size, c.timeout_seconds) for c in CONSUMERS),
)

# Locally the batching window is short so the demo and tests see results quickly, and the
# visibility timeout is short so failed records come back in seconds rather than minutes.
LOCAL_BATCHING_WINDOW_SECONDS = 0.5
LOCAL_VISIBILITY_TIMEOUT_SECONDS = 5
# Likewise a failed report task is retried after 1, 2, 4 s (jittered) instead of 10, 20, 40 s;
# the state machines are otherwise the deployed definitions.
LOCAL_RETRY_INTERVAL_SECONDS = 1


def scheduled_event(spec: ScheduleSpec, now: datetime | None = None) -> dict[str, Any]:
    """The event an EventBridge schedule rule delivers (AWS's own shape: `time` in whole seconds)."""
    instant = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/climatrak-local-{spec.name.replace('_', '-')}"],
        "detail": {},
    }


def invoke_schedule(spec: ScheduleSpec, handler: Handler, now: datetime | None = None) -> Any:
    """One run of a scheduled function, in-process, as its rule would invoke it."""
    context = LambdaContext(function_name=f"climatrak-local-{spec.name}", timeout_seconds=spec.timeout_seconds)
    return handler(scheduled_event(spec, now), context)


def schedule_period(spec: ScheduleSpec, override_seconds: float | None) -> float:
    """Seconds between runs: the spec's rate unless overridden; 0 means never."""
    if override_seconds is None:
        return spec.rate_minutes * 60.0
    if override_seconds < 0:
        raise ValueError(f"schedule period must be >= 0, not {override_seconds}")
    return float(override_seconds)


class ScheduleTimer(BackgroundThread):
    """An EventBridge rate schedule, emulated: a thread running one schedule every period.

    The first run comes one period after start (as after creating a rule). A run that raises is
    logged and not retried (the deployed function has no async retries either): the next one
    does the same work.
    """

    def __init__(self, spec: ScheduleSpec, *, period_seconds: float, run: Callable[[ScheduleSpec], Any]) -> None:
        if period_seconds <= 0:
            raise ValueError(f"schedule {spec.name}: period must be > 0")
        super().__init__(f"schedule-{spec.name}")
        self.spec = spec
        self.period_seconds = period_seconds
        self._run_once = run

    def _run(self) -> None:
        while not self._stopping.wait(self.period_seconds):
            try:
                self._run_once(self.spec)
            except Exception:
                if self._stopping.is_set():
                    return  # the endpoint went away during shutdown
                logger.exception("scheduled %s failed; next run in %s s", self.spec.name, self.period_seconds)


def next_sweep(spec: ReportScheduleSpec, after: datetime) -> datetime:
    """The first sweep boundary (a multiple of the sweep period in UTC: :00, :15, :30, :45)
    strictly after `after` (an aware instant)."""
    instant = after.astimezone(UTC)
    floor = instant.replace(minute=instant.minute - instant.minute % spec.sweep_minutes, second=0, microsecond=0)
    return floor + spec.sweep


def sweep_input(spec: ReportScheduleSpec, due_at: datetime) -> dict[str, str]:
    """What the deployed schedule sends for the boundary `due_at`: its scheduled time, in
    EventBridge Scheduler's form (UTC, whole seconds, 'Z')."""
    return spec.input(due_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


class SweepTimer(BackgroundThread):
    """A report kind's EventBridge Scheduler sweep, emulated: a thread that starts the kind's
    state machine at each sweep boundary with `{"due_at": boundary}`, the input the deployed
    schedule sends. A start that fails is logged; boundaries missed while the machine slept
    are started in order (each window once), as the schedule would have."""

    # Waits in short steps so a changed system clock or a stop is noticed soon.
    STEP_SECONDS = 30.0

    def __init__(
        self,
        spec: ReportScheduleSpec,
        *,
        start: Callable[[ReportScheduleSpec, dict[str, str]], Any],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        step_seconds: float = STEP_SECONDS,
    ) -> None:
        super().__init__(f"sweep-{spec.name}")
        self.spec = spec
        self._start_execution = start
        self._clock = clock
        self._step_seconds = step_seconds

    def _run(self) -> None:
        due = next_sweep(self.spec, self._clock())
        while not self._stopping.is_set():
            remaining = (due - self._clock()).total_seconds()
            if remaining > 0:
                self._stopping.wait(min(remaining, self._step_seconds))
                continue
            try:
                self._start_execution(self.spec, sweep_input(self.spec, due))
            except Exception:
                if self._stopping.is_set():
                    return
                logger.exception("sweep %s (due %s) could not start", self.spec.name, due.isoformat())
            due = next_sweep(self.spec, due)


class LocalRuntime:
    """Starts everything on 127.0.0.1. Port 0 means "pick a free port"; read the chosen ports
    back from `api_port`, `mqtt_port` and `moto_port` after `start()`."""

    def __init__(
        self,
        api_port: int = 3000,
        mqtt_port: int = 1883,
        moto_port: int = 0,
        *,
        jwt_secret: str | None = None,
        handlers: Mapping[str, HandlerRef] | None = None,
        visibility_timeout_seconds: int = LOCAL_VISIBILITY_TIMEOUT_SECONDS,
        batching_window_seconds: float = LOCAL_BATCHING_WINDOW_SECONDS,
        extra_env: Mapping[str, str] | None = None,
        schedules: Sequence[ScheduleSpec] = SCHEDULES,
        schedule_period_seconds: float | None = None,
        report_schedules: bool = False,
        state_machine_retry_interval_seconds: int = LOCAL_RETRY_INTERVAL_SECONDS,
    ) -> None:
        """`schedule_period_seconds` overrides every schedule's rate (None: the spec's rate,
        0: no timers; `run_schedule` still works). Tiny periods keep the runtime busy, so
        `wait_until_idle` may not find a quiet moment.

        `report_schedules`: whether the report sweeps run (every 15 minutes, as deployed;
        `climatrak local up` turns them on; off by default, which keeps tests and the demo free
        of surprise executions; `run_state_machine` works either way).

        `state_machine_retry_interval_seconds`: the report tasks' first retry delay
        (`climatrak.reports.state_machines.RETRY_INTERVAL_SECONDS` is the deployed one)."""
        self.jwt_secret = jwt_secret or secrets.token_urlsafe(32)
        self._schedules = {spec.name: spec for spec in schedules}
        self._schedule_periods = {
            name: schedule_period(spec, schedule_period_seconds) for name, spec in self._schedules.items()
        }
        self._handlers: dict[str, HandlerRef] = {
            **DEFAULT_HANDLERS,
            **{spec.name: f"functions.{spec.handler}" for spec in schedules},
            **(handlers or {}),
        }
        self._requested = {"api": api_port, "mqtt": mqtt_port, "moto": moto_port}
        self._visibility_timeout = visibility_timeout_seconds
        self._batching_window = batching_window_seconds
        self._extra_env = dict(extra_env or {})
        self._activity = Activity()
        self._moto: ThreadedMotoServer | None = None
        self._api: ApiServer | None = None
        self._broker: MqttBroker | None = None
        self._rule_action: SqsRuleAction | None = None
        self._pollers: list[SqsPoller] = []
        self._stream_poller: DynamoStreamPoller | None = None
        self._timers: list[ScheduleTimer] = []
        self._report_schedules = report_schedules
        self._sweep_timers: list[SweepTimer] = []
        self._retry_interval = state_machine_retry_interval_seconds
        self._moto_modes = ExitStack()
        self.state_machine_arns: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self.environment: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}
        self.started = False

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        # Metrics are disabled locally; Powertools then warns on every invocation that it has none.
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        try:
            self._start_moto()
            # Bound now (serving later) so a port-0 request has its real port in the environment.
            self._api = ApiServer(self._requested["api"], ApiGateway(self.handler, self.jwt_secret, self._activity))
            self._apply_environment()
            self.queue_urls = provision_all(
                self.client("dynamodb"),
                self.client("s3"),
                self.client("sqs"),
                self.client("events"),
                self._visibility_timeout,
            )
            self.state_machine_arns = create_state_machines(self.client("stepfunctions"), self._retry_interval)
            create_lake_catalog(self.client("glue"))
            self._apply_environment()  # now with the queue URLs and state machine ARNs
            self._start_mqtt()
            self._start_pollers()
            self._start_schedules()
            self._start_report_schedules()
            self._api.start()
        except BaseException:
            self.stop()
            raise
        self.started = True
        logger.info("local runtime ready: api %s, mqtt %s, aws %s", self.api_url, self.mqtt_port, self.endpoint_url)

    def stop(self) -> None:
        """Stops producers before consumers, then moto; safe to call twice or after a failed start."""
        if self._api is not None:
            self._api.stop()
            self._api = None
        if self._broker is not None:
            self._broker.stop()
            self._broker = None
        if self._rule_action is not None:
            self._rule_action.stop()
            self._rule_action = None
        for timer in self._timers:
            timer.stop()
        self._timers = []
        for sweep in self._sweep_timers:
            sweep.stop()
        self._sweep_timers = []
        if self._stream_poller is not None:
            self._stream_poller.stop()
            self._stream_poller = None
        for poller in self._pollers:
            poller.stop()
        self._pollers = []
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._moto_modes.close()
        self._restore_environment()
        self.started = False

    def _start_moto(self) -> None:
        serialise_writes([MAIN_TABLE.local_name])
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call otherwise
        # moto's ASL interpreter logs every error a state raises, caught and retried ones too;
        # an execution's outcome is in its description (run_state_machine raises with it).
        logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)
        self._moto_modes.enter_context(stepfunctions.executing_state_machines())
        self._moto_modes.enter_context(stepfunctions.dispatching(self._local_functions()))
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self._requested["moto"], verbose=False)
        self._moto.start()

    def _start_mqtt(self) -> None:
        self._rule_action = SqsRuleAction(self.client("sqs"), self.queue_urls[INGEST_QUEUE.env_var], self._activity)
        self._rule_action.start()
        self._broker = MqttBroker(self._requested["mqtt"], self._rule_action)
        self._broker.start()

    def _start_pollers(self) -> None:
        self._start_stream_poller()
        for consumer in SQS_CONSUMERS:
            poller = SqsPoller(
                name=consumer.function,
                sqs=self.client("sqs"),
                queue_url=self.queue_urls[consumer.queue.env_var],
                handler=lambda name=consumer.function: self.handler(name),  # type: ignore[misc]
                activity=self._activity,
                batch_size=consumer.batch_size,
                batching_window_seconds=self._batching_window,
                function_timeout_seconds=consumer.timeout_seconds,
            )
            poller.start()
            self._pollers.append(poller)

    def _start_schedules(self) -> None:
        for name, spec in self._schedules.items():
            period = self._schedule_periods[name]
            if period == 0:
                continue
            timer = ScheduleTimer(spec, period_seconds=period, run=lambda spec: self.run_schedule(spec.name))
            timer.start()
            self._timers.append(timer)

    def _start_report_schedules(self) -> None:
        if not self._report_schedules:
            return
        for spec in REPORT_SCHEDULES:
            sweep = SweepTimer(spec, start=self.start_sweep)
            sweep.start()
            self._sweep_timers.append(sweep)

    def start_sweep(self, spec: ReportScheduleSpec, payload: Mapping[str, str]) -> str:
        """What the schedule's target does: start the state machine with the sweep's input
        (`{"due_at": ...}`); returns the execution's ARN without waiting for it."""
        machine = spec.state_machine
        return stepfunctions.start(
            self.client("stepfunctions"),
            self.state_machine_arns[machine.env_var],
            dict(payload),
            stepfunctions.execution_name(f"{machine.kind}-sweep"),
        )

    def _local_functions(self) -> list[stepfunctions.LocalFunction]:
        return [
            stepfunctions.LocalFunction(
                name=stepfunctions.local_function_name(spec.name),
                resolve=lambda name=spec.name: self.handler(name),  # type: ignore[misc]
                timeout_seconds=spec.timeout_seconds,
                memory_mb=spec.memory_mb,
                around=self._activity.running,
            )
            for spec in STATE_MACHINE_FUNCTIONS
        ]

    def _start_stream_poller(self) -> None:
        """The relay's event source mapping: Main table stream, outbox items waiting, batches of 10."""
        stream_arn = self.client("dynamodb").describe_table(TableName=MAIN_TABLE.local_name)["Table"]["LatestStreamArn"]
        self._stream_poller = DynamoStreamPoller(
            "relay",
            streams=self.client("dynamodbstreams"),
            stream_arn=stream_arn,
            handler=lambda: self.handler("relay"),
            activity=self._activity,
            filter_pattern=OUTBOX_STREAM_FILTER,
            batch_size=RELAY_BATCH_SIZE,
            max_retry_attempts=RELAY_STREAM_RETRY_ATTEMPTS,
            function_timeout_seconds=RELAY_TIMEOUT_SECONDS,
        )
        self._stream_poller.start()

    # -- environment -----------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",  # moto accepts any credentials
            "AWS_SESSION_TOKEN": "local",
            "POWERTOOLS_SERVICE_NAME": "climatrak",
            "POWERTOOLS_METRICS_NAMESPACE": "ClimaTrak",
            # Locally, EMF metric lines and INFO logs would flood the terminal of `local up`.
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "LOCAL_JWT_SECRET": self.jwt_secret,
            "PUBLIC_BASE_URL": self.api_url,
            # a rule saved through the API is evaluated by ingest within seconds
            "ALERT_RULES_CACHE_SECONDS": "5",
        }
        env.update({table.env_var: table.local_name for table in TABLES})
        env.update({bucket.env_var: bucket.local_name for bucket in BUCKETS})
        env[EVENT_BUS.env_var] = EVENT_BUS.local_name
        env[ALERTS_TOPIC_PREFIX_ENV_VAR] = ALERTS_TOPIC_PREFIX
        env[GLUE_DATABASE_ENV_VAR] = GLUE_DATABASE_LOCAL_NAME
        env[ATHENA_WORKGROUP_ENV_VAR] = ATHENA_WORKGROUP_LOCAL_NAME
        env.update(self.queue_urls)
        env.update(self.state_machine_arns)
        env.update(self._extra_env)
        return env

    def _apply_environment(self) -> None:
        """Handlers read os.environ (Settings.from_env) when first imported, so this runs before
        any handler import; boto3 clients cached by the product are rebuilt for the new endpoint."""
        self.environment = self._environment()
        for name, value in self.environment.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        aws.reset_clients()

    def _restore_environment(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        aws.reset_clients()

    # -- handlers --------------------------------------------------------------------------

    def handler(self, function: str) -> Handler:
        with self._lock:
            ref = self._handlers[function]
        return resolve_handler(ref)

    def run_schedule(self, name: str, now: datetime | None = None) -> Any:
        """Runs a scheduled function once, now, and returns what it returned (its errors raise)."""
        spec = self._schedules.get(name)
        if spec is None:
            raise KeyError(f"unknown schedule {name!r}; known: {sorted(self._schedules)}")
        with self._activity.running():
            return invoke_schedule(spec, self.handler(name), now)

    def run_state_machine(self, name: str, payload: Mapping[str, Any] | None = None, timeout: float = 300.0) -> Any:
        """Start a report state machine (by spec name, kind or local name: "daily_report",
        "daily", "climatrak-daily-report") with `payload` as its input, wait for its end and
        return its output. A failed execution raises `stepfunctions.ExecutionFailed` (status,
        error, cause); TimeoutError if it still runs at the deadline."""
        spec = state_machine_spec(name)
        return stepfunctions.run(
            self.client("stepfunctions"),
            self.state_machine_arns[spec.env_var],
            dict(payload or {}),
            timeout=timeout,
            name_prefix=spec.kind,
        )

    @property
    def sweep_timers(self) -> list[SweepTimer]:
        """The running report sweeps, one per report kind (none unless `report_schedules`)."""
        return list(self._sweep_timers)

    @property
    def schedule_timers(self) -> list[ScheduleTimer]:
        """The running schedule timers (none before `start()`, after `stop()`, or with period 0)."""
        return list(self._timers)

    @contextmanager
    def use_handlers(self, **overrides: HandlerRef) -> Iterator[None]:
        """Temporarily routes functions to other handlers (tests swap in fakes this way)."""
        with self._lock:
            unknown = set(overrides) - set(self._handlers)
            if unknown:
                raise KeyError(f"unknown functions: {sorted(unknown)}")
            previous = {name: self._handlers[name] for name in overrides}
            self._handlers.update(overrides)
        try:
            yield
        finally:
            with self._lock:
                self._handlers.update(previous)

    # -- addresses and helpers -------------------------------------------------------------

    @property
    def moto_port(self) -> int:
        assert self._moto is not None, "start() the runtime first"
        return int(self._moto.get_host_and_port()[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def api_port(self) -> int:
        return self._api.port if self._api is not None else self._requested["api"]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mqtt_port(self) -> int:
        return self._broker.port if self._broker is not None else self._requested["mqtt"]

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.environment)

    def dead_letter_queue_url(self, queue: QueueSpec) -> str:
        url: str = self.client("sqs").get_queue_url(QueueName=dead_letter_queue_name(queue))["QueueUrl"]
        return url

    def client(self, service: str) -> Any:
        """A boto3 client for the runtime's moto server (independent of os.environ)."""
        return boto3.session.Session().client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        )

    def issue_token(self, tenant: str, role: str, user_id: int = 1, email: str | None = None) -> str:
        return tokens.issue_token(self.jwt_secret, tenant, role, user_id=user_id, email=email)

    # -- idleness --------------------------------------------------------------------------

    def _queues_empty(self, sqs: Any) -> bool:
        return not any(True for _ in self._busy_queues(sqs))

    def _busy_queues(self, sqs: Any) -> Iterator[str]:
        counters = (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
        for url in self.queue_urls.values():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(counters))["Attributes"]
            if any(int(attributes.get(name, "0")) for name in counters):
                yield url

    def _no_execution_running(self) -> bool:
        sfn = self.client("stepfunctions")
        return not any(
            sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1)["executions"]
            for arn in self.state_machine_arns.values()
        )

    def _stream_caught_up(self) -> bool:
        return self._stream_poller is None or self._stream_poller.caught_up()

    def wait_until_idle(self, timeout: float = 30.0) -> None:
        """Returns once every queue is empty, the Main table stream has no record left for the
        relay, no state machine execution runs, and no invocation or rule delivery is in flight.

        Publish with QoS 1 and wait for the PUBACK first: an acknowledged publish has already
        reached the topic rule. Raises TimeoutError if the runtime is still busy at the deadline.
        """
        sqs = self.client("sqs")
        deadline = time.monotonic() + timeout
        while True:
            in_flight, generation = self._activity.snapshot()
            # Unchanged generation across the queue check: nothing started while we looked.
            if (
                in_flight == 0
                and self._stream_caught_up()
                and self._queues_empty(sqs)
                and self._no_execution_running()
                and self._activity.snapshot() == (0, generation)
            ):
                return
            if time.monotonic() >= deadline:
                busy = {
                    "invocations in flight": in_flight,
                    "stream behind": not self._stream_caught_up(),
                    "queues not empty": [url.rsplit("/", 1)[-1] for url in self._busy_queues(sqs)],
                    "executions running": not self._no_execution_running(),
                }
                raise TimeoutError(f"local runtime still busy after {timeout} s: {busy}")
            time.sleep(0.05)


def state_machine_spec(name: str) -> StateMachineSpec:
    """A report state machine by its spec name, kind or local name."""
    for spec in STATE_MACHINES:
        if name in (spec.name, spec.kind, spec.local_name):
            return spec
    known = sorted(spec.name for spec in STATE_MACHINES)
    raise KeyError(f"unknown state machine {name!r}; known: {known}")
