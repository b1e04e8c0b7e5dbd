"""The steps the report state machines run (one Lambda, dispatched by `task`).

- `list_tenants`: the tenants to report on (one, or every tenant of a time zone) and the period,
  which defaults to yesterday / last month in the zone;
- `daily` / `monthly`: one tenant's report;
- `summarize`: the per-tenant outcomes; the state machine fails the execution when any failed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from climatrak.core.config import DEFAULT_TIMEZONE, Settings
from climatrak.core.errors import DomainError
from climatrak.core.timeutil import zone
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


def tenants_to_report(settings: Settings, event: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """`{"tenants": [{"tenant", "date"|"month"}]}`: the tenant asked for, or every tenant of the
    zone (all tenants when none is given); the period asked for, else the last complete one in
    each tenant's own zone."""
    timezone = event.get("timezone")
    wanted = event.get("tenant")
    tenants = [t for t in list_tenants(settings, timezone) if not wanted or t.slug == wanted]
    if wanted and not tenants:
        raise DomainError(f"tenant {wanted!r} does not exist")
    rows: list[dict[str, Any]] = []
    for tenant in sorted(tenants, key=lambda t: str(t.slug)):
        today = (now or datetime.now(zone(None))).astimezone(zone(str(tenant.timezone or DEFAULT_TIMEZONE))).date()
        row: dict[str, Any] = {"tenant": str(tenant.slug)}
        if "month" in event or event.get("kind") == "monthly":
            row["month"] = _month(event["month"]) if event.get("month") else _previous_month(today)
        else:
            row["date"] = _date(event["date"]) if event.get("date") else (today - timedelta(days=1)).isoformat()
        rows.append(row)
    return {"tenants": rows}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    failed = sorted(str(r.get("tenant")) for r in results if r.get("status") != "completed")
    return {"completed": len(results) - len(failed), "failed": failed}


def _date(raw: str) -> str:
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise DomainError(f"not a date (YYYY-MM-DD): {raw!r}") from None


def _month(raw: str) -> str:
    try:
        return date.fromisoformat(f"{raw[:7]}-01").isoformat()[:7]
    except ValueError:
        raise DomainError(f"not a month (YYYY-MM): {raw!r}") from None


def _previous_month(today: date) -> str:
    return (today.replace(day=1) - timedelta(days=1)).isoformat()[:7]
