"""The steps the report state machines run (one Lambda, dispatched by `task`).

- `list_tenants`: the tenants to report on and their period. A sweep (the schedules' input
  `{"due_at": instant}`) lists the tenants whose local report time (03:00; the 1st 04:00) falls
  in the sweep window ending at `due_at`; an on-demand run lists one tenant, or every tenant
  (of a time zone), for the period asked, else yesterday / last month in each tenant's zone;
- `daily` / `monthly`: one tenant's report;
- `summarize`: the per-tenant outcomes; the state machine fails the execution when any failed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from climatrak.core.config import DEFAULT_TIMEZONE, Settings
from climatrak.core.errors import DomainError
from climatrak.core.resources import REPORT_SCHEDULES, ReportScheduleSpec
from climatrak.core.timeutil import parse_iso, zone
from climatrak.registry.logic import list_tenants
from climatrak.reports.daily import run_daily
from climatrak.reports.monthly import run_monthly


def run_task(settings: Settings, s3: Any, event: dict[str, Any]) -> dict[str, Any]:
    task = event.get("task")
    if task == "list_tenants":
        return tenants_to_report(settings, event)
    if task == "daily":
        return run_daily(settings, s3, str(event["tenant"]), _date(str(event["date"])))
    if task == "monthly":
        return run_monthly(settings, s3, str(event["tenant"]), _month(str(event["month"])))
    if task == "summarize":
        return summarize(event.get("results") or [])
    raise DomainError(f"unknown report task {task!r}")


# The sweep of each report kind ("daily", "monthly").
SWEEPS: dict[str, ReportScheduleSpec] = {spec.state_machine.kind: spec for spec in REPORT_SCHEDULES}


def tenants_to_report(settings: Settings, event: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """`{"tenants": [{"tenant", "date"|"month"}]}`. With `due_at` (a sweep): the tenants whose
    report is due in the sweep ending then, each with its own period. Otherwise (on demand): the
    tenant asked for, or every tenant of the zone (all tenants when none is given); the period
    asked for, else the last complete one in each tenant's own zone. `tenant` and `timezone`
    narrow a sweep too."""
    monthly = "month" in event or event.get("kind") == "monthly"
    timezone = event.get("timezone")
    wanted = event.get("tenant")
    due_at = _instant(event["due_at"]) if "due_at" in event else None
    if due_at is not None and (event.get("date") or event.get("month")):
        raise DomainError("a sweep (due_at) chooses each tenant's period; give no date or month with it")
    tenants = [t for t in list_tenants(settings, timezone) if not wanted or t.slug == wanted]
    if wanted and not tenants:
        raise DomainError(f"tenant {wanted!r} does not exist")
    field = "month" if monthly else "date"
    sweep = SWEEPS["monthly" if monthly else "daily"]
    due_by_zone: dict[str, str | None] = {}
    rows: list[dict[str, Any]] = []
    for tenant in sorted(tenants, key=lambda t: str(t.slug)):
        tenant_zone = str(tenant.timezone or DEFAULT_TIMEZONE)
        if due_at is not None:
            if tenant_zone not in due_by_zone:
                due_by_zone[tenant_zone] = due_period(sweep, due_at, tenant_zone)
            period = due_by_zone[tenant_zone]
            if period is not None:
                rows.append({"tenant": str(tenant.slug), field: period})
            continue
        today = (now or datetime.now(zone(None))).astimezone(zone(tenant_zone)).date()
        if monthly:
            period = _month(event["month"]) if event.get("month") else _previous_month(today)
        else:
            period = _date(event["date"]) if event.get("date") else (today - timedelta(days=1)).isoformat()
        rows.append({"tenant": str(tenant.slug), field: period})
    return {"tenants": rows}


def due_period(sweep: ReportScheduleSpec, due_at: datetime, timezone: str | None) -> str | None:
    """The period a tenant in `timezone` reports on in the sweep ending at `due_at` (an aware
    instant), or None when its report time is not in that sweep's window. The window is
    compared in local wall-clock time: after = (due_at - sweep) there, until = due_at there;
    the period is the day before `until`'s date (daily) or the month before its month."""
    local = zone(timezone)
    after = (due_at - sweep.sweep).astimezone(local).replace(tzinfo=None)
    until = due_at.astimezone(local).replace(tzinfo=None)
    if sweep.report_time_between(after, until) is None:
        return None
    if sweep.day_of_month is None:
        return (until.date() - timedelta(days=1)).isoformat()
    return _previous_month(until.date())


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    failed = sorted(str(r.get("tenant")) for r in results if r.get("status") != "completed")
    return {"completed": len(results) - len(failed), "failed": failed}


def _date(raw: str) -> str:
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise DomainError(f"not a date (YYYY-MM-DD): {raw!r}") from None


def _instant(raw: object) -> datetime:
    """An ISO 8601 instant (a date and a time; no offset means UTC, as everywhere in storage)."""
    if not isinstance(raw, str) or len(raw.strip()) <= len("YYYY-MM-DD"):
        raise DomainError(f"due_at is not an ISO 8601 instant: {raw!r}")
    try:
        return parse_iso(raw)
    except ValueError:
        raise DomainError(f"due_at is not an ISO 8601 instant: {raw!r}") from None


def _month(raw: str) -> str:
    try:
        return date.fromisoformat(f"{raw[:7]}-01").isoformat()[:7]
    except ValueError:
        raise DomainError(f"not a month (YYYY-MM): {raw!r}") from None


def _previous_month(today: date) -> str:
    return (today.replace(day=1) - timedelta(days=1)).isoformat()[:7]
