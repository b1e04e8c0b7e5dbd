"""The reports stack: task function, state machines, schedules, the lake's catalog and workgroup."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_scheduler as scheduler
from aws_cdk.assertions import Template

from climatrak.core.resources import (
    DAILY_REPORT,
    LAKE_TABLES,
    MONTHLY_REPORT,
    REPORT_SCHEDULES,
    REPORT_TASKS,
    STATE_MACHINES,
    StateMachineSpec,
)
from climatrak.reports.state_machines import RETRIED_ERRORS, definition
from infra_cdk.app import cdk_json_context
from infra_cdk.saved_queries import SAVED_QUERIES_DIR
from infra_cdk.stacks.data import DataStack
from infra_cdk.stacks.reports import ReportsStack
from infra_cdk.stage import StageConfig
from tests.infra.conftest import SynthesizedApp
from tests.infra.helpers import (
    actions_of,
    as_list,
    logical_id,
    policy_statements,
    refers_to,
    resources,
    statements_with,
)

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def state_machine(synthesized: SynthesizedApp, spec: StateMachineSpec) -> dict[str, Any]:
    machine = synthesized.stacks.reports.state_machines[spec.name]
    props: dict[str, Any] = resources(synthesized.reports, "AWS::StepFunctions::StateMachine")[logical_id(machine)][
        "Properties"
    ]
    return props


def task_function(synthesized: SynthesizedApp) -> dict[str, Any]:
    function = synthesized.stacks.reports.task_function.function
    props: dict[str, Any] = resources(synthesized.reports, "AWS::Lambda::Function")[logical_id(function)]["Properties"]
    return props


def task_statements(synthesized: SynthesizedApp) -> list[dict[str, Any]]:
    return policy_statements(synthesized.reports, logical_id(synthesized.stacks.reports.task_function.role))


# -- state machines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.name)
def test_state_machine_is_the_shared_definition_with_the_task_function_substituted(
    synthesized: SynthesizedApp, spec: StateMachineSpec
) -> None:
    props = state_machine(synthesized, spec)
    assert json.loads(props["DefinitionString"]) == definition(spec.kind, "${TaskFunctionArn}")
    assert props["StateMachineName"] == f"climatrak-dev-{spec.kind}-report"
    assert props["DefinitionSubstitutions"]["TaskFunctionArn"] == {
        "Fn::GetAtt": [logical_id(synthesized.stacks.reports.task_function.function), "Arn"]
    }


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.name)
def test_a_tenant_failure_is_retried_with_backoff_then_caught_inside_the_map(
    synthesized: SynthesizedApp, spec: StateMachineSpec
) -> None:
    states = json.loads(state_machine(synthesized, spec)["DefinitionString"])["States"]
    tenants = states["Tenants"]
    assert tenants["Type"] == "Map"
    assert tenants["ItemsPath"] == "$.tenants"
    assert tenants["MaxConcurrency"] == 10
    report = tenants["ItemProcessor"]["States"]["Report"]
    assert report["Parameters"]["Payload"]["task"] == spec.kind
    (retry,) = report["Retry"]
    assert set(retry["ErrorEquals"]) == set(RETRIED_ERRORS) >= {"States.TaskFailed", "Lambda.ServiceException"}
    assert (retry["BackoffRate"], retry["MaxAttempts"], retry["JitterStrategy"]) == (2.0, 3, "FULL")
    (catch,) = report["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    assert tenants["ItemProcessor"]["States"][catch["Next"]]["Parameters"]["status"] == "failed"
    # the summary decides the execution's outcome: a failed tenant fails it (and its alarm fires)
    assert states["Summarize"]["Parameters"]["Payload"] == {"task": "summarize", "results.$": "$"}
    (choice,) = states["AnyTenantFailed"]["Choices"]
    assert states[choice["Next"]]["Type"] == "Fail"
    assert states[states["AnyTenantFailed"]["Default"]]["Type"] == "Succeed"


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.name)
def test_state_machine_logs_everything_and_traces(synthesized: SynthesizedApp, spec: StateMachineSpec) -> None:
    props = state_machine(synthesized, spec)
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["StateMachineType"] == "STANDARD"


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.name)
def test_state_machine_may_invoke_the_task_function_only(synthesized: SynthesizedApp, spec: StateMachineSpec) -> None:
    machine = synthesized.stacks.reports.state_machines[spec.name]
    statements = policy_statements(synthesized.reports, logical_id(machine.role))
    (invoke,) = statements_with(statements, "lambda:InvokeFunction")
    function_id = logical_id(synthesized.stacks.reports.task_function.function)
    assert as_list(invoke["Resource"]) == [{"Fn::GetAtt": [function_id, "Arn"]}]  # no ":*" versions
    assert not any(action.startswith(("s3:", "dynamodb:")) for action in actions_of(statements))


# -- the task function ----------------------------------------------------------------------------


def test_task_function_runs_reports_tasks_with_room_for_a_day_of_telemetry(synthesized: SynthesizedApp) -> None:
    props = task_function(synthesized)
    assert props["Handler"] == REPORT_TASKS.handler == "reports_tasks.handler.handler"
    assert props["Timeout"] == 900
    assert props["MemorySize"] == 2048
    assert len(props["Layers"]) == 3  # climatrak, core dependencies and pyarrow
    env = props["Environment"]["Variables"]
    assert {"MAIN_TABLE", "LAKE_BUCKET", "REPORTS_BUCKET", "GLUE_DATABASE", "ATHENA_WORKGROUP"} <= set(env)
    assert not any(name.endswith("STATE_MACHINE_ARN") for name in env)  # tasks never start executions


def _resources_of(statements: list[dict[str, Any]], action: str) -> list[str]:
    return [json.dumps(resource) for s in statements_with(statements, action) for resource in as_list(s["Resource"])]


def test_task_function_reads_the_lake_and_writes_only_curated_prefixes(synthesized: SynthesizedApp) -> None:
    statements = task_statements(synthesized)
    actions = actions_of(statements)
    assert "s3:DeleteObject" not in actions and not any(a.endswith("*") for a in actions)
    puts = _resources_of(statements, "s3:PutObject")
    lake = [r for r in puts if "LakeBucketArn" in r]
    assert sorted(r.split('"')[-2] for r in lake) == ["/aggregates/*", "/ledger/*", "/telemetry/daily/*"]
    assert [r.split('"')[-2] for r in puts if "ReportsBucketArn" in r] == ["/reports/*"]
    gets = _resources_of(statements, "s3:GetObject")
    assert any("/telemetry/raw/*" in r for r in gets)
    (listing,) = statements_with(statements, "s3:ListBucket")
    assert "telemetry/raw/*" in listing["Condition"]["StringLike"]["s3:prefix"]
    assert {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"} <= actions
    assert not any(a.startswith("states:") for a in actions)


# -- schedules ----------------------------------------------------------------------------------------


def report_schedules(synthesized: SynthesizedApp) -> list[dict[str, Any]]:
    return [s["Properties"] for s in resources(synthesized.reports, "AWS::Scheduler::Schedule").values()]


def test_one_utc_sweep_per_report_kind_every_fifteen_minutes(synthesized: SynthesizedApp) -> None:
    schedules = report_schedules(synthesized)
    assert len(schedules) == 2  # no schedule per zone: the sweeps reach every tenant's own 03:00
    machines = synthesized.stacks.reports.state_machines
    targets = []
    for schedule in schedules:
        assert schedule["ScheduleExpression"] == "cron(0/15 * * * ? *)"
        assert schedule["ScheduleExpressionTimezone"] == "UTC"
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert schedule["State"] == "ENABLED"
        targets.append(schedule["Target"]["Arn"])
    assert sorted(map(json.dumps, targets)) == sorted(
        json.dumps({"Ref": logical_id(machines[spec.name])}) for spec in (DAILY_REPORT, MONTHLY_REPORT)
    )


def test_a_sweep_sends_its_scheduled_time_as_due_at(synthesized: SynthesizedApp) -> None:
    for schedule in report_schedules(synthesized):
        # EventBridge Scheduler substitutes its context attribute, the same on every retry
        assert json.loads(schedule["Target"]["Input"]) == {"due_at": "<aws.scheduler.scheduled-time>"}
    assert scheduler.ContextAttribute.scheduled_time == "<aws.scheduler.scheduled-time>"


def test_a_sweep_that_cannot_start_is_retried_then_dead_lettered(synthesized: SynthesizedApp) -> None:
    dlq_id = logical_id(synthesized.stacks.reports.schedule_dead_letter_queue)
    role_id = logical_id(synthesized.stacks.reports.schedule_role)
    for schedule in report_schedules(synthesized):
        target = schedule["Target"]
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 5}
        assert refers_to(target["DeadLetterConfig"], dlq_id)
        assert target["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_schedule_role_may_only_start_the_report_state_machines(synthesized: SynthesizedApp) -> None:
    role = synthesized.stacks.reports.schedule_role
    statements = policy_statements(synthesized.reports, logical_id(role))
    assert actions_of(statements) == {"states:StartExecution", "sqs:SendMessage"}
    (start,) = statements_with(statements, "states:StartExecution")
    machines = synthesized.stacks.reports.state_machines.values()
    assert as_list(start["Resource"]) == [{"Ref": logical_id(machine)} for machine in machines]
    trust = resources(synthesized.reports, "AWS::IAM::Role")[logical_id(role)]["Properties"]
    (assume,) = trust["AssumeRolePolicyDocument"]["Statement"]
    assert assume["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in assume["Condition"]["StringEquals"]


def test_the_sweeps_need_no_zone_in_the_context(layer_dirs: dict[str, str]) -> None:
    """A stale `report_timezones` context changes nothing: there is no per-zone setting left."""
    context = {**cdk_json_context(), "layer_dirs": layer_dirs, "report_timezones": "America/Manaus,Asia/Kolkata"}
    app = cdk.App(context=context)
    stage = StageConfig.from_context(app.node)
    data = DataStack(app, "Data", stage=stage)
    template = Template.from_stack(ReportsStack(app, "Reports", stage=stage, data=data))
    schedules = [s["Properties"] for s in resources(template, "AWS::Scheduler::Schedule").values()]
    assert len(schedules) == len(REPORT_SCHEDULES) == 2
    assert {(s["ScheduleExpression"], s["ScheduleExpressionTimezone"]) for s in schedules} == {
        ("cron(0/15 * * * ? *)", "UTC")
    }
    assert {json.loads(s["Target"]["Input"])["due_at"] for s in schedules} == {"<aws.scheduler.scheduled-time>"}


# -- catalog and workgroup ------------------------------------------------------------------------


def glue_tables(synthesized: SynthesizedApp) -> dict[str, dict[str, Any]]:
    tables = resources(synthesized.reports, "AWS::Glue::Table").values()
    return {t["Properties"]["TableInput"]["Name"]: t["Properties"] for t in tables}


def test_every_lake_table_is_declared_with_partition_projection(synthesized: SynthesizedApp) -> None:
    tables = glue_tables(synthesized)
    assert (
        set(tables)
        == {spec.name for spec in LAKE_TABLES}
        >= {
            "telemetry_raw",
            "telemetry_daily",
            "sensor_daily",
            "energy_daily",
            "ledger_transactions",
            "reports",
        }
    )
    for spec in LAKE_TABLES:
        props = tables[spec.name]
        assert props["DatabaseName"] == "climatrak_dev_lake"
        table = props["TableInput"]
        parameters = table["Parameters"]
        assert parameters["projection.enabled"] == "true"
        # tenants are listed nowhere Athena could read: every query names its tenant
        assert parameters["projection.tenant.type"] == "injected"
        assert table["PartitionKeys"][0]["Name"] == "tenant"
        assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == list(spec.columns)
        template = json.dumps(parameters["storage.location.template"])
        assert f"/{spec.prefix}/tenant=${{tenant}}/" in template


def test_daily_datasets_project_their_day_and_the_ledger_its_month(synthesized: SynthesizedApp) -> None:
    tables = glue_tables(synthesized)
    for name in ("telemetry_raw", "telemetry_daily", "sensor_daily", "energy_daily"):
        parameters = tables[name]["TableInput"]["Parameters"]
        assert parameters["projection.dt.type"] == "date"
        assert parameters["projection.dt.format"] == "yyyy-MM-dd"
        assert parameters["projection.dt.range"].endswith(",NOW+1DAYS")
        assert parameters["projection.dt.interval.unit"] == "DAYS"
        assert tables[name]["TableInput"]["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith(
            "ParquetHiveSerDe"
        )
    ledger = tables["ledger_transactions"]["TableInput"]["Parameters"]
    assert (ledger["projection.month.type"], ledger["projection.month.format"]) == ("date", "yyyy-MM")
    assert ledger["projection.month.interval.unit"] == "MONTHS"
    reports = tables["reports"]["TableInput"]
    assert reports["Parameters"]["projection.type.values"] == "daily,monthly"
    assert reports["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert refers_to(reports["StorageDescriptor"]["Location"], logical_id(synthesized.stacks.data.reports_bucket))


def test_workgroup_enforces_encrypted_results_and_a_scan_cutoff(synthesized: SynthesizedApp) -> None:
    (workgroup,) = resources(synthesized.reports, "AWS::Athena::WorkGroup").values()
    props = workgroup["Properties"]
    assert props["Name"] == "climatrak-dev-lake"
    config = props["WorkGroupConfiguration"]
    assert config["BytesScannedCutoffPerQuery"] == 10 * 1024**3
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    results = config["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    location = json.dumps(results["OutputLocation"])
    assert logical_id(synthesized.stacks.data.reports_bucket) in location and "/athena-results/" in location


def test_saved_queries_are_named_queries_of_the_workgroup(synthesized: SynthesizedApp) -> None:
    queries = {
        q["Properties"]["Name"]: q["Properties"]
        for q in resources(synthesized.reports, "AWS::Athena::NamedQuery").values()
    }
    files = {path.stem: path.read_text() for path in SAVED_QUERIES_DIR.glob("*.sql")}
    assert len(files) >= 4
    assert set(queries) == set(files)
    for name, props in queries.items():
        assert props["QueryString"] == files[name]
        assert props["WorkGroup"] == "climatrak-dev-lake"
        assert props["Database"] == "climatrak_dev_lake"


def test_reports_stack_outputs_what_the_cli_reads(synthesized: SynthesizedApp) -> None:
    outputs = synthesized.reports.to_json()["Outputs"]
    for spec in STATE_MACHINES:
        machine = synthesized.stacks.reports.state_machines[spec.name]
        assert outputs[spec.env_var.replace("_", "")]["Value"] == {"Ref": logical_id(machine)}


# -- the API starts executions and signs report links ----------------------------------------------


def test_api_function_knows_the_state_machines_and_may_start_them_only(synthesized: SynthesizedApp) -> None:
    api = synthesized.stacks.api.api_function
    props = resources(synthesized.api, "AWS::Lambda::Function")[logical_id(api.function)]["Properties"]
    env = props["Environment"]["Variables"]
    statements = policy_statements(synthesized.api, logical_id(api.role))
    (start,) = statements_with(statements, "states:StartExecution")
    for spec in STATE_MACHINES:
        name = state_machine(synthesized, spec)["StateMachineName"]
        assert json.dumps(env[spec.env_var]).endswith(f':stateMachine:{name}"]]}}')
    assert [json.dumps(arn) for arn in as_list(start["Resource"])] == [
        json.dumps(env[spec.env_var]) for spec in STATE_MACHINES
    ]
    assert "REPORTS_BUCKET" in env
    gets = _resources_of(statements, "s3:GetObject")
    assert len(gets) == 1 and "ReportsBucketArn" in gets[0] and "/reports/*" in gets[0]


# -- alarms -----------------------------------------------------------------------------------------


def test_failed_executions_task_errors_and_unstarted_schedules_alarm(synthesized: SynthesizedApp) -> None:
    alarms = [a["Properties"] for a in resources(synthesized.observability, "AWS::CloudWatch::Alarm").values()]
    for spec in STATE_MACHINES:
        machine_id = logical_id(synthesized.stacks.reports.state_machines[spec.name])
        (failed,) = [
            a for a in alarms if a["MetricName"] == "ExecutionsFailed" and refers_to(a["Dimensions"], machine_id)
        ]
        assert failed["Namespace"] == "AWS/States" and failed["Threshold"] == 0
        assert failed["AlarmActions"]
    function_id = logical_id(synthesized.stacks.reports.task_function.function)
    assert [a for a in alarms if a["MetricName"] == "Errors" and refers_to(a["Dimensions"], function_id)]
    dlq_id = logical_id(synthesized.stacks.reports.schedule_dead_letter_queue)
    assert [
        a
        for a in alarms
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible" and refers_to(a["Dimensions"], dlq_id)
    ]
