"""Publishing a report: its three outputs in the reports bucket, then its record and its
`report.generated` event in one transaction.

Objects go first, so a record never points at objects that are not there; their keys are fixed
by (tenant, type, period), so a rerun overwrites them and updates the same record (run_count + 1)
with a new event (a new event id: a new generation, which consumers may act on again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from climatrak.core.config import Settings
from climatrak.core.errors import DomainError
from climatrak.core.events import new_event
from climatrak.core.timeutil import utc_now_iso
from climatrak.reports.records import (
    OUTPUTS,
    REPORT_TYPES,
    Generation,
    ReportItem,
    ReportRepository,
    object_key,
    report_id,
    valid_period,
)
from climatrak.reports.render import json_safe, to_csv, to_html, to_json

REPORT_GENERATED = "report.generated"
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def render_outputs(report: Mapping[str, Any]) -> dict[str, bytes]:
    """The three outputs' bytes. The CSV carries a BOM so spreadsheet programs read it as UTF-8."""
    return {
        "json": to_json(report).encode("utf-8"),
        "csv": to_csv(report).encode("utf-8-sig"),
        "html": to_html(report).encode("utf-8"),
    }


def publish_report(
    settings: Settings, s3: Any, tenant: str, report_type: str, period: str, report: Mapping[str, Any]
) -> ReportItem:
    """Write the report's outputs and record them (type `daily`|`monthly`, period
    `YYYY-MM-DD`|`YYYY-MM`). `report["headline"]` becomes the record's headline figures."""
    if report_type not in REPORT_TYPES or not valid_period(report_type, period):
        raise DomainError(f"not a report period: {report_type} {period!r}")
    generated_at = str(report.get("generated_at") or utc_now_iso())
    identifier = report_id(report_type, period)
    # id and period first: the JSON is also a row of the lake's `reports` table
    document = {"id": identifier, **report, "generated_at": generated_at}
    document.setdefault("type", report_type)
    document.setdefault("tenant", tenant)
    document.setdefault("period", period)
    bucket = settings.reports_bucket
    outputs = render_outputs(document)
    keys = {output: object_key(tenant, report_type, period, output) for output in OUTPUTS}
    for output in OUTPUTS:
        s3.put_object(Bucket=bucket, Key=keys[output], Body=outputs[output], ContentType=CONTENT_TYPES[output])
    headline = json_safe(document.get("headline") or {})
    generation = Generation(
        report_type=report_type,
        period=period,
        timezone=str(document["timezone"]) if document.get("timezone") else None,
        generated_at=generated_at,
        headline=headline,
        bucket=bucket,
        keys=keys,
        sizes={output: len(outputs[output]) for output in OUTPUTS},
    )
    event = new_event(
        tenant,
        REPORT_GENERATED,
        "report",
        identifier,
        {"report_id": identifier, "type": report_type, "period": period, "headline": headline},
        occurred_at=generated_at,
    )
    return ReportRepository(tenant, settings).record_generation(generation, event)
