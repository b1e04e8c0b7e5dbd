"""Observability stack: alarms on queues, functions and failed events, published to one
encrypted SNS topic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra_cdk.function import ClimatrakFunction
from infra_cdk.stage import StageConfig

PERIOD = Duration.minutes(1)
# Telemetry older than this in the ingest queue means ingest is falling behind.
INGEST_MAX_AGE_SECONDS = 300


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


class ObservabilityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        dead_letter_queues: Sequence[tuple[str, sqs.IQueue]],
        ingest_queue: sqs.IQueue,
        functions: Sequence[tuple[str, ClimatrakFunction]],
        failed_event_metrics: Sequence[tuple[str, cloudwatch.IMetric]] = (),
        stream_lag_alarms: Sequence[tuple[str, cloudwatch.IMetric, float]] = (),
        failed_execution_metrics: Sequence[tuple[str, cloudwatch.IMetric]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"ClimaTrak {stage.name}: alarm topic",
            enable_key_rotation=True,
            removal_policy=stage.removal_policy,
        )
        # CloudWatch publishes to an encrypted topic only if the key lets it.
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name=f"ClimaTrak {stage.name} alarms", master_key=key, enforce_ssl=True
        )
        self.alarms: list[cloudwatch.Alarm] = []

        for name, queue in dead_letter_queues:
            self._alarm(
                f"{name}Depth",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                threshold=0,
                description=f"Messages are waiting in {name}: something failed repeatedly.",
            )
        self._alarm(
            "IngestQueueAge",
            ingest_queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
            threshold=INGEST_MAX_AGE_SECONDS,
            description="Ingest is falling behind: the oldest telemetry message waits too long.",
            evaluation_periods=5,
        )
        for name, function in functions:
            self._alarm(
                f"{name}Errors",
                function.function.metric_errors(period=PERIOD, statistic="Sum"),
                threshold=0,
                description=f"The {name} function raised errors.",
            )
            self._alarm(
                f"{name}Throttles",
                function.function.metric_throttles(period=PERIOD, statistic="Sum"),
                threshold=0,
                description=f"The {name} function was throttled.",
            )

        for name, metric in failed_event_metrics:
            self._alarm(
                f"{_pascal(name)}FailedEvents",
                metric,
                threshold=0,
                description=f"{name} gave up on events or failed to handle them: see GET /api/events/failed/.",
            )

        for name, metric, threshold in stream_lag_alarms:
            self._alarm(
                f"{name}IteratorAge",
                metric,
                threshold=threshold,
                description=f"The {name} function is behind on its stream: events stay pending "
                "(see GET /api/events/failed/?include_stuck=true).",
            )

        for name, metric in failed_execution_metrics:
            self._alarm(
                f"{name}ExecutionsFailed",
                metric,
                threshold=0,
                description=f"A {name} execution failed: some tenant's report failed after its retries "
                "(the execution's error names the tenants; rerun with `climatrak reports run`).",
            )

        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{stage.resource_prefix()}-ingest")
        dashboard.add_widgets(*(cloudwatch.AlarmWidget(alarm=alarm, title=alarm.node.id) for alarm in self.alarms))

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
