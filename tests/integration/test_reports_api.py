"""Publishing reports (objects, record, event) and the reports API: listing, detail with download
links, on-demand runs, permissions for every route and role, and tenant isolation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import boto3
import pytest
import requests

from climatrak.core.config import Settings
from climatrak.core.errors import DomainError
from climatrak.core.events import OutboxItem, outbox_pk
from climatrak.core.http import ROUTE_PERMISSIONS, build_resolver, normalise_path
from climatrak.core.identity import PERMISSIONS, Permission, Role
from climatrak.registry.logic import create_tenant
from climatrak.reports.publish import publish_report
from climatrak.reports.records import ReportItem, ReportRepository
from functions.api import reports_routes
from tests.integration.conftest import REGION, ApiClient, ApiResponse, LambdaContextStub

R = "/api/reports"


@dataclass
class ResolverClient(ApiClient):
    """The API client on a resolver holding the reports router (until the API function has it)."""

    app: Any = None

    def request(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        response = self.app.resolve(normalise_path(self.event(method, path, **kwargs)), LambdaContextStub())
        text = response.get("body") or ""
        return ApiResponse(response["statusCode"], json.loads(text) if text else None)


@pytest.fixture
def client(api: ApiClient) -> Iterator[ApiClient]:
    from functions.api import handler

    if reports_routes.router.api_resolver is handler.app:
        yield api
        return
    previous = reports_routes.router.api_resolver
    app = build_resolver(["http://localhost:5173"])
    app.include_router(reports_routes.router)
    yield ResolverClient(app=app)
    reports_routes.router.api_resolver = previous


def report(kind: str, period: str, **headline: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "tenant": "acme",
        "period": period,
        "timezone": "America/Sao_Paulo",
        "headline": {"kwh": "10.000", "alerts_raised": 1, **headline},
        "energy": [{"asset_tag": "CH-001", "kwh_total": "10.000", "cost": "8.00"}],
    }


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def objects(settings: Settings, prefix: str = "reports/") -> dict[str, dict[str, Any]]:
    found = s3().list_objects_v2(Bucket=settings.reports_bucket, Prefix=prefix).get("Contents", [])
    return {obj["Key"]: s3().head_object(Bucket=settings.reports_bucket, Key=obj["Key"]) for obj in found}


def events(tenant: str) -> list[dict[str, Any]]:
    return [
        item.envelope.as_dict()
        for item in OutboxItem.query(outbox_pk(tenant), consistent_read=True)
        if item.event_name == "report.generated"
    ]


@pytest.fixture
def tenants(settings: Settings, clean_aws: None) -> None:
    create_tenant(settings, "acme", "Acme", "America/Sao_Paulo")
    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")


@pytest.fixture
def published(settings: Settings, tenants: None) -> list[str]:
    """acme's reports, published out of order; beta has one daily report of its own."""
    for kind, period in [
        ("daily", "2026-03-10"),
        ("monthly", "2026-02"),
        ("daily", "2026-03-31"),
        ("monthly", "2026-03"),
        ("daily", "2026-03-09"),
    ]:
        publish_report(settings, s3(), "acme", kind, period, report(kind, period))
    publish_report(settings, s3(), "beta", "daily", "2026-03-10", {**report("daily", "2026-03-10"), "tenant": "beta"})
    # newest first: a month sorts with its last day, ahead of that day's daily report
    return ["monthly-2026-03", "daily-2026-03-31", "daily-2026-03-10", "daily-2026-03-09", "monthly-2026-02"]


# ---- publishing -----------------------------------------------------------------------------------


def test_publishing_writes_three_objects_a_record_and_an_event(settings: Settings, tenants: None) -> None:
    record = publish_report(settings, s3(), "acme", "daily", "2026-03-10", report("daily", "2026-03-10"))

    prefix = "reports/tenant=acme/type=daily/period=2026-03-10/"
    stored = objects(settings)
    assert sorted(stored) == [f"{prefix}report.csv", f"{prefix}report.html", f"{prefix}report.json"]
    assert stored[f"{prefix}report.html"]["ContentType"] == "text/html; charset=utf-8"
    assert stored[f"{prefix}report.csv"]["ContentType"] == "text/csv; charset=utf-8"
    body = s3().get_object(Bucket=settings.reports_bucket, Key=f"{prefix}report.json")["Body"].read()
    document = json.loads(body)
    assert (document["id"], document["type"], document["period"]) == ("daily-2026-03-10", "daily", "2026-03-10")
    assert document["headline"] == {"kwh": "10.000", "alerts_raised": 1}

    assert (record.id, record.report_type, record.period, record.status) == (
        "daily-2026-03-10",
        "daily",
        "2026-03-10",
        "completed",
    )
    assert (record.pk, record.sk) == ("T#acme", "REPORT#daily#2026-03-10")
    assert record.run_count == 1 and record.headline.as_dict() == {"kwh": "10.000", "alerts_raised": 1}
    assert (
        record.html_key == f"{prefix}report.html"
        and record.html_size == stored[f"{prefix}report.html"]["ContentLength"]
    )

    (event,) = events("acme")
    assert event["aggregate"] == {"type": "report", "id": "daily-2026-03-10"}
    assert event["data"] == {
        "report_id": "daily-2026-03-10",
        "type": "daily",
        "period": "2026-03-10",
        "headline": {"kwh": "10.000", "alerts_raised": 1},
    }
    assert event["occurred_at"] == record.generated_at


