"""Telemetry read API (API.md §4.5): chart series from the Telemetry table."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.core import aws
from climatrak.core.errors import DomainError, NotFound
from climatrak.core.http import principal, requires
from climatrak.core.identity import Permission
from climatrak.core.timeutil import iso_ms, now_ms, parse_iso, to_ms
from climatrak.telemetry.history import asset_series, device_series, resolve_interval
from climatrak.telemetry.readings import ReadingRepository

from .dependencies import settings
from .route_support import query_values

router = APIGatewayRouter()

DEFAULT_SPAN_MS = 24 * 3_600_000
DEVICE_DEFAULT_LIMIT = 500
DEVICE_MAX_LIMIT = 5000


def readings() -> ReadingRepository:
    config = settings()
    return ReadingRepository(
        aws.client("dynamodb"), config.telemetry_table, config.main_table, principal(router).tenant
    )


def time_range(start: str | None, end: str | None) -> tuple[int, int]:
    try:
        to_value = to_ms(parse_iso(end)) if end else now_ms()
    except ValueError:
        raise DomainError("Enter a valid date/time.", field="to") from None
    try:
        from_value = to_ms(parse_iso(start)) if start else to_value - DEFAULT_SPAN_MS
    except ValueError:
        raise DomainError("Enter a valid date/time.", field="from") from None
    if from_value >= to_value:
        raise DomainError("'from' must be earlier than 'to'.", code="invalid_range")
    return from_value, to_value


def sensor_filter() -> set[str] | None:
    return {value for value in query_values(router, "sensor_id") if value} or None


@router.get("/telemetry/assets/<asset_tag>/history/")
@requires(router, Permission.TELEMETRY_READ)
def asset_history(
    asset_tag: str,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    interval: str = "auto",
) -> dict[str, Any]:
    from_ms, to_ms_ = time_range(start, end)
    resolved = resolve_interval(interval, to_ms_ - from_ms, allow_15m=True)
    repository = readings()
    client_ids = repository.asset_client_ids(asset_tag)
    if client_ids is None:
        raise NotFound("Asset not found.")
    sensors = sensor_filter()
    points = [p for client_id in client_ids for p in repository.points(client_id, from_ms, to_ms_, sensors)]
    data, truncated, limit = asset_series(points, resolved)
    body: dict[str, Any] = {
        "asset_tag": asset_tag,
        "from": iso_ms(from_ms),
        "to": iso_ms(to_ms_),
        "interval": resolved,
        "count": len(data),
        "data": data,
    }
    if truncated:
        body.update(truncated=True, limit=limit, warning=f"Result truncated to the most recent {limit} points.")
    return body


@router.get("/telemetry/history/<device_id>/")
@requires(router, Permission.TELEMETRY_READ)
def device_history(
    device_id: str,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    interval: str = "auto",
    limit: Annotated[int, Query(ge=1, le=DEVICE_MAX_LIMIT)] = DEVICE_DEFAULT_LIMIT,
) -> dict[str, Any]:
    from_ms, to_ms_ = time_range(start, end)
    resolved = resolve_interval(interval, to_ms_ - from_ms, allow_15m=False)
    repository = readings()
    if not repository.device_exists(device_id):
        raise NotFound("Device not found.")
    sensors = sensor_filter()
    data, truncated = device_series(repository.points(device_id, from_ms, to_ms_, sensors), resolved, limit)
    body: dict[str, Any] = {
        "device_id": device_id,
        "sensor_ids": sorted(sensors) if sensors else None,
        "interval": resolved,
        "from": iso_ms(from_ms),
        "to": iso_ms(to_ms_),
        "count": len(data),
        "data": data,
    }
    if truncated:
        body.update(truncated=True, limit=limit, warning=f"Result truncated to the most recent {limit} points.")
    return body
