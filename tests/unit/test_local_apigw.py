import base64
import json

import pytest

from climatrak_local.apigw import (
    Route,
    bearer_token,
    match_route,
    proxy_event,
    reply_from_proxy_response,
)

API_ROUTE = Route("api", "/api/{proxy+}", {"proxy": "sites/"}, requires_auth=True)


@pytest.mark.parametrize(
    ("method", "path", "function", "requires_auth"),
    [
        ("GET", "/api/sites/", "api", True),
        ("POST", "/api/devices/3/rotate-secret/", "api", True),
        ("GET", "/api/docs", "api", False),
        ("GET", "/api/openapi.json", "api", False),
        ("OPTIONS", "/api/sites/", "api", False),
        ("POST", "/ingest", "ingest_http", False),
    ],
)
def test_route_table(method: str, path: str, function: str, requires_auth: bool) -> None:
    route = match_route(method, path)

    assert route is not None
    assert (route.name, route.requires_auth) == (function, requires_auth)


@pytest.mark.parametrize(("method", "path"), [("GET", "/ingest"), ("GET", "/"), ("GET", "/apix"), ("GET", "/other")])
def test_paths_outside_the_api_have_no_route(method: str, path: str) -> None:
    assert match_route(method, path) is None


def test_proxy_event_has_the_rest_api_v1_shape() -> None:
    claims = {"custom:tenant_id": "umc"}

    event = proxy_event(
        method="GET",
        raw_path="/api/sites/?page=2&tag=a&tag=b",
        headers=[("Host", "127.0.0.1:3000"), ("Accept", "application/json"), ("X-Multi", "1"), ("X-Multi", "2")],
        body=b"",
        source_ip="127.0.0.1",
        route=API_ROUTE,
        claims=claims,
    )

    assert event["resource"] == "/api/{proxy+}"
    assert event["path"] == "/api/sites/"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"proxy": "sites/"}
    assert event["queryStringParameters"] == {"page": "2", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"page": ["2"], "tag": ["a", "b"]}
    assert event["headers"]["X-Multi"] == "2"
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["authorizer"] == {"claims": claims}
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["stage"] == "local"
    assert context["requestId"]


def test_proxy_event_without_query_or_claims() -> None:
    event = proxy_event(
        method="POST",
        raw_path="/ingest",
        headers=[],
        body=b'{"a": 1}',
        source_ip="10.0.0.1",
        route=Route("ingest_http", "/ingest", None, requires_auth=False),
        claims=None,
    )

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] == '{"a": 1}'
    assert "authorizer" not in event["requestContext"]


def test_binary_body_is_base64_encoded() -> None:
    event = proxy_event(
        method="POST", raw_path="/ingest", headers=[], body=b"\xff\xfe", source_ip="x", route=API_ROUTE, claims=None
    )

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_token_from_bearer_header_or_cookie() -> None:
    assert bearer_token({"authorization": ["Bearer abc"]}) == "abc"
    assert bearer_token({"cookie": ["theme=dark; access_token=xyz"]}) == "xyz"
    assert bearer_token({"cookie": ["theme=dark"]}) is None
    assert bearer_token({}) is None


def test_proxy_response_is_passed_back_faithfully() -> None:
    reply = reply_from_proxy_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps({"id": 1}),
            "isBase64Encoded": False,
        }
    )

    assert reply.status == 201
    assert ("Content-Type", "application/json") in reply.headers
    assert [value for name, value in reply.headers if name == "Set-Cookie"] == ["a=1", "b=2"]
    assert json.loads(reply.body) == {"id": 1}


def test_base64_proxy_response_body_is_decoded() -> None:
    body = base64.b64encode(b"\x00\x01").decode()
    reply = reply_from_proxy_response({"statusCode": 200, "body": body, "isBase64Encoded": True})

    assert reply.body == b"\x00\x01"


def test_malformed_proxy_response_is_a_502() -> None:
    assert reply_from_proxy_response({"body": "no status"}).status == 502
    assert reply_from_proxy_response(None).status == 502
