"""The scheduled no-data check (every minute): sensors silent for a no-data rule's duration
raise alerts (climatrak.alerts.no_data)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from climatrak.alerts.evaluator import AlertEngine, AlertStore
from climatrak.alerts.no_data import NoDataChecker
from climatrak.core import aws
from climatrak.core.config import Settings

logger = Logger(service="alerts_no_data")


@cache
def checker() -> NoDataChecker:
    settings = Settings.from_env()
    dynamodb = aws.client("dynamodb")
    engine = AlertEngine(AlertStore(dynamodb, settings.main_table))
    return NoDataChecker(dynamodb, settings.main_table, settings.telemetry_table, engine)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = checker().run()
    logger.info("no-data check", extra={"raised": len(outcome.raised), "resolved": len(outcome.resolved)})
    return {"raised": outcome.raised, "resolved": outcome.resolved}
