"""The AWS resources the product needs, described once.

CDK stacks (infra_cdk/) and the local runtime (climatrak_local) both build their tables,
buckets and queues from these specs, so the two environments cannot drift apart.
Handlers never read this module for names: they get names from environment variables
(see `climatrak.core.config.Settings`), which CDK and the local runtime set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class GlobalIndex:
    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    env_var: str
    local_name: str
    partition_key: str
    sort_key: str | None
    ttl_attribute: str | None
    stream: bool = False
    indexes: tuple[GlobalIndex, ...] = field(default=())


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    env_var: str
    local_name: str


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    env_var: str
    local_name: str
    visibility_timeout_seconds: int
    max_receive_count: int


# Single-table OLTP store: every entity of every module, keys prefixed by the tenant.
MAIN_TABLE = TableSpec(
    logical_id="MainTable",
    env_var="MAIN_TABLE",
    local_name="climatrak-main",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="ttl",
    stream=True,
    indexes=(GlobalIndex("gsi1", "gsi1pk", "gsi1sk"),),
)

# Recent readings, one item per (device, reading time) carrying all its sensors' values.
TELEMETRY_TABLE = TableSpec(
    logical_id="TelemetryTable",
    env_var="TELEMETRY_TABLE",
    local_name="climatrak-telemetry",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
)

# Powertools idempotency records (its default attribute names).
IDEMPOTENCY_TABLE = TableSpec(
    logical_id="IdempotencyTable",
    env_var="IDEMPOTENCY_TABLE",
    local_name="climatrak-idempotency",
    partition_key="id",
    sort_key=None,
    ttl_attribute="expiration",
)

TABLES: tuple[TableSpec, ...] = (MAIN_TABLE, TELEMETRY_TABLE, IDEMPOTENCY_TABLE)

# The lake: telemetry/raw, telemetry/daily, quarantine/, curated datasets.
LAKE_BUCKET = BucketSpec(logical_id="LakeBucket", env_var="LAKE_BUCKET", local_name="climatrak-lake")

# Reports (reports/: JSON, CSV and HTML per tenant and period) and Athena's query results
# (athena-results/), kept apart from the lake so analysts' tables never see them.
REPORTS_BUCKET = BucketSpec(logical_id="ReportsBucket", env_var="REPORTS_BUCKET", local_name="climatrak-reports")
REPORTS_PREFIX = "reports"
ATHENA_RESULTS_PREFIX = "athena-results"

BUCKETS: tuple[BucketSpec, ...] = (LAKE_BUCKET, REPORTS_BUCKET)

# Telemetry from the IoT topic rule and from POST /ingest. Visibility timeout is six times
# the ingest function timeout (AWS guidance for SQS event sources).
INGEST_QUEUE = QueueSpec(
    logical_id="IngestQueue",
    env_var="INGEST_QUEUE_URL",
    local_name="climatrak-ingest",
    visibility_timeout_seconds=360,
    max_receive_count=5,
)


@dataclass(frozen=True)
class EventBusSpec:
    logical_id: str
    env_var: str
    local_name: str
    archive_retention_days: int


# Every module's events, published by the outbox relay; archived for replay on AWS.
EVENT_BUS = EventBusSpec(
    logical_id="EventBus", env_var="EVENT_BUS_NAME", local_name="climatrak-events", archive_retention_days=365
)


@dataclass(frozen=True)
class ConsumerSpec:
    """An event consumer: an EventBridge rule (these event names) → its SQS queue (with DLQ)
    → its Lambda handler. CDK and the local runtime both wire consumers from this list."""

    name: str
    handler: str  # dotted path under functions/, e.g. "cost_engine.handler.handler"
    queue: QueueSpec
    event_names: tuple[str, ...]
    batch_size: int = 10
    timeout_seconds: int = 30
    # Creates and publishes to the per-tenant alert topics (`{prefix}-{tenant}`): CDK sets a
    # stage-scoped ALERTS_TOPIC_PREFIX and grants SNS on topics under that prefix only.
    needs_alert_topics: bool = False


COST_ENGINE = ConsumerSpec(
    name="cost_engine",
    handler="cost_engine.handler.handler",
    queue=QueueSpec(
        logical_id="CostEngineQueue",
        env_var="COST_ENGINE_QUEUE_URL",
        local_name="climatrak-cost-engine",
        visibility_timeout_seconds=180,
        max_receive_count=5,
    ),
    event_names=("work_order.closed", "commitment.approved", "commitment.cancelled"),
)

# Opens the work order of a raised alert (once per episode), and resolves the alerts linked
# to a work order when it is completed.
ALERT_ACTIONS = ConsumerSpec(
    name="alert_actions",
    handler="alert_actions.handler.handler",
    queue=QueueSpec(
        logical_id="AlertActionsQueue",
        env_var="ALERT_ACTIONS_QUEUE_URL",
        local_name="climatrak-alert-actions",
        visibility_timeout_seconds=180,
        max_receive_count=5,
    ),
    event_names=("alert.raised", "work_order.closed"),
)

# E-mails a raised alert through its tenant's SNS topic (created on first use).
ALERT_NOTIFIER = ConsumerSpec(
    name="alert_notifier",
    handler="alert_notifier.handler.handler",
    queue=QueueSpec(
        logical_id="AlertNotifierQueue",
        env_var="ALERT_NOTIFIER_QUEUE_URL",
        local_name="climatrak-alert-notifier",
        visibility_timeout_seconds=180,
        max_receive_count=5,
    ),
    event_names=("alert.raised",),
    needs_alert_topics=True,
)

CONSUMERS: tuple[ConsumerSpec, ...] = (COST_ENGINE, ALERT_ACTIONS, ALERT_NOTIFIER)

QUEUES: tuple[QueueSpec, ...] = (INGEST_QUEUE, *(consumer.queue for consumer in CONSUMERS))

# Per-tenant SNS topics for alert e-mails are named `{prefix}-{tenant}` (Settings.alerts_topic_prefix).
ALERTS_TOPIC_PREFIX = "climatrak-alerts"
ALERTS_TOPIC_PREFIX_ENV_VAR = "ALERTS_TOPIC_PREFIX"


@dataclass(frozen=True)
class ScheduleSpec:
    """A function run on a fixed rate: an EventBridge schedule on AWS, a timer thread locally."""

    name: str
    handler: str  # dotted path under functions/, e.g. "alerts_no_data.handler.handler"
    rate_minutes: int
    timeout_seconds: int = 60


# Fires "no data" alert rules whose sensors stopped reporting.
NO_DATA_CHECK = ScheduleSpec(
    name="alerts_no_data", handler="alerts_no_data.handler.handler", rate_minutes=1, timeout_seconds=60
)

SCHEDULES: tuple[ScheduleSpec, ...] = (NO_DATA_CHECK,)

# The MQTT topic devices publish on, and the IoT rule that routes it to the ingest queue.
TELEMETRY_TOPIC_FILTER = "tenants/+/sites/+/assets/+/telemetry"
# encode(*, 'base64') keeps any payload (JSON object, SenML array, or garbage to quarantine)
# byte-for-byte; clientid() is the device binding the ingest function verifies.
TELEMETRY_RULE_SQL = (
    "SELECT encode(*, 'base64') AS payload_b64, topic() AS topic, "
    "clientid() AS client_id, timestamp() AS received_at "
    "FROM 'tenants/+/sites/+/assets/+/telemetry'"
)

INGEST_BATCH_SIZE = 500
INGEST_BATCH_WINDOW_SECONDS = 5
INGEST_FUNCTION_TIMEOUT_SECONDS = 60


# -- reports: the task function, the state machines, their schedules -------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """A function other AWS services invoke directly (e.g. a state machine's tasks)."""

    name: str
    handler: str  # dotted path under functions/, e.g. "reports_tasks.handler.handler"
    timeout_seconds: int
    memory_mb: int


# Every task of both report state machines: list tenants, one tenant's report, the summary.
REPORT_TASKS = FunctionSpec(
    name="reports_tasks", handler="reports_tasks.handler.handler", timeout_seconds=900, memory_mb=2048
)


@dataclass(frozen=True)
class StateMachineSpec:
    """A Step Functions state machine; its definition is `climatrak.reports.state_machines.definition(kind, ...)`."""

    name: str
    kind: str  # "daily" | "monthly"
    logical_id: str
    env_var: str  # the Settings field holding its ARN (for the reports API)
    local_name: str
    task_function: FunctionSpec
    # A whole run over every tenant; one tenant's task is bounded by the function timeout.
    timeout_seconds: int = 6 * 3600


DAILY_REPORT = StateMachineSpec(
    name="daily_report",
    kind="daily",
    logical_id="DailyReportStateMachine",
    env_var="DAILY_REPORT_STATE_MACHINE_ARN",
    local_name="climatrak-daily-report",
    task_function=REPORT_TASKS,
)
MONTHLY_REPORT = StateMachineSpec(
    name="monthly_report",
    kind="monthly",
    logical_id="MonthlyReportStateMachine",
    env_var="MONTHLY_REPORT_STATE_MACHINE_ARN",
    local_name="climatrak-monthly-report",
    task_function=REPORT_TASKS,
)

STATE_MACHINES: tuple[StateMachineSpec, ...] = (DAILY_REPORT, MONTHLY_REPORT)


# EventBridge Scheduler's context attribute: the instant the schedule was due to fire (e.g.
# 2026-03-10T06:00:00Z), the same on every retry of that firing.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
# Every tenant's report time is caught by the first sweep at or after it, in every zone.
REPORT_SWEEP_MINUTES = 15


@dataclass(frozen=True)
class ReportScheduleSpec:
    """A report kind's sweep: one EventBridge Scheduler schedule, every `sweep_minutes` in UTC,
    starts the state machine with `{"due_at": <scheduled time>}`; the tenants listed are those
    whose local report time (`hour`:`minute`, on `day_of_month` or every day) falls in the
    window (due_at - sweep, due_at] in their own zone. Every zone is covered (also +05:30 and
    +05:45 ones), with no list of zones to configure, and a DST change neither skips nor
    repeats a report (`report_time_between`)."""

    name: str
    state_machine: StateMachineSpec
    hour: int
    minute: int = 0
    day_of_month: int | None = None  # None: every day
    sweep_minutes: int = REPORT_SWEEP_MINUTES
    # The sweep's ScheduleExpressionTimezone: boundaries at :00/:15/:30/:45 UTC.
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not 0 < self.sweep_minutes <= 60 or 60 % self.sweep_minutes:
            raise ValueError(f"sweep_minutes must divide an hour, not {self.sweep_minutes}")

    @property
    def sweep(self) -> timedelta:
        return timedelta(minutes=self.sweep_minutes)

    @property
    def expression(self) -> str:
        """EventBridge Scheduler's cron(minutes hours day-of-month month day-of-week year)."""
        return f"cron(0/{self.sweep_minutes} * * * ? *)"

    @staticmethod
    def input(due_at: str = SCHEDULED_TIME) -> dict[str, str]:
        """The state machine's input: the schedule's own placeholder on AWS, the boundary locally."""
        return {"due_at": due_at}

    def report_time_between(self, after: datetime, until: datetime) -> datetime | None:
        """The report's wall-clock time T with `after` < T <= `until` (naive local wall clocks),
        if there is one. A skipped hour (spring forward) still contains T once, so the first
        sweep after it runs the report; a repeated hour (fall back) has `after` > `until` on its
        second pass, so nothing runs twice."""
        day = after.date()
        while day <= until.date():
            if self.day_of_month is None or day.day == self.day_of_month:
                moment = datetime(day.year, day.month, day.day, self.hour, self.minute)
                if after < moment <= until:
                    return moment
            day += timedelta(days=1)
        return None


# D-1 at 03:00 (late readings of the day before have arrived); the month on the 1st at 04:00.
DAILY_REPORT_SCHEDULE = ReportScheduleSpec(name="daily_report", state_machine=DAILY_REPORT, hour=3)
MONTHLY_REPORT_SCHEDULE = ReportScheduleSpec(
    name="monthly_report", state_machine=MONTHLY_REPORT, hour=4, day_of_month=1
)
REPORT_SCHEDULES: tuple[ReportScheduleSpec, ...] = (DAILY_REPORT_SCHEDULE, MONTHLY_REPORT_SCHEDULE)


# -- the lake's catalog: Glue tables on AWS, DuckDB views locally -------------------------------

GLUE_DATABASE_ENV_VAR = "GLUE_DATABASE"
GLUE_DATABASE_LOCAL_NAME = "climatrak_lake"
ATHENA_WORKGROUP_ENV_VAR = "ATHENA_WORKGROUP"
ATHENA_WORKGROUP_LOCAL_NAME = "climatrak"


@dataclass(frozen=True)
class Partition:
    """A partition key of the path (`name=value/`), resolved by Athena partition projection.

    injected: the query must say `name = '...'` (tenants are not listed anywhere Athena could read);
    date: a date range from `start` to now, in `date_format` (Java pattern) steps of one `unit`;
    enum: one of `values`.
    """

    name: str
    projection: str  # "injected" | "date" | "enum"
    date_format: str = ""
    unit: str = ""  # DAYS | MONTHS
    start: str = ""
    values: tuple[str, ...] = ()


TENANT_PARTITION = Partition("tenant", "injected")
DAY_PARTITION = Partition("dt", "date", date_format="yyyy-MM-dd", unit="DAYS", start="2024-01-01")
MONTH_PARTITION = Partition("month", "date", date_format="yyyy-MM", unit="MONTHS", start="2024-01")


@dataclass(frozen=True)
class LakeTableSpec:
    """A dataset under `prefix/` of a bucket, partitioned `tenant=/dt=/` (or `month=`), declared
    once: Glue tables (CDK), DuckDB views (local runtime) and the writers' schemas agree.

    Column types are Athena/Hive DDL types: string, bigint, double, boolean, timestamp,
    decimal(p,s). Parquet timestamps are UTC instants (Athena shows them without a zone).
    """

    name: str
    bucket: BucketSpec
    prefix: str
    columns: tuple[tuple[str, str], ...]
    partitions: tuple[Partition, ...] = (TENANT_PARTITION, DAY_PARTITION)
    data_format: str = "parquet"  # parquet | json
    description: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def location(self, bucket_name: str) -> str:
        return f"s3://{bucket_name}/{self.prefix}/"

    def location_template(self, bucket_name: str) -> str:
        path = "/".join(f"{p.name}=${{{p.name}}}" for p in self.partitions)
        return f"s3://{bucket_name}/{self.prefix}/{path}/"

    def projection_parameters(self, bucket_name: str) -> dict[str, str]:
        parameters = {"projection.enabled": "true", "storage.location.template": self.location_template(bucket_name)}
        for partition in self.partitions:
            key = f"projection.{partition.name}"
            parameters[f"{key}.type"] = partition.projection
            if partition.projection == "date":
                # Zones east of UTC are a day (a month) ahead of it: the range ends one step later.
                parameters[f"{key}.format"] = partition.date_format
                parameters[f"{key}.range"] = f"{partition.start},NOW+1{partition.unit}"
                parameters[f"{key}.interval"] = "1"
                parameters[f"{key}.interval.unit"] = partition.unit
            elif partition.projection == "enum":
                parameters[f"{key}.values"] = ",".join(partition.values)
        return parameters

    def table_input(self, bucket_name: str) -> dict[str, Any]:
        """Glue's TableInput (the CreateTable API and AWS::Glue::Table share this shape)."""
        serde: dict[str, Any]
        if self.data_format == "parquet":
            formats = {
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            }
            serde = {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}
        else:
            formats = {
                "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            }
            # Lines that are not JSON objects become all-null rows instead of failing the query.
            serde = {
                "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                "Parameters": {"ignore.malformed.json": "true"},
            }
        return {
            "Name": self.name,
            "Description": self.description,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "EXTERNAL": "TRUE",
                "classification": self.data_format,
                **self.projection_parameters(bucket_name),
            },
            "PartitionKeys": [{"Name": p.name, "Type": "string"} for p in self.partitions],
            "StorageDescriptor": {
                "Columns": [{"Name": name, "Type": kind} for name, kind in self.columns],
                "Location": self.location(bucket_name),
                **formats,
                "SerdeInfo": serde,
            },
        }


# telemetry.lake.RAW_SCHEMA, column for column (a unit test keeps them equal).
TELEMETRY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "timestamp"),
    ("device_id", "string"),
    ("sensor_id", "string"),
    ("value", "double"),
    ("unit", "string"),
    ("metric_type", "string"),
    ("site_id", "bigint"),
    ("asset_tag", "string"),
    ("received_at", "timestamp"),
    ("via", "string"),
)

