"""Events admin API: failed events of the caller's tenant, one event, and retries.

Owner and admin only (Permission.EVENTS_ADMIN). An event of another tenant is simply not found:
the repository builds every key from the caller's tenant.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.core.events import EventStatus
from climatrak.core.http import json_response, paginate, principal, requires
from climatrak.core.identity import Permission
from climatrak.events import admin
from climatrak.events.admin import EventFilter, EventView, RetryResult
from climatrak.events.repository import OutboxRepository

from .dependencies import settings

router = APIGatewayRouter()

ADMIN = Permission.EVENTS_ADMIN


def _doc(model: Any) -> dict[int, Any]:
    return {200: {"description": "OK", "content": {"application/json": {"model": model}}}}


def _repo() -> OutboxRepository:
    return OutboxRepository(principal(router).tenant, settings())


def _filter(status: str | None = None) -> EventFilter:
    params = router.current_event.query_string_parameters or {}
    return EventFilter(
        status=status,
        event_name=params.get("event_name") or None,
        since=params.get("since") or None,
        until=params.get("until") or None,
    )


@router.get("/events/failed/", responses=_doc(list[EventView]))
@requires(router, ADMIN)
def list_failed_events() -> Response[Any]:
    """Failed events, newest first; filters `event_name`, `since`, `until` (ISO instants)."""
    rows = admin.list_events(_repo(), _filter(EventStatus.FAILED), limit=None)
    return json_response(200, paginate(router, rows, settings().public_base_url))


@router.post("/events/failed/retry/", responses=_doc(RetryResult))
@requires(router, ADMIN)
def retry_failed_events() -> Response[Any]:
    """Every failed event (matching the same filters) back to pending; the relay republishes them."""
    return json_response(200, admin.retry_failed(_repo(), _filter()))


@router.get("/events/<event_id>/", responses=_doc(EventView))
@requires(router, ADMIN)
def get_event(event_id: str) -> Response[Any]:
    return json_response(200, admin.show_event(_repo(), event_id))


@router.post("/events/<event_id>/retry/", responses=_doc(EventView))
@requires(router, ADMIN)
def retry_event(event_id: str) -> Response[Any]:
    """A failed event back to pending (409 if it is not failed); the relay republishes it."""
    return json_response(200, admin.retry_event(_repo(), event_id))