def test_a_rerun_overwrites_the_objects_and_records_a_new_generation(settings: Settings, tenants: None) -> None:
    first = publish_report(
        settings,
        s3(),
        "acme",
        "monthly",
        "2026-03",
        {**report("monthly", "2026-03"), "generated_at": "2026-04-01T07:00:00.000Z"},
    )
    again = {**report("monthly", "2026-03", kwh="12.000"), "generated_at": "2026-04-02T07:00:00.000Z"}
    second = publish_report(settings, s3(), "acme", "monthly", "2026-03", again)

    assert len(objects(settings)) == 3  # the same three keys, overwritten
    assert second.run_count == 2 and second.id == first.id
    assert second.created_at == first.created_at == "2026-04-01T07:00:00.000Z"
    assert second.generated_at == "2026-04-02T07:00:00.000Z"
    assert second.headline.as_dict()["kwh"] == "12.000"
    assert len(list(ReportItem.query("T#acme", ReportItem.sk.startswith("REPORT#")))) == 1
    generations = events("acme")
    assert [e["data"]["headline"]["kwh"] for e in generations] == ["10.000", "12.000"]
    assert len({e["event_id"] for e in generations}) == 2


def test_publishing_refuses_what_is_not_a_report_period(settings: Settings, tenants: None) -> None:
    for kind, period in [
        ("daily", "2026-03"),
        ("monthly", "2026-03-01"),
        ("weekly", "2026-03-01"),
        ("daily", "2026-02-30"),
    ]:
        with pytest.raises(DomainError):
            publish_report(settings, s3(), "acme", kind, period, report("daily", period))
    assert objects(settings) == {}


# ---- listing --------------------------------------------------------------------------------------


def _ids(response: ApiResponse) -> list[str]:
    assert response.status == 200, response
    return [row["id"] for row in response.json["results"]]


def test_reports_are_listed_newest_first_with_their_headline(client: ApiClient, published: list[str]) -> None:
    status, body = client.get(f"{R}/")
    assert status == 200 and body["count"] == 5 and body["next"] is None
    assert [row["id"] for row in body["results"]] == published
    first = body["results"][0]
    assert first["type"] == "monthly" and first["type_display"] == "Mensal"
    assert (first["period_start"], first["period_end"]) == ("2026-03-01", "2026-03-31")
    assert first["headline"] == {"kwh": "10.000", "alerts_raised": 1}
    assert first["status"] == "completed" and first["run_count"] == 1


def test_filters_by_type_and_by_date(client: ApiClient, published: list[str]) -> None:
    assert _ids(client.get(f"{R}/", query={"type": "monthly"})) == ["monthly-2026-03", "monthly-2026-02"]
    assert _ids(client.get(f"{R}/", query={"type": "daily"})) == [i for i in published if i.startswith("daily")]
    # a date selects its daily report and the monthly report of its month
    assert _ids(client.get(f"{R}/", query={"date": "2026-03-10"})) == ["monthly-2026-03", "daily-2026-03-10"]
    assert _ids(client.get(f"{R}/", query={"date": "2026-02-14"})) == ["monthly-2026-02"]
    assert _ids(client.get(f"{R}/", query={"type": "daily", "date": "2026-03-09"})) == ["daily-2026-03-09"]
    assert _ids(client.get(f"{R}/", query={"date": "2025-01-01"})) == []


def test_bad_filters_are_field_errors(client: ApiClient, published: list[str]) -> None:
    status, body = client.get(f"{R}/", query={"type": "weekly"})
    assert status == 400 and "type" in body
    status, body = client.get(f"{R}/", query={"date": "2026-02-30"})
    assert status == 400 and body == {"date": ["Enter a valid date."]}


