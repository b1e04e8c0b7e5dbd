"""The AWS resources the product needs, described once.

CDK stacks (infra_cdk/) and the local runtime (climatrak_local) both build their tables,
buckets and queues from these specs, so the two environments cannot drift apart.
Handlers never read this module for names: they get names from environment variables
(see `climatrak.core.config.Settings`), which CDK and the local runtime set.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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

BUCKETS: tuple[BucketSpec, ...] = (LAKE_BUCKET,)

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
