"""Data stack: the KMS key, the DynamoDB tables, the S3 lake and the reports bucket, built from
the shared specs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from climatrak.core.resources import (
    ATHENA_RESULTS_PREFIX,
    LAKE_BUCKET,
    MAIN_TABLE,
    REPORTS_BUCKET,
    REPORTS_PREFIX,
    TABLES,
    TableSpec,
)
from infra_cdk.nag import acknowledge
from infra_cdk.stage import StageConfig

# Lake prefixes with a retention (everything else, e.g. telemetry/daily/, is kept).
RAW_TELEMETRY_PREFIX = "telemetry/raw/"
QUARANTINE_PREFIX = "quarantine/"


def _string_key(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage

        self.key = kms.Key(
            self,
            "DataKey",
            description=f"ClimaTrak {stage.name}: tables and lake",
            alias=f"alias/{stage.resource_prefix()}-data",
            enable_key_rotation=True,
            removal_policy=stage.removal_policy,
        )
        self.tables: dict[str, dynamodb.Table] = {spec.logical_id: self._table(spec) for spec in TABLES}
        self.main_table = self.tables[MAIN_TABLE.logical_id]
        self.access_logs_bucket = self._access_logs_bucket()
        self.lake_bucket = self._lake_bucket()
        self.reports_bucket = self._reports_bucket()
        # Explicit export names (not CDK's generated ones) so consumers can name the buckets'
        # object ARNs deterministically, e.g. in their cdk-nag acknowledgements.
        self.lake_bucket_arn_export = f"{self.stack_name}-LakeBucketArn"
        CfnOutput(self, "LakeBucketArn", value=self.lake_bucket.bucket_arn, export_name=self.lake_bucket_arn_export)
        self.reports_bucket_arn_export = f"{self.stack_name}-ReportsBucketArn"
        CfnOutput(
            self, "ReportsBucketArn", value=self.reports_bucket.bucket_arn, export_name=self.reports_bucket_arn_export
        )
        # Names under the handlers' env var names: the CLI (`--target aws`) reads them back.
        for spec in TABLES:
            CfnOutput(self, spec.env_var.replace("_", ""), value=self.tables[spec.logical_id].table_name)
        CfnOutput(self, LAKE_BUCKET.env_var.replace("_", ""), value=self.lake_bucket.bucket_name)
        CfnOutput(self, REPORTS_BUCKET.env_var.replace("_", ""), value=self.reports_bucket.bucket_name)

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            spec.logical_id,
            partition_key=_string_key(spec.partition_key),
            sort_key=_string_key(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            # New images only: the outbox relay reads what was written, never what was there.
            stream=dynamodb.StreamViewType.NEW_IMAGE if spec.stream else None,
            deletion_protection=self.stage.is_prod,
            removal_policy=self.stage.removal_policy,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string_key(index.partition_key),
                sort_key=_string_key(index.sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def _access_logs_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            # S3 server access logging cannot deliver to an SSE-KMS bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
            removal_policy=self.stage.removal_policy,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "This is the server access log target; logging it into itself (or a third bucket) adds nothing.",
        )
        return bucket

    def _lake_bucket(self) -> s3.Bucket:
        return s3.Bucket(
            self,
            LAKE_BUCKET.logical_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,  # one KMS call per bucket key, not per Parquet object
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="lake/",
            lifecycle_rules=[
                # The daily compaction keeps each day in telemetry/daily/; raw batches are its input.
                s3.LifecycleRule(
                    id="expire-raw-telemetry",
                    prefix=RAW_TELEMETRY_PREFIX,
                    expiration=Duration.days(self.stage.lake_raw_retention_days),
                ),
                s3.LifecycleRule(
                    id="expire-quarantine",
                    prefix=QUARANTINE_PREFIX,
                    expiration=Duration.days(self.stage.quarantine_retention_days),
                ),
                # Redelivered batches overwrite their Parquet object; old versions go after a week.
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(7),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=self.stage.removal_policy,
        )

    def _reports_bucket(self) -> s3.Bucket:
        """Reports (JSON, CSV, HTML per tenant and period) and Athena's query results."""
        return s3.Bucket(
            self,
            REPORTS_BUCKET.logical_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="reports/",
            lifecycle_rules=[
                # Old reports are read rarely; they stay, at a lower storage price.
                s3.LifecycleRule(
                    id="tier-reports",
                    prefix=f"{REPORTS_PREFIX}/",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING, transition_after=Duration.days(90)
                        )
                    ],
                ),
                s3.LifecycleRule(
                    id="expire-athena-results",
                    prefix=f"{ATHENA_RESULTS_PREFIX}/",
                    expiration=Duration.days(self.stage.athena_results_retention_days),
                ),
                # A rerun overwrites a period's report; the previous generation goes after a month.
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=self.stage.removal_policy,
        )
