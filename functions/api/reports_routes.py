"""Reports API: the caller's tenant's daily and monthly reports, their download links, and an
on-demand run (owner/admin) of the report state machine for the caller's tenant only.

A report of another tenant is simply not found: every key is built from the caller's tenant.
"""

import json
import uuid
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from botocore.config import Config

from climatrak.core import aws
from climatrak.core.errors import DomainError, NotFound
from climatrak.core.http import cursor_paginate, json_response, principal, requires
from climatrak.core.identity import Permission
from climatrak.reports.models import (
    DOWNLOAD_LINK_SECONDS,
    Report,
    ReportDetail,
    ReportRun,
    ReportRunStarted,
    report_detail,
    report_view,
    run_period,
    valid_date,
)
from climatrak.reports.records import REPORT_TYPES, ReportItem, ReportRepository, parse_report_id

from .dependencies import settings
from .route_support import doc, page, query, tenant_repository

router = APIGatewayRouter()

READ = Permission.REPORTS_READ
RUN = Permission.REPORTS_RUN

_repo = tenant_repository(router, ReportRepository)

NOT_CONFIGURED = "On-demand {kind} reports are not configured here (no state machine)."
_DISPOSITION = {"json": "inline", "csv": "attachment", "html": "inline"}


def _type_filter(raw: str | None) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    if value not in REPORT_TYPES:
        raise DomainError(f"Select a valid choice. {value} is not one of the available choices.", field="type")
    return value


def _date_filter(raw: str | None) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    day = valid_date(value)
    if day is None:
        raise DomainError("Enter a valid date.", field="date")
    return day


@router.get("/reports/", responses=doc(list[Report]))
@requires(router, READ)
def list_reports() -> Response[Any]:
    """Reports newest first (by the period's last day); `type=daily|monthly`; `date=YYYY-MM-DD`
    selects that day's daily report and the monthly report of its month."""
    params = query(router, "type", "date")
    report_type, day = _type_filter(params["type"]), _date_filter(params["date"])
    repo = _repo()
    if day is not None:
        return page(router, [report_view(item) for item in repo.of_date(report_type, day)])

    def fetch(position: str | None, backwards: bool, limit: int) -> list[tuple[str, Report]]:
        return [(key, report_view(item)) for key, item in repo.newest_first(report_type, position, backwards, limit)]

    body = cursor_paginate(router, fetch, lambda: repo.count(report_type), settings().public_base_url)
    return json_response(200, body)


@router.get("/reports/<report_id>/", responses=doc(ReportDetail))
@requires(router, READ)
def get_report(report_id: str) -> Response[Any]:
    """The record, its headline figures and presigned download links (15 minutes)."""
    key = parse_report_id(report_id)
    item = _repo().get(*key) if key else None
    if item is None:
        raise NotFound("Not found.")
    return json_response(200, report_detail(item, _signer(item)))


@cache
def _signing_s3() -> Any:
    """S3 for presigning: SigV4 (X-Amz-Expires; the legacy signature is deprecated). Signing is
    local: no request is made. The endpoint follows AWS_ENDPOINT_URL like every other client."""
    return boto3.session.Session().client("s3", config=Config(signature_version="s3v4"))


def _signer(item: ReportItem) -> Any:
    s3 = _signing_s3()

    def link(output: str, key: str) -> str:
        filename = f"relatorio-{item.report_type}-{item.period}.{output}"
        params = {
            "Bucket": str(item.bucket),
            "Key": key,
            "ResponseContentDisposition": f'{_DISPOSITION[output]}; filename="{filename}"',
        }
        url: str = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=DOWNLOAD_LINK_SECONDS)
        return url

    return link


@router.post("/reports/run/", responses=doc(ReportRunStarted, 202))
@requires(router, RUN)
def run_report(body: ReportRun) -> Response[Any]:
    """Start the daily (`date`) or monthly (`month`) state machine for the caller's tenant."""
    tenant = principal(router).tenant
    field, period = run_period(body)
    config = settings()
    arn = config.daily_report_state_machine_arn if body.type == "daily" else config.monthly_report_state_machine_arn
    if not arn:
        raise DomainError(NOT_CONFIGURED.format(kind=body.type), code="not_configured")
    execution = aws.client("stepfunctions").start_execution(
        stateMachineArn=arn,
        name=f"api-{body.type}-{period}-{uuid.uuid4().hex[:16]}",
        input=json.dumps({"tenant": tenant, field: period}),
    )
    started = ReportRunStarted(
        execution_arn=execution["executionArn"], type=body.type, tenant=tenant, **{field: period}
    )
    return json_response(202, started)