def _follow(client: ApiClient, url: str | None) -> tuple[list[str], str | None, str | None]:
    assert url is not None
    parsed = urlparse(url)
    query = {name: values[-1] for name, values in parse_qs(parsed.query).items()}
    status, body = client.get(parsed.path, query=query)
    assert status == 200, body
    return [row["id"] for row in body["results"]], body["next"], body["previous"]


def test_pages_walk_forward_and_back(client: ApiClient, published: list[str]) -> None:
    status, body = client.get(f"{R}/", query={"page_size": "2"})
    assert status == 200 and body["count"] == 5 and body["previous"] is None
    seen = [row["id"] for row in body["results"]]
    ids, next_url, previous_url = _follow(client, body["next"])
    seen += ids
    ids, last_next, _ = _follow(client, next_url)
    seen += ids
    assert seen == published and last_next is None
    back, _, _ = _follow(client, previous_url)
    assert back == published[:2]
    # the frontend's page numbers work too
    assert _ids(client.get(f"{R}/", query={"page_size": "2", "page": "3"})) == published[4:]
    monthly = client.get(f"{R}/", query={"type": "monthly", "page_size": "1"})
    assert monthly.json["count"] == 2 and _ids(monthly) == ["monthly-2026-03"]
    assert _follow(client, monthly.json["next"])[0] == ["monthly-2026-02"]


# ---- detail ---------------------------------------------------------------------------------------


def test_a_report_with_its_download_links(client: ApiClient, settings: Settings, published: list[str]) -> None:
    status, body = client.get(f"{R}/daily-2026-03-10/")
    assert status == 200, body
    assert body["id"] == "daily-2026-03-10" and body["name"] == "Relatório diário 2026-03-10"
    assert body["headline"] == {"kwh": "10.000", "alerts_raised": 1}
    assert body["expires_in"] == 900 and set(body["downloads"]) == {"json", "csv", "html"}
    assert all(size > 0 for size in body["sizes"].values())
    for output, url in body["downloads"].items():
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        assert settings.reports_bucket in parsed.netloc + parsed.path
        assert unquote(parsed.path).endswith(f"reports/tenant=acme/type=daily/period=2026-03-10/report.{output}")
        assert query["X-Amz-Expires"] == ["900"]
        assert f'filename="relatorio-daily-2026-03-10.{output}"' in query["response-content-disposition"][0]
    # the links serve the objects (moto answers the signed GETs)
    page = requests.get(body["downloads"]["html"], timeout=10)
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Disposition"].startswith("inline;")
    sheet = requests.get(body["downloads"]["csv"], timeout=10)
    assert sheet.headers["Content-Disposition"].startswith("attachment;")
    assert sheet.content.startswith(b"\xef\xbb\xbf# report")  # UTF-8 BOM for spreadsheet programs
    assert json.loads(requests.get(body["downloads"]["json"], timeout=10).content)["id"] == "daily-2026-03-10"


def test_another_tenants_report_and_unknown_ids_are_not_found(client: ApiClient, published: list[str]) -> None:
    for report_id in [
        "monthly-2026-03",
        "daily-2026-03-31",
        "daily-2026-02-30",
        "weekly-2026-03",
        "x",
        "daily-2026-3-1",
    ]:
        status, body = client.get(f"{R}/{report_id}/", tenant="beta")
        assert status == 404 and body["detail"] == "Not found.", report_id
    # beta's own report of the same day is its own
    status, body = client.get(f"{R}/daily-2026-03-10/", tenant="beta")
    assert status == 200 and "tenant=beta" in unquote(body["downloads"]["json"])
    assert _ids(client.get(f"{R}/", tenant="beta")) == ["daily-2026-03-10"]


# ---- on-demand runs -------------------------------------------------------------------------------


@pytest.fixture
def machines(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A daily and a monthly state machine (moto records executions without running them)."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    arns = {}
    for kind in ("daily", "monthly"):
        name = f"test-{kind}-report"
        existing = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == name]
        arns[kind] = (
            existing[0]
            if existing
            else sfn.create_state_machine(
                name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/test-reports"
            )["stateMachineArn"]
        )
    configured = settings.model_copy(
        update={"daily_report_state_machine_arn": arns["daily"], "monthly_report_state_machine_arn": arns["monthly"]}
    )
    monkeypatch.setattr(reports_routes, "settings", lambda: configured)
    return arns


