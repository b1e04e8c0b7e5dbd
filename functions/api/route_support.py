"""What the route modules share: OpenAPI response descriptions, the caller's repository, path
ids, query parameters, the caller's claims and the common responses (a DRF page, 204).

Each route module has its own `router`; the helpers that read the current request take it, as
`principal(router)` and `requires(router, ...)` do. Domain errors stay domain errors here: the
resolver maps them to HTTP.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from climatrak.core.config import Settings
from climatrak.core.errors import NotFound
from climatrak.core.http import HasEvent, json_response, paginate, principal

from .dependencies import settings

R = TypeVar("R")


def doc(model: type[BaseModel] | Any, status: int = 200) -> dict[int, Any]:
    """OpenAPI response description for a route (bodies are built by json_response)."""
    return {status: {"description": "OK", "content": {"application/json": {"model": model}}}}


def tenant_repository(router: HasEvent, repository: Callable[[str, Settings], R]) -> Callable[[], R]:
    """`_repo = tenant_repository(router, XRepository)`: `_repo()` is the caller's tenant's
    repository for the current request (the tenant comes only from the verified token)."""

    def repo() -> R:
        return repository(principal(router).tenant, settings())

    return repo


# Ids are at most 2**53 (16 digits); a longer number is no id (and int() refuses > 4300 digits).
MAX_ID_DIGITS = 16


def int_id(raw: str) -> int:
    """Integer ids in paths; anything else is simply not found (as DRF's router does).

    ASCII digits only: `"²".isdigit()` is True but int() refuses it."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_ID_DIGITS):
        raise NotFound("Not found.")
    return int(raw)


def query_params(router: HasEvent) -> dict[str, str]:
    """Every query parameter of the current request (the last value of a repeated one)."""
    params: dict[str, str] = router.current_event.query_string_parameters or {}
    return params


def query(router: HasEvent, *names: str) -> dict[str, str | None]:
    """The named query parameters, None where absent."""
    params = query_params(router)
    return {name: params.get(name) for name in names}


def query_values(router: HasEvent, name: str) -> list[str]:
    """Every value of a repeatable query parameter (`?sensor_id=a&sensor_id=b`)."""
    values: list[str] = router.current_event.get_multi_value_query_string_values(name) or []
    return values


def claims(router: HasEvent) -> dict[str, Any]:
    """The caller's token claims as the authorizer passed them (identity: `principal(router)`)."""
    found: dict[str, Any] = (router.current_event.request_context.authorizer.raw_event or {}).get("claims") or {}
    return found


def caller_name(router: HasEvent) -> str:
    """The caller's display name: given and family name, else name, else e-mail."""
    token = claims(router)
    parts = [str(token.get(name) or "") for name in ("given_name", "family_name")]
    return " ".join(part for part in parts if part) or str(token.get("name") or "") or principal(router).email


def page(router: HasEvent, rows: list[Any]) -> Response[Any]:
    """200 with the DRF page envelope of `rows` (page/page_size from the query)."""
    return json_response(200, paginate(router, rows, settings().public_base_url))


def no_content() -> Response[Any]:
    """204 with an empty body (deletes)."""
    return Response(status_code=204, body="")
