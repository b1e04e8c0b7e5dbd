"""CORS from the API function: the frontend's origin may call with credentials, send If-Match
and read the ETag of a work order (optimistic concurrency across origins)."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import ApiClient, LambdaContextStub

FRONTEND = "http://localhost:5173"  # Settings.cors_origins default


def call(api: ApiClient, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    from functions.api.handler import handler

    response: dict[str, Any] = handler(api.event(method, path, **kwargs), LambdaContextStub())  # type: ignore[arg-type]
    return response


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    merged = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        merged[name.lower()] = ",".join(values)
    return merged


def test_the_frontend_origin_may_read_the_etag(api: ApiClient, tenant: str) -> None:
    response = call(api, "GET", "/api/auth/me/", headers={"Origin": FRONTEND})
    headers = headers_of(response)
    assert response["statusCode"] == 200
    assert headers["access-control-allow-origin"] == FRONTEND
    assert headers["access-control-allow-credentials"] == "true"
    assert "etag" in headers["access-control-expose-headers"].lower()


def test_preflight_allows_if_match_and_the_tenant_header(api: ApiClient, tenant: str) -> None:
    response = call(
        api,
        "OPTIONS",
        "/api/cmms/work-orders/1/",
        headers={"Origin": FRONTEND, "Access-Control-Request-Method": "PATCH"},
    )
    allowed = {name.strip().lower() for name in headers_of(response)["access-control-allow-headers"].split(",")}
    assert response["statusCode"] == 204
    assert {"if-match", "x-tenant", "authorization", "content-type"} <= allowed


def test_another_origin_gets_no_cors_headers(api: ApiClient, tenant: str) -> None:
    headers = headers_of(call(api, "GET", "/api/auth/me/", headers={"Origin": "https://evil.example"}))
    assert "access-control-allow-origin" not in headers