def _execution_input(arn: str) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    described: dict[str, Any] = json.loads(sfn.describe_execution(executionArn=arn)["input"])
    return described


def test_a_run_starts_the_state_machine_for_the_callers_tenant_only(
    client: ApiClient, tenants: None, machines: dict[str, str]
) -> None:
    status, body = client.post(f"{R}/run/", {"type": "daily", "date": "2026-03-10", "tenant": "beta"})
    assert status == 202, body
    assert body["execution_arn"].startswith(machines["daily"].replace(":stateMachine:", ":execution:"))
    assert _execution_input(body["execution_arn"]) == {"tenant": "acme", "date": "2026-03-10"}

    status, body = client.post(f"{R}/run/", {"type": "monthly", "month": "2026-02"}, tenant="beta", role="admin")
    assert status == 202 and body["month"] == "2026-02"
    assert _execution_input(body["execution_arn"]) == {"tenant": "beta", "month": "2026-02"}
    # a date names its month
    status, body = client.post(f"{R}/run/", {"type": "monthly", "date": "2026-03-17"})
    assert status == 202 and _execution_input(body["execution_arn"]) == {"tenant": "acme", "month": "2026-03"}


def test_a_run_needs_a_valid_period(client: ApiClient, tenants: None, machines: dict[str, str]) -> None:
    assert client.post(f"{R}/run/", {"type": "daily"}) == (400, {"date": ["Enter a valid date (YYYY-MM-DD)."]})
    assert client.post(f"{R}/run/", {"type": "daily", "date": "2026-13-01"}).status == 400
    assert client.post(f"{R}/run/", {"type": "monthly", "month": "2026-3"}) == (
        400,
        {"month": ["Enter a valid month (YYYY-MM)."]},
    )
    status, body = client.post(f"{R}/run/", {"type": "weekly", "date": "2026-03-10"})
    assert status == 400 and "type" in body


def test_a_run_without_a_state_machine_is_refused(client: ApiClient, tenants: None, settings: Settings) -> None:
    assert settings.daily_report_state_machine_arn == ""
    status, body = client.post(f"{R}/run/", {"type": "daily", "date": "2026-03-10"})
    assert status == 400 and body["code"] == "not_configured"


# ---- permissions ----------------------------------------------------------------------------------

ROUTES: list[tuple[str, str, str, dict[str, Any] | None, dict[str, str] | None]] = [
    ("list_reports", "GET", f"{R}/", None, None),
    ("list_reports", "GET", f"{R}/", None, {"type": "daily", "date": "2026-03-10"}),
    ("get_report", "GET", f"{R}/daily-2026-03-10/", None, None),
    ("run_report", "POST", f"{R}/run/", {"type": "daily", "date": "2026-03-10"}, None),
]


def _permission_of(route_name: str) -> Permission:
    for func in reports_routes.router._routes.values():
        if func.__name__ == route_name:
            return ROUTE_PERMISSIONS[func.__qualname__]
    raise AssertionError(f"no route {route_name}")


def test_the_walk_covers_every_reports_route() -> None:
    declared = {func.__name__ for func in reports_routes.router._routes.values()}
    assert declared == {name for name, *_ in ROUTES}


def test_the_permission_table_for_reports() -> None:
    assert PERMISSIONS[Permission.REPORTS_READ] == {Role.OWNER, Role.ADMIN, Role.OPERATOR, Role.VIEWER}
    assert PERMISSIONS[Permission.REPORTS_RUN] == {Role.OWNER, Role.ADMIN}
    assert _permission_of("list_reports") == _permission_of("get_report") == Permission.REPORTS_READ
    assert _permission_of("run_report") == Permission.REPORTS_RUN


@pytest.mark.parametrize("role", list(Role))
def test_every_route_with_every_role(
    client: ApiClient, published: list[str], machines: dict[str, str], role: Role
) -> None:
    for name, method, path, body, query in ROUTES:
        status, response = client.request(method, path, role=role.value, body=body, query=query)
        if role in PERMISSIONS[_permission_of(name)]:
            assert status in (200, 202), (name, role, status, response)
        else:
            assert status == 403, (name, role, status)
            assert response["detail"] == "You do not have permission to perform this action."


def test_the_repository_builds_every_key_from_its_tenant(settings: Settings, published: list[str]) -> None:
    beta = ReportRepository("beta", settings)
    assert [item.id for _, item in beta.newest_first(None, None, False, None)] == ["daily-2026-03-10"]
    assert beta.get("monthly", "2026-03") is None and beta.count(None) == 1
