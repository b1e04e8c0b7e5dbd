"""The report state machines' task function: list the tenants to report on, run one tenant's
daily or monthly report, summarise the run (climatrak.reports.tasks)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from climatrak.core import aws
from climatrak.core.config import Settings
from climatrak.reports.tasks import run_task

logger = Logger(service="reports_tasks")


@cache
def settings() -> Settings:
    return Settings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(task=event.get("task"), tenant=event.get("tenant"))
    return run_task(settings(), aws.client("s3"), event)
