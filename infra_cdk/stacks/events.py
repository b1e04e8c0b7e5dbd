"""Events stack: the bus (archived), the outbox relay, one consumer per ConsumerSpec and one
scheduled function per ScheduleSpec.

Main table stream --(filter: outbox items waiting)--> relay function --> bus (archive)
bus --rule per consumer--> consumer queue (DLQ after maxReceiveCount) --> consumer function
default bus --schedule rule (rate)--> scheduled function (e.g. the alerts' no-data check)

The relay's stream filter, the rules' patterns and the consumers come from the same code the
local runtime uses (climatrak.events.stream, climatrak.events.routing, climatrak.core.resources).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from climatrak.core.resources import (
    ALERTS_TOPIC_PREFIX_ENV_VAR,
    CONSUMERS,
    EVENT_BUS,
    IDEMPOTENCY_TABLE,
    MAIN_TABLE,
    SCHEDULES,
    TELEMETRY_TABLE,
    ConsumerSpec,
    ScheduleSpec,
)
from climatrak.events.relay import RELAY_BATCH_SIZE, RELAY_STREAM_RETRY_ATTEMPTS, RELAY_TIMEOUT_SECONDS
from climatrak.events.repository import STUCK_AFTER
from climatrak.events.routing import consumer_event_pattern
from climatrak.events.stream import OUTBOX_STREAM_FILTER
from infra_cdk.function import METRICS_NAMESPACE, ClimatrakFunction, ClimatrakLayers
from infra_cdk.grants import (
    grant_item_update,
    grant_stream_read,
    grant_table_read,
    grant_table_read_write,
    grant_topics_by_prefix,
    topics_by_prefix_finding,
)
from infra_cdk.nag import acknowledge
from infra_cdk.stacks.data import DataStack
from infra_cdk.stage import StageConfig

DLQ_RETENTION = Duration.days(14)
# EventBridge keeps trying to put an event on a consumer queue this long before the DLQ.
DELIVERY_MAX_EVENT_AGE = Duration.hours(24)
FAILED_EVENTS_METRIC = "EventsFailed"  # EMF, from the relay and every consumer (service dimension)
METRIC_PERIOD = Duration.minutes(1)
# The relay reading stream records older than this is stalled (a record retried over and over,
# throttling, a disabled mapping): events stay pending and become stuck, so it pages someone.
RELAY_ITERATOR_AGE_ALARM = Duration.seconds(int(STUCK_AFTER.total_seconds()))
ITERATOR_AGE_PERIOD = Duration.minutes(5)


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def encrypted_queue(scope: Construct, construct_id: str, **kwargs: Any) -> sqs.Queue:
    return sqs.Queue(scope, construct_id, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True, **kwargs)


def handler_directory(name: str, handler: str) -> str:
    """The functions/ directory of a spec's handler, which must be `<dir>.handler.handler`."""
    directory, module, attribute = handler.split(".")
    if (module, attribute) != ("handler", "handler"):
        raise ValueError(f"{name}: handler must be <dir>.handler.handler, not {handler}")
    return directory


def failed_events_metric(service: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=FAILED_EVENTS_METRIC,
        dimensions_map={"service": service},
        statistic="Sum",
        period=METRIC_PERIOD,
    )


