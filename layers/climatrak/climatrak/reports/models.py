"""API models of the reports (`/api/reports/...`): request bodies and response shapes, and the
views that turn report records into them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel

from climatrak.core.errors import DomainError
from climatrak.reports.records import DAILY, OUTPUTS, ReportItem, last_day

TYPE_DISPLAY = {"daily": "Diário", "monthly": "Mensal"}
STATUS_DISPLAY = {"processing": "Processando", "completed": "Concluído", "failed": "Falhou"}
# how long a download link works
DOWNLOAD_LINK_SECONDS = 15 * 60
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Report(BaseModel):
    """A report record, as the list shows it."""

    id: str
    name: str
    type: Literal["daily", "monthly"]
    type_display: str
    period: str
    period_start: str
    period_end: str
    status: str
    status_display: str
    generated_at: str
    run_count: int
    headline: dict[str, Any]


class ReportDetail(Report):
    """A report with its download links (presigned, valid for `expires_in` seconds)."""

    downloads: dict[str, str]
    sizes: dict[str, int]
    expires_in: int


class ReportRun(BaseModel):
    """`POST /api/reports/run/`: a daily report for `date` or a monthly one for `month`
    (a `date` names its month)."""

    type: Literal["daily", "monthly"]
    date: str | None = None
    month: str | None = None


class ReportRunStarted(BaseModel):
    execution_arn: str
    type: str
    tenant: str
    date: str | None = None
    month: str | None = None


def report_view(item: ReportItem) -> Report:
    report_type, period = str(item.report_type), str(item.period)
    kind = "Relatório diário" if report_type == DAILY else "Relatório mensal"
    return Report(
        id=str(item.id),
        name=f"{kind} {period}",
        type=report_type,  # type: ignore[arg-type]  # stored values are the two types
        type_display=TYPE_DISPLAY.get(report_type, report_type),
        period=period,
        period_start=period if report_type == DAILY else f"{period}-01",
        period_end=last_day(report_type, period),
        status=str(item.status),
        status_display=STATUS_DISPLAY.get(str(item.status), str(item.status)),
        generated_at=str(item.generated_at),
        run_count=int(item.run_count or 0),
        headline=_plain(item.headline),
    )


def report_detail(item: ReportItem, link: Callable[[str, str], str]) -> ReportDetail:
    """The record with a download link per output; `link(output, key)` signs one."""
    return ReportDetail(
        **report_view(item).model_dump(),
        downloads={output: link(output, item.key_of(output)) for output in OUTPUTS},
        sizes={output: item.size_of(output) for output in OUTPUTS},
        expires_in=DOWNLOAD_LINK_SECONDS,
    )


def _plain(value: Any) -> Any:
    """A MapAttribute read back (or a dict) as plain JSON values."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def run_period(run: ReportRun) -> tuple[str, str]:
    """`("date", YYYY-MM-DD)` of a daily run or `("month", YYYY-MM)` of a monthly one; field
    errors (400) for a missing or invalid date or month."""
    if run.type == DAILY:
        day = valid_date((run.date or "").strip())
        if day is None:
            raise DomainError("Enter a valid date (YYYY-MM-DD).", field="date")
        return "date", day
    month_text = (run.month or "").strip()
    if month_text:  # YYYY-MM, or any day of the month
        day = valid_date(month_text if len(month_text) == 10 else f"{month_text}-01")
    else:  # a date names its month
        day = valid_date((run.date or "").strip())
    if day is None:
        raise DomainError("Enter a valid month (YYYY-MM).", field="month")
    return "month", day[:7]


def valid_date(text: str) -> str | None:
    """`YYYY-MM-DD` if `text` is that date, else None."""
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None
