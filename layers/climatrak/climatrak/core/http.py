"""The HTTP edge shared by every API function: resolver factory, identity, permissions,
error mapping, pagination and JSON encoding. Domain errors become HTTP here and nowhere else."""

from __future__ import annotations

import base64
import binascii
import inspect
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel

from climatrak.core.errors import DomainError, Forbidden, NotFound
from climatrak.core.identity import Permission, Principal, normalise_tenant, principal_from_claims

logger = Logger(service="api")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
ALLOWED_HEADERS = [
    "content-type",
    "x-csrftoken",
    "x-tenant",
    "authorization",
    "accept",
    "x-requested-with",
    "if-match",
]
# Response headers a browser script may read across origins (optimistic concurrency).
EXPOSED_HEADERS = ["ETag"]

F = TypeVar("F", bound=Callable[..., Any])


class HasEvent(Protocol):
    """A resolver or a Router: anything that knows the current API Gateway event."""

    @property
    def current_event(self) -> Any: ...


# (permission) registered per route function, so tests can walk every route with every role.
ROUTE_PERMISSIONS: dict[str, Permission] = {}


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(body: Any) -> str:
    return json.dumps(body, default=to_jsonable, separators=(",", ":"), ensure_ascii=False)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=dumps(body), headers=headers)


def error_body(detail: str, code: str) -> dict[str, str]:
    return {"detail": detail, "error": detail, "code": code}


def build_resolver(cors_origins: Sequence[str]) -> APIGatewayRestResolver:
    """An API Gateway REST resolver with the contract's conventions wired in."""
    origins = [o for o in cors_origins if o] or ["http://localhost:5173"]
    cors = CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:],
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=True,
        max_age=600,
    )
    app = APIGatewayRestResolver(enable_validation=True, strip_prefixes=["/api"], cors=cors, serializer=dumps)

    @app.exception_handler(DomainError)
    def domain_error(error: DomainError) -> Response:
        if error.field:
            return json_response(error.status, {error.field: [error.detail]})
        return json_response(error.status, error_body(error.detail, error.code))

    @app.exception_handler(RequestValidationError)
    def validation_error(error: RequestValidationError) -> Response:
        fields: dict[str, list[str]] = {}
        for err in error.errors():
            location = [str(part) for part in err.get("loc", ())]
            # loc is ("body", field, ...) or ("query", name): drop the source.
            name = ".".join(location[1:]) or "non_field_errors"
            fields.setdefault(name, []).append(str(err.get("msg") or err.get("type")))
        return json_response(400, fields)

    @app.not_found
    def not_found(_: NotFoundError) -> Response:
        return json_response(404, error_body("Not found.", "not_found"))

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return json_response(500, error_body("Internal server error.", "server_error"))

    return app


def normalise_path(event: dict[str, Any]) -> dict[str, Any]:
    """Routes are declared with a trailing slash (the frontend always sends one); accept both."""
    path = event.get("path") or ""
    if path and not path.endswith("/"):
        event = {**event, "path": path + "/"}
    return event


def principal(app: HasEvent) -> Principal:
    """The verified caller. A tenant header that disagrees with the token is refused."""
    event = app.current_event
    claims = (event.request_context.authorizer.raw_event or {}).get("claims")
    caller = principal_from_claims(claims)
    logger.append_keys(tenant=caller.tenant, user_id=caller.user_id)
    header_tenant = event.headers.get("x-tenant")  # Powertools headers are case-insensitive
    if header_tenant and normalise_tenant(header_tenant) != normalise_tenant(caller.tenant):
        raise Forbidden("The X-Tenant header does not match your organization.", code="tenant_mismatch")
    return caller


def requires(app: HasEvent, permission: Permission) -> Callable[[F], F]:
    """Route decorator: refuse callers whose role lacks `permission` (403) before the route runs."""

    def decorate(route: F) -> F:
        ROUTE_PERMISSIONS[route.__qualname__] = permission

        @wraps(route)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal(app).require(permission)
            return route(*args, **kwargs)

        # Powertools reads parameter annotations for validation and OpenAPI; resolve them in the
        # route's module (string annotations would otherwise be evaluated in this one).
        guarded.__signature__ = inspect.signature(route, eval_str=True)  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def page_params(app: HasEvent) -> tuple[int, int]:
    params = app.current_event.query_string_parameters or {}
    page = _positive_int(params.get("page"), 1, "page")
    page_size = min(_positive_int(params.get("page_size"), DEFAULT_PAGE_SIZE, "page_size"), MAX_PAGE_SIZE)
    return page, page_size