class EventConsumer(Construct):
    """One ConsumerSpec: its rule on the bus, its queue with a DLQ, its function on the queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: ConsumerSpec,
        bus: events.IEventBus,
        stage: StageConfig,
        layers: ClimatrakLayers,
        data: DataStack,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        queue_spec = spec.queue
        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue", retention_period=DLQ_RETENTION)
        self.queue = encrypted_queue(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(queue_spec.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=queue_spec.max_receive_count
            ),
        )
        pattern = consumer_event_pattern(spec)
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description=f"{', '.join(spec.event_names)} to the {spec.name} queue",
            event_pattern=events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"]),
            # Events EventBridge cannot deliver go to the same DLQ: both carry the event itself.
            targets=[
                targets.SqsQueue(
                    self.queue,
                    dead_letter_queue=self.dead_letter_queue,
                    max_event_age=DELIVERY_MAX_EVENT_AGE,
                )
            ],
        )

        if spec.needs_alert_topics:
            environment = {**environment, ALERTS_TOPIC_PREFIX_ENV_VAR: stage.alerts_topic_prefix()}
        self.function = ClimatrakFunction(
            self,
            "Function",
            name=handler_directory(f"consumer {spec.name}", spec.handler),
            stage=stage,
            layers=layers.common(),
            environment=environment,
            timeout=Duration.seconds(spec.timeout_seconds),
            description=f"Event consumer {spec.name}: {', '.join(spec.event_names)}",
        )
        self.function.function.add_event_source(
            event_sources.SqsEventSource(self.queue, batch_size=spec.batch_size, report_batch_item_failures=True)
        )
        role = self.function.role
        grant_table_read_write(role, data.main_table, MAIN_TABLE, data.key)
        grant_table_read_write(role, data.tables[IDEMPOTENCY_TABLE.logical_id], IDEMPOTENCY_TABLE, data.key)
        if spec.needs_alert_topics:
            prefix = stage.alerts_topic_prefix()
            grant_topics_by_prefix(role, prefix)
            acknowledge(
                role,
                topics_by_prefix_finding(prefix),
                "Per-tenant alert topics are created at run time; the wildcard covers only this "
                "stage's alert topic names.",
            )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "It is the DLQ of the consumer queue and of the rule's target, watched by an alarm.",
        )


class ScheduledFunction(Construct):
    """One ScheduleSpec: a rate rule on the default bus invoking its function.

    Scheduled functions read and write the Main table (its indexes included) and read the
    Telemetry table; nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: ScheduleSpec,
        stage: StageConfig,
        layers: ClimatrakLayers,
        data: DataStack,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        telemetry = data.tables[TELEMETRY_TABLE.logical_id]
        self.function = ClimatrakFunction(
            self,
            "Function",
            name=handler_directory(f"schedule {spec.name}", spec.handler),
            stage=stage,
            layers=layers.common(),
            environment={**environment, TELEMETRY_TABLE.env_var: telemetry.table_name},
            timeout=Duration.seconds(spec.timeout_seconds),
            description=f"Scheduled {spec.name}: every {spec.rate_minutes} min",
        )
        # A failed run is not retried: the next run, one period later, does the same work.
        period = Duration.minutes(spec.rate_minutes)
        self.function.function.configure_async_invoke(retry_attempts=0, max_event_age=period)
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"Runs {spec.name} every {spec.rate_minutes} min",
            schedule=events.Schedule.rate(period),
            targets=[targets.LambdaFunction(self.function.function, max_event_age=period, retry_attempts=0)],
        )
        role = self.function.role
        grant_table_read_write(role, data.main_table, MAIN_TABLE, data.key)
        grant_table_read(role, telemetry, TELEMETRY_TABLE, data.key)


class EventsStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: StageConfig, data: DataStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage
        self.bus = events.EventBus(self, EVENT_BUS.logical_id, event_bus_name=f"{stage.resource_prefix()}-events")
        self.archive = events.Archive(
            self,
            "Archive",
            source_event_bus=self.bus,
            description="Every ClimaTrak event, for replays beyond the outbox's 90 days",
            event_pattern=events.EventPattern(source=events.Match.prefix("climatrak.")),
            retention=Duration.days(EVENT_BUS.archive_retention_days),
        )
        # The CLI (`climatrak events replay --target aws`) reads the bus name back from here.
        CfnOutput(self, EVENT_BUS.env_var.replace("_", ""), value=self.bus.event_bus_name)

        layers = ClimatrakLayers(self, "Layers", stage.layer_dirs)
        environment = {
            MAIN_TABLE.env_var: data.main_table.table_name,
            IDEMPOTENCY_TABLE.env_var: data.tables[IDEMPOTENCY_TABLE.logical_id].table_name,
            EVENT_BUS.env_var: self.bus.event_bus_name,
        }
        self.relay_failure_queue = encrypted_queue(self, "RelayFailureQueue", retention_period=DLQ_RETENTION)
        acknowledge(
            self.relay_failure_queue,
            "AwsSolutions-SQS3",
            "The relay stream mapping's on-failure destination: a terminal sink of stream record "
            "pointers watched by an alarm; nothing consumes it.",
        )
        self.relay = self._relay(data, layers, environment)
        self.consumers = [
            EventConsumer(
                self,
                f"{spec.queue.logical_id.removesuffix('Queue')}Consumer",
                spec=spec,
                bus=self.bus,
                stage=stage,
                layers=layers,
                data=data,
                environment=environment,
            )
            for spec in CONSUMERS
        ]
        self.schedules = [
            ScheduledFunction(
                self,
                f"{_pascal(spec.name)}Schedule",
                spec=spec,
                stage=stage,
                layers=layers,
                data=data,
                environment=environment,
            )
            for spec in SCHEDULES
        ]

    def _relay(self, data: DataStack, layers: ClimatrakLayers, environment: dict[str, str]) -> ClimatrakFunction:
        relay = ClimatrakFunction(
            self,
            "RelayFunction",
            name="relay",
            stage=self.stage,
            layers=layers.common(),
            environment=environment,
            timeout=Duration.seconds(RELAY_TIMEOUT_SECONDS),
            memory_size=512,
            description="Outbox relay: Main table stream (outbox items waiting) to the event bus",
        )
        assert data.main_table.table_stream_arn is not None
        self.relay_stream = lambda_.EventSourceMapping(
            self,
            "RelayStream",
            target=relay.function,
            event_source_arn=data.main_table.table_stream_arn,
            # Items written before this mapping existed are relayed too: nothing is lost.
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=RELAY_BATCH_SIZE,
            bisect_batch_on_error=True,
            retry_attempts=RELAY_STREAM_RETRY_ATTEMPTS,
            report_batch_item_failures=True,
            on_failure=event_sources.SqsDlq(self.relay_failure_queue),
            filters=[{"pattern": json.dumps(OUTBOX_STREAM_FILTER)}],
        )
        role = relay.role
        grant_stream_read(role, data.main_table, data.key)
        grant_item_update(role, data.main_table, data.key)  # pending → processed / failed
        self.bus.grant_put_events_to(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments/PutTelemetryRecords and dynamodb:ListStreams (needed by the "
            "stream event source mapping) have no resource-level permissions.",
        )
        return relay

    # -- for the observability stack -------------------------------------------------------

    def dead_letter_queues(self) -> list[tuple[str, sqs.IQueue]]:
        queues: list[tuple[str, sqs.IQueue]] = [("RelayFailureQueue", self.relay_failure_queue)]
        queues += [(f"{c.spec.queue.logical_id}DLQ", c.dead_letter_queue) for c in self.consumers]
        return queues

    def functions(self) -> list[tuple[str, ClimatrakFunction]]:
        named = [("Relay", self.relay)]
        named += [(f"{c.spec.queue.logical_id.removesuffix('Queue')}Consumer", c.function) for c in self.consumers]
        named += [(f"{_pascal(s.spec.name)}Schedule", s.function) for s in self.schedules]
        return named

    def stream_lag_alarms(self) -> list[tuple[str, cloudwatch.IMetric, float]]:
        """The relay's IteratorAge (ms, Lambda's metric of its stream mapping) and its threshold."""
        age = self.relay.function.metric("IteratorAge", statistic="Maximum", period=ITERATOR_AGE_PERIOD)
        return [("Relay", age, float(RELAY_ITERATOR_AGE_ALARM.to_milliseconds()))]

    def failed_event_metrics(self) -> list[tuple[str, cloudwatch.IMetric]]:
        """EventsFailed of the relay (events given up) and of each consumer (failed deliveries)."""
        metrics: list[tuple[str, cloudwatch.IMetric]] = [("Relay", failed_events_metric("relay"))]
        metrics += [(c.spec.name, failed_events_metric(c.spec.name)) for c in self.consumers]
        return metrics