TELEMETRY_RAW_TABLE = LakeTableSpec(
    name="telemetry_raw",
    bucket=LAKE_BUCKET,
    prefix="telemetry/raw",
    columns=TELEMETRY_COLUMNS,
    description="Readings as ingested: one Parquet object per ingest batch, kept a few days",
)
TELEMETRY_DAILY_TABLE = LakeTableSpec(
    name="telemetry_daily",
    bucket=LAKE_BUCKET,
    prefix="telemetry/daily",
    columns=TELEMETRY_COLUMNS,
    description="A day's readings compacted: duplicates removed, sorted by asset, sensor and time",
)
# reports.lake_daily.AGGREGATES_SCHEMA.
SENSOR_DAILY_TABLE = LakeTableSpec(
    name="sensor_daily",
    bucket=LAKE_BUCKET,
    prefix="aggregates/sensor_daily",
    columns=(
        ("device_id", "string"),
        ("asset_tag", "string"),
        ("sensor_id", "string"),
        ("metric_type", "string"),
        ("unit", "string"),
        ("count", "bigint"),
        ("min", "double"),
        ("max", "double"),
        ("avg", "double"),
        ("p95", "double"),
        ("first_ts", "timestamp"),
        ("last_ts", "timestamp"),
        ("coverage", "double"),
        ("longest_gap_s", "double"),
    ),
    description="Per sensor and business day: count, min, max, avg, p95, coverage of 1-minute slots, longest gap",
)
ENERGY_DAILY_TABLE = LakeTableSpec(
    name="energy_daily",
    bucket=LAKE_BUCKET,
    prefix="aggregates/energy_daily",
    # reports.energy_dataset.ENERGY_SCHEMA (its own `dt` column repeats the partition: left out).
    columns=(
        ("asset_tag", "string"),
        ("asset_id", "bigint"),
        ("kwh_total", "double"),
        ("kwh_peak", "double"),
        ("kwh_off_peak", "double"),
        ("kwh_intermediate", "double"),
        ("cost", "decimal(18,2)"),
        ("tariff", "string"),
        ("flag", "string"),
    ),
    description="Per asset and business day: kWh by time of use and its cost at the tariff in force",
)
LEDGER_TRANSACTIONS_TABLE = LakeTableSpec(
    name="ledger_transactions",
    bucket=LAKE_BUCKET,
    prefix="ledger/transactions",
    columns=(
        ("id", "string"),
        ("occurred_at", "timestamp"),
        ("transaction_type", "string"),
        ("category", "string"),
        ("amount", "decimal(18,2)"),
        ("currency", "string"),
        ("cost_center_id", "string"),
        ("asset_id", "bigint"),
        ("work_order_id", "bigint"),
        ("description", "string"),
        ("idempotency_key", "string"),
        ("is_locked", "boolean"),
        ("created_at", "timestamp"),
    ),
    partitions=(TENANT_PARTITION, MONTH_PARTITION),
    description="The ledger of a business month, exported daily (a rerun rewrites the month)",
)
WORK_ORDERS_TABLE = LakeTableSpec(
    name="work_orders",
    bucket=LAKE_BUCKET,
    prefix="cmms/work_orders",
    columns=(
        ("id", "bigint"),
        ("number", "string"),
        ("asset_id", "bigint"),
        ("asset_tag", "string"),
        ("type", "string"),
        ("status", "string"),
        ("priority", "string"),
        ("scheduled_date", "string"),
        ("created_at", "timestamp"),
        ("started_at", "timestamp"),
        ("completed_at", "timestamp"),
        ("cost_center_id", "string"),
    ),
    description="The tenant's work orders as they stood at the end of each business day (a snapshot per day)",
)
ALERTS_TABLE = LakeTableSpec(
    name="alerts",
    bucket=LAKE_BUCKET,
    prefix="alerts/alerts",
    columns=(
        ("id", "bigint"),
        ("rule_id", "bigint"),
        ("asset_tag", "string"),
        ("site_id", "bigint"),
        ("severity", "string"),
        ("parameter_key", "string"),
        ("parameter_value", "double"),
        ("threshold", "double"),
        ("message", "string"),
        ("triggered_at", "timestamp"),
        ("acknowledged_at", "timestamp"),
        ("resolved_at", "timestamp"),
        ("resolution", "string"),
        ("work_order_id", "bigint"),
    ),
    description="Alerts raised on each business day, as they stood when the day's report ran",
)
REPORTS_TABLE = LakeTableSpec(
    name="reports",
    bucket=REPORTS_BUCKET,
    prefix=REPORTS_PREFIX,
    # reports.render.to_json: one object per line; tenant, type and period are the partitions.
    columns=(
        ("id", "string"),
        ("title", "string"),
        ("tenant_name", "string"),
        ("timezone", "string"),
        ("generated_at", "string"),
        ("headline", "string"),
    ),
    partitions=(
        TENANT_PARTITION,
        Partition("type", "enum", values=("daily", "monthly")),
        Partition("period", "injected"),
    ),
    data_format="json",
    description="The generated reports' JSON documents (headline is the JSON of the headline figures)",
)

LAKE_TABLES: tuple[LakeTableSpec, ...] = (
    TELEMETRY_RAW_TABLE,
    TELEMETRY_DAILY_TABLE,
    SENSOR_DAILY_TABLE,
    ENERGY_DAILY_TABLE,
    LEDGER_TRANSACTIONS_TABLE,
    WORK_ORDERS_TABLE,
    ALERTS_TABLE,
    REPORTS_TABLE,
)
