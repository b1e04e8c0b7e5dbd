"""Ingest stack: IoT Core topic rule -> SQS ingest queue (+ DLQ) -> ingest function."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from climatrak.core.resources import (
    INGEST_BATCH_SIZE,
    INGEST_BATCH_WINDOW_SECONDS,
    INGEST_FUNCTION_TIMEOUT_SECONDS,
    INGEST_QUEUE,
    MAIN_TABLE,
    TELEMETRY_RULE_SQL,
    TELEMETRY_TABLE,
)
from infra_cdk.function import ClimatrakFunction, ClimatrakLayers, resource_environment
from infra_cdk.grants import grant_object_put, grant_table_read_write, grant_table_write, object_put_finding
from infra_cdk.nag import acknowledge
from infra_cdk.stacks.data import QUARANTINE_PREFIX, RAW_TELEMETRY_PREFIX, DataStack
from infra_cdk.stage import StageConfig

IOT_SQL_VERSION = "2016-03-23"
DLQ_RETENTION = Duration.days(14)
# Caps the ingest function's concurrency so a backlog drains steadily instead of
# stampeding DynamoDB (and the account's concurrency) all at once.
INGEST_MAX_CONCURRENCY = 10


def _queue(scope: Construct, construct_id: str, **kwargs: Any) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        **kwargs,
    )


class IngestStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: StageConfig, data: DataStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage

        self.dead_letter_queue = _queue(self, f"{INGEST_QUEUE.logical_id}DLQ", retention_period=DLQ_RETENTION)
        self.queue = _queue(
            self,
            INGEST_QUEUE.logical_id,
            visibility_timeout=Duration.seconds(INGEST_QUEUE.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=INGEST_QUEUE.max_receive_count
            ),
        )
        # Where IoT Core puts messages it could not deliver to the ingest queue. Kept apart from
        # the DLQ: its messages carry IoT's error envelope, not an ingest message.
        self.rule_error_queue = _queue(self, "TelemetryRuleErrorQueue", retention_period=DLQ_RETENTION)
        acknowledge(
            self.rule_error_queue,
            "AwsSolutions-SQS3",
            "It is the IoT topic rule's error action target, a terminal sink watched by an alarm; "
            "nothing consumes it, so it needs no DLQ of its own.",
        )

        self.topic_rule = self._topic_rule()
        self.device_policy = self._device_policy()

        layers = ClimatrakLayers(self, "Layers", stage.layer_dirs)
        self.ingest = ClimatrakFunction(
            self,
            "IngestFunction",
            name="ingest",
            stage=stage,
            layers=[*layers.common(), layers.deps_lake],
            environment=resource_environment(data, self.queue.queue_url),
            timeout=Duration.seconds(INGEST_FUNCTION_TIMEOUT_SECONDS),
            memory_size=1769,  # one full vCPU: parsing and Parquet encoding are CPU-bound
            description="Consumes the ingest queue: telemetry to DynamoDB and the lake",
        )
        self.ingest.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=INGEST_BATCH_SIZE,
                max_batching_window=Duration.seconds(INGEST_BATCH_WINDOW_SECONDS),
                report_batch_item_failures=True,
                max_concurrency=INGEST_MAX_CONCURRENCY,
            )
        )
        self._grant_ingest(data)

    def _grant_ingest(self, data: DataStack) -> None:
        role = self.ingest.role
        grant_table_read_write(role, data.main_table, MAIN_TABLE, data.key)
        grant_table_write(role, data.tables[TELEMETRY_TABLE.logical_id], data.key)
        # Put-only, and only under the prefixes the ingest function writes.
        for prefix in (RAW_TELEMETRY_PREFIX, QUARANTINE_PREFIX):
            grant_object_put(role, data.lake_bucket_arn_export, prefix, data.key)
            acknowledge(
                role,
                object_put_finding(data.lake_bucket_arn_export, prefix),
                "Object keys under this lake prefix are generated per tenant, day and batch.",
            )

    def _topic_rule(self) -> iot.CfnTopicRule:
        role = iam.Role(
            self,
            "TelemetryRuleRole",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
            description="Lets the telemetry topic rule send to the ingest and rule-error queues, nothing else",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn, self.rule_error_queue.queue_arn],
            )
        )

        def sqs_action(queue: sqs.IQueue) -> iot.CfnTopicRule.ActionProperty:
            return iot.CfnTopicRule.ActionProperty(
                sqs=iot.CfnTopicRule.SqsActionProperty(
                    queue_url=queue.queue_url, role_arn=role.role_arn, use_base64=False
                )
            )

        return iot.CfnTopicRule(
            self,
            "TelemetryRule",
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=TELEMETRY_RULE_SQL,
                aws_iot_sql_version=IOT_SQL_VERSION,
                rule_disabled=False,
                description="Device telemetry to the ingest queue",
                actions=[sqs_action(self.queue)],
                error_action=sqs_action(self.rule_error_queue),
            ),
        )

    def _device_policy(self) -> iot.CfnPolicy:
        """What a device certificate may do: connect as its own thing, publish under its own tenant."""
        iot_arn = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": f"{iot_arn}:client/${{iot:Connection.Thing.ThingName}}",
                    "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": f"{iot_arn}:topic/tenants/${{iot:Connection.Thing.Attributes[tenant]}}/*",
                },
            ],
        }
        return iot.CfnPolicy(self, "DevicePolicy", policy_document=document)
