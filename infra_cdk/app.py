"""The ClimaTrak CDK app: `python -m infra_cdk.app` synthesizes it to cdk.out, offline.

Context: `stage` (default "dev"; "prod" turns on deletion protection and RETAIN policies),
`layer_dirs` (defaults to build/, written by `make layer`), `log_level`, `cors_origins`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk

from infra_cdk.layer import REPO_ROOT
from infra_cdk.nag import add_aws_solutions_checks
from infra_cdk.stacks.api import ApiStack
from infra_cdk.stacks.data import DataStack
from infra_cdk.stacks.events import EventsStack
from infra_cdk.stacks.ingest import IngestStack
from infra_cdk.stacks.observability import ObservabilityStack
from infra_cdk.stacks.reports import ReportsStack
from infra_cdk.stage import StageConfig


@dataclass(frozen=True)
class ClimatrakStacks:
    data: DataStack
    ingest: IngestStack
    api: ApiStack
    events: EventsStack
    reports: ReportsStack
    observability: ObservabilityStack


def build_stacks(app: cdk.App, stage: StageConfig) -> ClimatrakStacks:
    prefix = f"Climatrak-{stage.name}"
    data = DataStack(app, f"{prefix}-Data", stage=stage, description="ClimaTrak tables, lake and data key")
    ingest = IngestStack(app, f"{prefix}-Ingest", stage=stage, data=data, description="ClimaTrak telemetry ingest")
    api = ApiStack(app, f"{prefix}-Api", stage=stage, data=data, ingest=ingest, description="ClimaTrak REST API")
    events = EventsStack(
        app, f"{prefix}-Events", stage=stage, data=data, description="ClimaTrak event bus, outbox relay and consumers"
    )
    reports = ReportsStack(
        app,
        f"{prefix}-Reports",
        stage=stage,
        data=data,
        description="ClimaTrak report state machines and schedules, the lake's Glue catalog and Athena workgroup",
    )
    observability = ObservabilityStack(
        app,
        f"{prefix}-Observability",
        stage=stage,
        dead_letter_queues=[
            ("IngestDLQ", ingest.dead_letter_queue),
            ("TelemetryRuleErrorQueue", ingest.rule_error_queue),
            *events.dead_letter_queues(),
            *reports.dead_letter_queues(),
        ],
        ingest_queue=ingest.queue,
        functions=[
            ("Ingest", ingest.ingest),
            ("Api", api.api_function),
            ("IngestHttp", api.ingest_http_function),
            *events.functions(),
            *reports.functions(),
        ],
        failed_event_metrics=events.failed_event_metrics(),
        stream_lag_alarms=events.stream_lag_alarms(),
        failed_execution_metrics=reports.failed_execution_metrics(),
        description="ClimaTrak alarms and dashboard",
    )
    stacks = ClimatrakStacks(
        data=data, ingest=ingest, api=api, events=events, reports=reports, observability=observability
    )
    for stack in (data, ingest, api, events, reports, observability):
        cdk.Tags.of(stack).add("project", "climatrak")
        cdk.Tags.of(stack).add("stage", stage.name)
    return stacks


CDK_JSON = REPO_ROOT / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context (feature flags included): the cdk CLI passes it, plain python does not."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    """Build the app; cdk-nag's AwsSolutions pack fails synthesis on any unacknowledged finding.

    `context` overrides cdk.json's; under the cdk CLI, its own -c values win over both.
    """
    app = cdk.App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    build_stacks(app, StageConfig.from_context(app.node))
    add_aws_solutions_checks(app)
    return app


def main() -> None:
    # Under the cdk CLI, CDK_OUTDIR is set and App() reads it itself.
    outdir = None if "CDK_OUTDIR" in os.environ else str(REPO_ROOT / "cdk.out")
    build_app(outdir=outdir).synth()


if __name__ == "__main__":
    main()
