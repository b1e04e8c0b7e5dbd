"""The REST API function: every /api route of every module, one Powertools resolver.

Imports within the function are relative: on Lambda the package is `api`, locally `functions.api`.

Routes live in per-module routers; this file only composes them and adapts the event.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from climatrak.core.http import build_resolver, json_response, normalise_path

from . import (
    alerts_routes,
    cmms_routes,
    energy_routes,
    events_routes,
    ledger_routes,
    ledger_settings_routes,
    ledger_transactions_routes,
    registry_routes,
    reports_routes,
    telemetry_routes,
)
from .dependencies import settings

logger = Logger(service="api")

app = build_resolver(settings().cors_origins.split(","))
app.include_router(registry_routes.router)
app.include_router(telemetry_routes.router)
app.include_router(cmms_routes.router)
app.include_router(ledger_routes.router)
app.include_router(ledger_transactions_routes.router)
app.include_router(energy_routes.router)
app.include_router(ledger_settings_routes.router)
app.include_router(reports_routes.router)
app.include_router(events_routes.router)
app.include_router(alerts_routes.router)
app.configure_openapi(
    title="ClimaTrak Cloud API",
    version="1.0.0",
    description=(
        "HVAC operations: registry, telemetry, CMMS work orders, TrakLedger, TrakSense alerts and events. "
        "Bearer JWT (Cognito; locally `climatrak local token`)."
    ),
    servers=[Server(url="/api")],
    security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
    security=[{"bearer": []}],
)
app.enable_swagger(path="/docs", title="ClimaTrak Cloud API", version="1.0.0", servers=[Server(url="/api")])


@app.get("/openapi.json/", include_in_schema=False)
def openapi_document() -> Any:
    return json_response(200, app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(normalise_path(event), context)
