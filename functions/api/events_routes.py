"""Events admin API: failed events of the caller's tenant, one event, and retries.

Owner and admin only (Permission.EVENTS_ADMIN). An event of another tenant is simply not found:
the repository builds every key from the caller's tenant. `include_stuck=true` adds *stuck*
events (pending, but the relay will not get them again by itself; `stuck: true` in the view)
to the failed list and to the bulk retry.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.core.errors import DomainError
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


TRUE_VALUES = {"true", "1", "yes", "on"}
FALSE_VALUES = {"false", "0", "no", "off", ""}


def _flag(value: str | None, name: str) -> bool:
    """A boolean query parameter, as DRF's BooleanField reads it."""
    text = (value or "").strip().lower()
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    raise DomainError("Must be a valid boolean.", field=name)


def _filter(status: str | None = None) -> EventFilter:
    params = query(router, "event_name", "since", "until", "include_stuck")
    return EventFilter(
        status=status,
        event_name=params["event_name"] or None,
        since=params["since"] or None,
        until=params["until"] or None,
        include_stuck=_flag(params["include_stuck"], "include_stuck"),
    )


@router.get("/events/failed/", responses=doc(list[EventView]))
@requires(router, ADMIN)
def list_failed_events() -> Response[Any]:
    """Failed events, newest first; filters `event_name`, `since`, `until` (ISO instants) and
    `include_stuck=true` (stuck pending events as well)."""
    return page(router, admin.list_events(_repo(), _filter(EventStatus.FAILED), limit=None))


@router.post("/events/failed/retry/", responses=doc(RetryResult))
@requires(router, ADMIN)
def retry_failed_events() -> Response[Any]:
    """Every failed event (matching the same filters, `include_stuck` too) back to pending; the
    relay republishes them."""
    return json_response(200, admin.retry_failed(_repo(), _filter()))


@router.get("/events/<event_id>/", responses=doc(EventView))
@requires(router, ADMIN)
def get_event(event_id: str) -> Response[Any]:
    return json_response(200, admin.show_event(_repo(), event_id))


@router.post("/events/<event_id>/retry/", responses=doc(EventView))
@requires(router, ADMIN)
def retry_event(event_id: str) -> Response[Any]:
    """A failed or stuck event back to pending (409 otherwise); the relay republishes it."""
    return json_response(200, admin.retry_event(_repo(), event_id))
