"""Reports stack: the report-task function, the daily and monthly state machines, their
EventBridge Scheduler sweeps (one per report kind, every 15 minutes in UTC), and the lake's
catalog for analysts (Glue database and tables with partition projection, an Athena workgroup
with a bytes-scanned cutoff, the saved queries of docs/athena/).

Scheduler (every 15 min UTC, input {"due_at": <aws.scheduler.scheduled-time>})
    --> state machine (climatrak.reports.state_machines) --> task function (list the tenants whose
        03:00 / 1st 04:00 has just come in their own zone, report per tenant, summary)
    --> lake (telemetry/daily, aggregates/) + reports bucket (reports/) + Main table (records, postings, outbox)
analyst --> Athena workgroup --> Glue tables (projection) --> lake and reports buckets

The state machine definitions, the sweeps and the tables come from the same code the local
runtime provisions (climatrak.reports.state_machines, climatrak.core.resources).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk import Aws, CfnOutput, CfnResource, Duration, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from climatrak.core.resources import (
    ATHENA_RESULTS_PREFIX,
    ATHENA_WORKGROUP_ENV_VAR,
    GLUE_DATABASE_ENV_VAR,
    LAKE_BUCKET,
    LAKE_TABLES,
    MAIN_TABLE,
    REPORT_SCHEDULES,
    REPORT_TASKS,
    REPORTS_BUCKET,
    REPORTS_PREFIX,
    STATE_MACHINES,
    LakeTableSpec,
    ReportScheduleSpec,
    StateMachineSpec,
)
from climatrak.reports.state_machines import definition
from infra_cdk.function import ClimatrakFunction, ClimatrakLayers
from infra_cdk.grants import (
    grant_list_prefixes,
    grant_object_get,
    grant_object_put,
    grant_table_read_write,
    object_put_finding,
)
from infra_cdk.nag import acknowledge
from infra_cdk.saved_queries import saved_queries
from infra_cdk.stacks.data import RAW_TELEMETRY_PREFIX, DataStack
from infra_cdk.stacks.events import DLQ_RETENTION, encrypted_queue, handler_directory
from infra_cdk.stage import StageConfig

# The definitions name the task function by this placeholder; CloudFormation substitutes its ARN.
TASK_FUNCTION_ARN = "TaskFunctionArn"
ATHENA_ENGINE = "Athena engine version 3"
# The task reads raw and compacted telemetry and the curated datasets; it writes all but raw.
LAKE_READ_PREFIXES = (RAW_TELEMETRY_PREFIX, "telemetry/daily/", "aggregates/", "ledger/")
LAKE_WRITE_PREFIXES = ("telemetry/daily/", "aggregates/", "ledger/")
# A schedule that could not start its execution (throttled, deleted target) retries this long.
SCHEDULE_MAX_EVENT_AGE = Duration.hours(1)
SCHEDULE_RETRY_ATTEMPTS = 5


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name))


class ReportsStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: StageConfig, data: DataStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage
        layers = ClimatrakLayers(self, "Layers", stage.layer_dirs)
        self.task_function = ClimatrakFunction(
            self,
            "TaskFunction",
            name=handler_directory(REPORT_TASKS.name, REPORT_TASKS.handler),
            stage=stage,
            layers=[*layers.common(), layers.deps_lake],
            environment={
                MAIN_TABLE.env_var: data.main_table.table_name,
                LAKE_BUCKET.env_var: data.lake_bucket.bucket_name,
                REPORTS_BUCKET.env_var: data.reports_bucket.bucket_name,
                GLUE_DATABASE_ENV_VAR: stage.glue_database_name(),
                ATHENA_WORKGROUP_ENV_VAR: stage.athena_workgroup_name(),
            },
            timeout=Duration.seconds(REPORT_TASKS.timeout_seconds),
            memory_size=REPORT_TASKS.memory_mb,
            description="Report tasks: list tenants, one tenant's daily or monthly report, the run's summary",
        )
        # A failed invocation is the state machine's to retry (it invokes synchronously).
        self._grant_task(data)

        self.state_machines: dict[str, sfn.StateMachine] = {
            spec.name: self._state_machine(spec) for spec in STATE_MACHINES
        }
        self.schedule_dead_letter_queue = encrypted_queue(self, "ScheduleDLQ", retention_period=DLQ_RETENTION)
        acknowledge(
            self.schedule_dead_letter_queue,
            "AwsSolutions-SQS3",
            "It is the report schedules' dead-letter queue (runs that could not start), watched by an alarm.",
        )
        self.schedule_role = self._schedule_role()
        # One sweep per report kind reaches every tenant's own report time, whatever its zone.
        self.schedules = [self._schedule(spec) for spec in REPORT_SCHEDULES]

        self.database = self._database()
        self.tables = {spec.name: self._table(spec, data) for spec in LAKE_TABLES}
        self.workgroup = self._workgroup(data)
        self.named_queries = self._named_queries()

        # The CLI (`climatrak --target aws reports run ...`) reads these back.
        for spec in STATE_MACHINES:
            CfnOutput(self, spec.env_var.replace("_", ""), value=self.state_machines[spec.name].state_machine_arn)
        CfnOutput(self, GLUE_DATABASE_ENV_VAR.replace("_", ""), value=stage.glue_database_name())
        CfnOutput(self, ATHENA_WORKGROUP_ENV_VAR.replace("_", ""), value=stage.athena_workgroup_name())

    # -- the task function ---------------------------------------------------------------------

    def _grant_task(self, data: DataStack) -> None:
        role = self.task_function.role
        grant_table_read_write(role, data.main_table, MAIN_TABLE, data.key)
        grant_list_prefixes(role, data.lake_bucket_arn_export, list(LAKE_READ_PREFIXES))
        for prefix in LAKE_READ_PREFIXES:
            grant_object_get(role, data.lake_bucket_arn_export, prefix, data.key)
        for prefix in LAKE_WRITE_PREFIXES:
            grant_object_put(role, data.lake_bucket_arn_export, prefix, data.key)
        grant_object_put(role, data.reports_bucket_arn_export, f"{REPORTS_PREFIX}/", data.key)
        findings = [(data.lake_bucket_arn_export, prefix) for prefix in LAKE_READ_PREFIXES]
        findings.append((data.reports_bucket_arn_export, f"{REPORTS_PREFIX}/"))
        for export, prefix in findings:
            acknowledge(
                role,
                object_put_finding(export, prefix),
                "Object keys under this prefix are generated per tenant and day (or month, or report).",
            )

    # -- state machines ------------------------------------------------------------------------

    def _state_machine(self, spec: StateMachineSpec) -> sfn.StateMachine:
        log_group = logs.LogGroup(
            self,
            f"{spec.logical_id}Logs",
            # Step Functions' log delivery: a /aws/vendedlogs/ name keeps its resource policy small.
            log_group_name=f"/aws/vendedlogs/states/{self.stage.state_machine_name(spec)}",
            retention=logs.RetentionDays.THREE_MONTHS if self.stage.is_prod else logs.RetentionDays.TWO_WEEKS,
            removal_policy=self.stage.removal_policy,
        )
        body = definition(spec.kind, f"${{{TASK_FUNCTION_ARN}}}")
        machine = sfn.StateMachine(
            self,
            spec.logical_id,
            state_machine_name=self.stage.state_machine_name(spec),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(body)),
            definition_substitutions={TASK_FUNCTION_ARN: self.task_function.function.function_arn},
            timeout=Duration.seconds(spec.timeout_seconds),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment=body["Comment"],
        )
        # The unqualified function only (CDK's grant_invoke would add every version, `:*`).
        machine.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.task_function.function.function_arn])
        )
        acknowledge(
            machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Log delivery (logs:CreateLogDelivery and friends) and X-Ray tracing have no resource-level "
            "permissions; Step Functions documents '*' for both.",
        )
        return machine

    # -- schedules -------------------------------------------------------------------------------

    def _schedule_role(self) -> iam.Role:
        role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="Lets the report schedules start the report state machines, nothing else",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[machine.state_machine_arn for machine in self.state_machines.values()],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.schedule_dead_letter_queue.queue_arn])
        )
        return role

    def _schedule(self, spec: ReportScheduleSpec) -> scheduler.CfnSchedule:
        machine = self.state_machines[spec.state_machine.name]
        day = "every day" if spec.day_of_month is None else f"on day {spec.day_of_month}"
        return scheduler.CfnSchedule(
            self,
            f"{_pascal(spec.name)}Sweep",
            description=(
                f"{spec.state_machine.kind} reports: every {spec.sweep_minutes} min, the tenants whose "
                f"{spec.hour:02d}:{spec.minute:02d} {day} has just come in their own time zone"
            ),
            schedule_expression=spec.expression,
            schedule_expression_timezone=spec.timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=machine.state_machine_arn,
                role_arn=self.schedule_role.role_arn,
                # The scheduled time, not the delivery time: a retried start lists the same tenants.
                input=json.dumps(spec.input()),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=int(SCHEDULE_MAX_EVENT_AGE.to_seconds()),
                    maximum_retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.schedule_dead_letter_queue.queue_arn
                ),
            ),
        )

    # -- the catalog -------------------------------------------------------------------------------

    def _database(self) -> glue.CfnDatabase:
        return glue.CfnDatabase(
            self,
            "LakeDatabase",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.stage.glue_database_name(),
                description="ClimaTrak lake: telemetry, daily aggregates, energy, ledger export, reports",
            ),
        )

    def _table(self, spec: LakeTableSpec, data: DataStack) -> CfnResource:
        bucket = data.lake_bucket if spec.bucket == LAKE_BUCKET else data.reports_bucket
        # The Glue API's TableInput as is (the local runtime creates the same): the L1 CfnTable
        # would want it rebuilt from its property classes.
        table = CfnResource(
            self,
            f"{_pascal(spec.name)}Table",
            type="AWS::Glue::Table",
            properties={
                "CatalogId": Aws.ACCOUNT_ID,
                "DatabaseName": self.stage.glue_database_name(),
                "TableInput": spec.table_input(bucket.bucket_name),
            },
        )
        table.node.add_dependency(self.database)
        return table

    def _workgroup(self, data: DataStack) -> athena.CfnWorkGroup:
        results = f"s3://{data.reports_bucket.bucket_name}/{ATHENA_RESULTS_PREFIX}/"
        return athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=self.stage.athena_workgroup_name(),
            description="Analysts' queries over the ClimaTrak lake",
            state="ENABLED",
            recursive_delete_option=not self.stage.is_prod,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                # Queries may not choose another output location or skip the encryption.
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=self.stage.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ATHENA_ENGINE),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=results,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=data.key.key_arn
                    ),
                ),
            ),
        )

    def _named_queries(self) -> list[athena.CfnNamedQuery]:
        named = []
        for stem, (description, text) in saved_queries().items():
            query = athena.CfnNamedQuery(
                self,
                f"{_pascal(stem)}Query",
                name=stem,
                description=description or stem,
                database=self.stage.glue_database_name(),
                query_string=text,
                work_group=self.stage.athena_workgroup_name(),
            )
            query.node.add_dependency(self.workgroup, self.database)
            named.append(query)
        return named

    # -- for the observability stack ----------------------------------------------------------

    def functions(self) -> list[tuple[str, ClimatrakFunction]]:
        return [("ReportTasks", self.task_function)]

    def dead_letter_queues(self) -> list[tuple[str, sqs.IQueue]]:
        return [("ReportScheduleDLQ", self.schedule_dead_letter_queue)]

    def failed_execution_metrics(self) -> list[tuple[str, cloudwatch.IMetric]]:
        """ExecutionsFailed of each state machine (a tenant's report failed after its retries)."""
        period = Duration.minutes(5)
        return [
            (_pascal(name), machine.metric_failed(period=period, statistic="Sum"))
            for name, machine in self.state_machines.items()
        ]
