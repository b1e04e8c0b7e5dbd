"""API Gateway (REST API, Lambda proxy integration), emulated on a threaded HTTP server.

Same route table as the CDK API: `/api/{proxy+}` behind the Cognito authorizer (locally the
JWT issuer of `tokens.py`) and `POST /ingest` without one. Requests become version 1.0 proxy
events; the handler's proxy response goes back to the client unchanged.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from climatrak_local.activity import Activity
from climatrak_local.lambda_invoke import ACCOUNT_ID, Handler, LambdaContext
from climatrak_local.tokens import InvalidToken, authorizer_claims, verify_token

logger = logging.getLogger(__name__)

STAGE = "local"
API_ID = "local"
# Served without a token locally so a browser can open the docs.
PUBLIC_API_PATHS = ("/api/docs", "/api/openapi.json")
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


@dataclass(frozen=True)
class Route:
    name: str  # the function it invokes ("api", "ingest_http")
    resource: str
    path_parameters: dict[str, str] | None
    requires_auth: bool


def match_route(method: str, path: str) -> Route | None:
    """The CDK API's route table."""
    if path == "/ingest":
        return Route("ingest_http", "/ingest", None, requires_auth=False) if method == "POST" else None
    if path.startswith("/api/"):
        public = method == "OPTIONS" or any(path.startswith(prefix) for prefix in PUBLIC_API_PATHS)
        return Route("api", "/api/{proxy+}", {"proxy": path.removeprefix("/api/")}, requires_auth=not public)
    return None


def bearer_token(headers: dict[str, list[str]]) -> str | None:
    """The token from `Authorization: Bearer ...` (or a bare token, as Cognito accepts), else the
    `access_token` cookie the web frontend sends."""
    for value in headers.get("authorization", []):
        token = value.removeprefix("Bearer ").removeprefix("bearer ").strip()
        if token:
            return token
    for cookie_header in headers.get("cookie", []):
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(cookie_header)
        except Exception:  # noqa: S112 - a malformed cookie header is just "no token"
            continue
        if "access_token" in cookie and cookie["access_token"].value:
            return cookie["access_token"].value
    return None


def _single_and_multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    return {name: values[-1] for name, values in multi.items()}, multi


def proxy_event(
    *,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    route: Route,
    claims: dict[str, str] | None,
) -> dict[str, Any]:
    """A REST API (payload version 1.0) Lambda proxy event."""
    url = urlsplit(raw_path)
    path = unquote(url.path)
    query, multi_query = _single_and_multi(parse_qsl(url.query, keep_blank_values=True))
    header_map, multi_headers = _single_and_multi(headers)
    if body:
        try:
            body_text: str | None = body.decode("utf-8")
            is_base64 = False
        except UnicodeDecodeError:
            body_text, is_base64 = base64.b64encode(body).decode("ascii"), True
    else:
        body_text, is_base64 = None, False
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    identity = {
        "sourceIp": source_ip,
        "userAgent": (header_map or {}).get("User-Agent"),
        "accountId": None,
        "caller": None,
        "user": None,
        "userArn": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "apiKey": None,
        "accessKey": None,
    }
    request_context: dict[str, Any] = {
        "resourceId": route.name,
        "resourcePath": route.resource,
        "httpMethod": method,
        "extendedRequestId": request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "path": f"/{STAGE}{path}",
        "accountId": ACCOUNT_ID,
        "protocol": "HTTP/1.1",
        "stage": STAGE,
        "domainPrefix": "localhost",
        "domainName": (header_map or {}).get("Host", "localhost"),
        "requestId": request_id,
        "apiId": API_ID,
        "identity": identity,
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": claims}
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": method,
        "headers": header_map,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": route.path_parameters,
        "stageVariables": None,
        "requestContext": request_context,
        "body": body_text,
        "isBase64Encoded": is_base64,
    }


@dataclass
class HttpReply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_reply(status: int, body: dict[str, Any]) -> HttpReply:
    return HttpReply(status, [("Content-Type", "application/json")], json.dumps(body).encode())


def unauthorized_reply(detail: str) -> HttpReply:
    return _json_reply(401, {"detail": detail, "error": detail, "code": "not_authenticated"})


def reply_from_proxy_response(response: Any) -> HttpReply:
    """The HTTP response API Gateway builds from a Lambda proxy response (502 if malformed)."""
    if not isinstance(response, dict) or not isinstance(response.get("statusCode"), int):
        return _json_reply(502, {"message": "Internal server error"})
    headers: list[tuple[str, str]] = []
    single = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    for name, value in single.items():
        if name not in multi:
            headers.append((name, str(value)))
    for name, values in multi.items():
        headers.extend((name, str(value)) for value in values)
    headers = [(name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP]
    raw_body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = raw_body.encode("utf-8") if isinstance(raw_body, str) else json.dumps(raw_body).encode()
    return HttpReply(response["statusCode"], headers, body)


class ApiGateway:
    """Routes, authorizes and invokes; one instance per runtime, shared by the server threads."""

    def __init__(self, handler_for: Callable[[str], Handler], jwt_secret: str, activity: Activity) -> None:
        self._handler_for = handler_for
        self._jwt_secret = jwt_secret
        self._activity = activity
        # One request at a time per function, as in one Lambda execution environment: the
        # Powertools resolver keeps the current event on the app object.
        self._function_locks = {"api": threading.Lock(), "ingest_http": threading.Lock()}

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> HttpReply:
        route = match_route(method, unquote(urlsplit(raw_path).path))
        if route is None:
            # What API Gateway answers for a method/path with no integration.
            return HttpReply(403, [("Content-Type", "application/json")], b'{"message":"Missing Authentication Token"}')
        claims = None
        lower_headers: dict[str, list[str]] = {}
        for name, value in headers:
            lower_headers.setdefault(name.lower(), []).append(value)
        token = bearer_token(lower_headers)
        if route.requires_auth:
            if token is None:
                return unauthorized_reply("Authentication credentials were not provided.")
            try:
                claims = authorizer_claims(verify_token(self._jwt_secret, token))
            except InvalidToken:
                return unauthorized_reply("Given token not valid for any token type")
        event = proxy_event(
            method=method,
            raw_path=raw_path,
            headers=headers,
            body=body,
            source_ip=source_ip,
            route=route,
            claims=claims,
        )
        context = LambdaContext(function_name=f"climatrak-local-{route.name}", timeout_seconds=29)
        with self._activity.running(), self._function_locks[route.name]:
            try:
                response = self._handler_for(route.name)(event, context)
            except Exception:
                logger.exception("%s handler raised", route.name)
                return _json_reply(502, {"message": "Internal server error"})
        return reply_from_proxy_response(response)


class _RequestHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = list(self.headers.items())
        present = {name.lower() for name, _ in headers}
        # API Gateway adds these; handlers build absolute links from them.
        for name, value in (
            ("X-Forwarded-For", self.client_address[0]),
            ("X-Forwarded-Port", str(self.server.server_address[1])),
            ("X-Forwarded-Proto", "http"),
        ):
            if name.lower() not in present:
                headers.append((name, value))
        started = time.monotonic()
        reply = self.server.gateway.handle(self.command, self.path, headers, body, self.client_address[0])
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("%s %s -> %s in %.1f ms", self.command, self.path, reply.status, elapsed_ms)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, gateway: ApiGateway) -> None:
        super().__init__(("127.0.0.1", port), _RequestHandler)
        self.gateway = gateway
        self._thread = threading.Thread(target=self.serve_forever, name="api-gateway", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never ran
            self.shutdown()
            self._thread.join(10)
        self.server_close()
