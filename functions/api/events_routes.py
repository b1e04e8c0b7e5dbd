"""Events admin API: failed events of the caller's tenant, one event, and retries.

Owner and admin only (Permission.EVENTS_ADMIN). An event of another tenant is simply not found:
the repository builds every key from the caller's tenant.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.core.events import EventStatus
from climatrak.core.http import json_response, requires
from climatrak.core.identity import Permission
from climatrak.events import admin
from climatrak.events.admin import EventFilter, EventView, RetryResult
from climatrak.events.repository import OutboxRepository

from .route_support import doc, page, query, tenant_repository

router = APIGatewayRouter()

ADMIN = Permission.EVENTS_ADMIN

_repo = tenant_repository(router, OutboxRepository)


def _filter(status: str | None = None) -> EventFilter:
    params = query(router, "event_name", "since", "until")
    return EventFilter(
        status=status,
        event_name=params["event_name"] or None,
        since=params["since"] or None,
        until=params["until"] or None,
    )


@router.get("/events/failed/", responses=doc(list[EventView]))
@requires(router, ADMIN)
def list_failed_events() -> Response[Any]:
    """Failed events, newest first; filters `event_name`, `since`, `until` (ISO instants)."""
    return page(router, admin.list_events(_repo(), _filter(EventStatus.FAILED), limit=None))


@router.post("/events/failed/retry/", responses=doc(RetryResult))
@requires(router, ADMIN)
def retry_failed_events() -> Response[Any]:
    """Every failed event (matching the same filters) back to pending; the relay republishes them."""
    return json_response(200, admin.retry_failed(_repo(), _filter()))


@router.get("/events/<event_id>/", responses=doc(EventView))
@requires(router, ADMIN)
def get_event(event_id: str) -> Response[Any]:
    return json_response(200, admin.show_event(_repo(), event_id))


@router.post("/events/<event_id>/retry/", responses=doc(EventView))
@requires(router, ADMIN)
def retry_event(event_id: str) -> Response[Any]:
    """A failed event back to pending (409 if it is not failed); the relay republishes it."""
    return json_response(200, admin.retry_event(_repo(), event_id))