def _positive_int(raw: str | None, default: int, name: str) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DomainError("A valid integer is required.", field=name) from None
    if value < 1:
        raise DomainError("Ensure this value is greater than or equal to 1.", field=name)
    return value


def paginate(app: HasEvent, items: Sequence[Any], public_base_url: str = "") -> dict[str, Any]:
    """The DRF page envelope with absolute next/previous links."""
    page, page_size = page_params(app)
    start = (page - 1) * page_size
    if page > 1 and start >= len(items):
        raise DomainError("Invalid page.", code="not_found")
    results = list(items[start : start + page_size])

    def link(target: int) -> str:
        params = dict(app.current_event.query_string_parameters or {})
        params["page"] = str(target)
        return f"{_base_url(app, public_base_url)}{app.current_event.path}?{urlencode(params)}"

    return {
        "count": len(items),
        "next": link(page + 1) if start + page_size < len(items) else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": results,
    }


def _base_url(app: HasEvent, public_base_url: str) -> str:
    headers = app.current_event.headers
    host = headers.get("x-forwarded-host") or headers.get("host")
    if not host:
        return public_base_url.rstrip("/")
    proto = headers.get("x-forwarded-proto") or "https"
    return f"{proto}://{host}"


def cursor_paginate(
    app: HasEvent,
    fetch: Callable[[str | None, bool, int], Sequence[tuple[str, Any]]],
    count: Callable[[], int],
    public_base_url: str = "",
) -> dict[str, Any]:
    """The DRF page envelope for rows read in key order (e.g. a ledger walked month by month),
    with an opaque `cursor` in the next/previous links.

    `fetch(position, backwards, limit)` returns up to `limit` `(position, row)` pairs strictly
    after `position` in the list's order (None: from the start), or strictly before it, nearest
    first, when `backwards`. `count()` is called on the first page only: the cursor carries the
    total on, so walking the pages costs one read of each page. A request with `page=N` (the
    frontend's pager) is served by walking from the start, with page-number links."""
    params = dict(app.current_event.query_string_parameters or {})
    page, page_size = page_params(app)
    token = params.get("cursor")
    by_page = "page" in params and not token

    def encode(position: str, backwards: bool, total: int) -> str:
        raw = json.dumps({"p": position, "b": backwards, "c": total}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(value: str) -> tuple[str, bool, int]:
        try:
            state = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            position, backwards, total = state["p"], state["b"], state["c"]
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise NotFound("Invalid cursor.") from None
        if not isinstance(position, str) or not isinstance(backwards, bool) or not isinstance(total, int):
            raise NotFound("Invalid cursor.")
        return position, backwards, total

    def link(**changes: str) -> str:
        query = {name: value for name, value in params.items() if name not in ("page", "cursor")}
        query.update(changes)
        return f"{_base_url(app, public_base_url)}{app.current_event.path}?{urlencode(query)}"

    if token:
        position, backwards, total = decode(token)
        pairs = list(fetch(position, backwards, page_size + 1))
        more = len(pairs) > page_size
        pairs = pairs[:page_size]
        if backwards:
            pairs.reverse()
        has_next, has_previous = (True, more) if backwards else (more, True)
    else:
        start = (page - 1) * page_size
        pairs = list(fetch(None, False, start + page_size + 1))
        if page > 1 and start >= len(pairs):
            raise NotFound("Invalid page.")
        has_next, has_previous = len(pairs) > start + page_size, page > 1
        pairs = pairs[start : start + page_size]
        total = count()
    next_link = previous_link = None
    if by_page:
        next_link = link(page=str(page + 1)) if has_next else None
        previous_link = link(page=str(page - 1)) if has_previous else None
    elif pairs:
        next_link = link(cursor=encode(pairs[-1][0], False, total)) if has_next else None
        previous_link = link(cursor=encode(pairs[0][0], True, total)) if has_previous else None
    elif token and has_previous:
        previous_link = link(cursor=encode(position, True, total))
    return {"count": total, "next": next_link, "previous": previous_link, "results": [row for _, row in pairs]}
