"""The operations of one tenant over a business day or month, from the Main table: work orders
(opened, completed, overdue, MTTR, preventive compliance), alerts (raised and resolved by
severity, hours in alert per asset) and ledger postings by category.

Periods are the tenant's business days and months (local midnight to local midnight, so a day is
not always 24 h where DST applies); stored instants are UTC. The figures are what was known at
the period's end, so a rerun for an old day gives the same numbers whatever happened since, with
one exception: a work order deleted since is gone.

Reads stay inside the tenant's partitions: its work orders (one query), the alerts of each
status index triggered before the period's end (the resolved ones only back to
`ALERT_LOOKBACK` before its start), its registry assets and the period's ledger month(s)
between the period's instants. The computations are plain functions over items, testable
without AWS.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from climatrak.alerts.items import ACKNOWLEDGED, ACTIVE, RESOLVED, SEVERITIES, AlertItem
from climatrak.alerts.repository import AlertRepository
from climatrak.cmms.items import WorkOrderItem
from climatrak.cmms.repository import CmmsRepository
from climatrak.core.config import DEFAULT_TIMEZONE, Settings
from climatrak.core.money import ZERO, money
from climatrak.core.timeutil import iso_ms, parse_iso, to_ms, zone
from climatrak.ledger.items import TransactionItem
from climatrak.ledger.models import CATEGORY_LABELS
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.registry.items import AssetItem
from climatrak.registry.repository import RegistryRepository

DAILY = "daily"
MONTHLY = "monthly"
# A resolved alert that began this long before the period is not looked for (the status index
# is ordered by triggered_at, not by resolution): bounds what a rerun reads as history grows.
ALERT_LOOKBACK = timedelta(days=92)
HOUR_MS = 3_600_000
HOURS = Decimal("0.01")
PERCENT = Decimal("0.1")
QUERY_PAGE = 500

COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"
PREVENTIVE = "PREVENTIVE"


# ---- periods -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A business day or month of a tenant: [start_ms, end_ms) in UTC epoch milliseconds."""

    kind: str
    label: str  # YYYY-MM-DD or YYYY-MM
    first_day: date
    last_day: date
    timezone: str

    @property
    def start_ms(self) -> int:
        return _local_midnight_ms(self.first_day, self.timezone)

    @property
    def end_ms(self) -> int:
        return _local_midnight_ms(self.last_day + timedelta(days=1), self.timezone)

    @property
    def start_iso(self) -> str:
        return iso_ms(self.start_ms)

    @property
    def end_iso(self) -> str:
        return iso_ms(self.end_ms)

    def contains(self, moment_ms: int | None) -> bool:
        return moment_ms is not None and self.start_ms <= moment_ms < self.end_ms

    def months(self) -> list[str]:
        """The business months (`YYYY-MM`) the period touches."""
        found: list[str] = []
        day = self.first_day.replace(day=1)
        while day <= self.last_day:
            found.append(day.isoformat()[:7])
            day = (day + timedelta(days=32)).replace(day=1)
        return found


def _local_midnight_ms(day: date, timezone: str) -> int:
    return to_ms(datetime.combine(day, time(0), zone(timezone)))


def day_period(day: str | date, timezone: str | None = None) -> Period:
    """The business day `YYYY-MM-DD` in `timezone` (default America/Sao_Paulo)."""
    value = day if isinstance(day, date) else date.fromisoformat(day)
    return Period(DAILY, value.isoformat(), value, value, timezone or DEFAULT_TIMEZONE)


def month_period(month: str, timezone: str | None = None) -> Period:
    """The business month `YYYY-MM` (a `YYYY-MM-DD` names its month) in `timezone`."""
    first = date.fromisoformat(f"{month[:7]}-01")
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return Period(MONTHLY, first.isoformat()[:7], first, last, timezone or DEFAULT_TIMEZONE)


# ---- figures ----------------------------------------------------------------------------------


@dataclass
class WorkOrderFigures:
    opened: int = 0
    opened_by_type: dict[str, int] = field(default_factory=dict)
    completed: int = 0
    completed_by_type: dict[str, int] = field(default_factory=dict)
    cancelled: int = 0
    # open (not completed or cancelled) at the period's end
    open_at_end: int = 0
    # open at the period's end with scheduled_date before its last day
    overdue: int = 0
    # mean hours from started_at (else created_at) to completed_at of the period's completions
    mttr_hours: Decimal | None = None
    # preventive orders scheduled from the first of the month to the period's last day
    # (cancelled ones left out), and how many of them were completed by the period's end
    preventive_scheduled: int = 0
    preventive_completed: int = 0
    preventive_compliance_percent: Decimal | None = None


@dataclass
class AssetAlertHours:
    asset_id: int | None
    asset_tag: str
    asset_name: str
    # the union of the asset's alert intervals clipped to the period (overlaps count once)
    hours: Decimal
    alerts: int


@dataclass
class AlertFigures:
    raised: int = 0
    raised_by_severity: dict[str, int] = field(default_factory=dict)
    resolved: int = 0
    resolved_by_severity: dict[str, int] = field(default_factory=dict)
    # raised before the period's end and not resolved by then
    open_at_end: int = 0
    hours_in_alert: list[AssetAlertHours] = field(default_factory=list)
    hours_in_alert_total: Decimal = Decimal("0.00")


@dataclass
class CategoryPostings:
    category: str
    label: str
    currency: str
    count: int
    amount: Decimal


@dataclass
class LedgerFigures:
    count: int = 0
    amount: Decimal = ZERO
    by_category: list[CategoryPostings] = field(default_factory=list)


@dataclass
class OperationsFigures:
    tenant: str
    kind: str
    period: str
    timezone: str
    start: str
    end: str
    work_orders: WorkOrderFigures
    alerts: AlertFigures
    ledger: LedgerFigures


def as_dict(figures: OperationsFigures) -> dict[str, Any]:
    """Plain nested dicts and lists; money and hours stay Decimal (the renderer makes them JSON)."""
    return dataclasses.asdict(figures)


def headline(figures: OperationsFigures) -> dict[str, Any]:
    """The operations part of a report's headline, JSON-safe (Decimals as strings)."""
    wo, alerts, ledger = figures.work_orders, figures.alerts, figures.ledger
    return {
        "work_orders_opened": wo.opened,
        "work_orders_completed": wo.completed,
        "work_orders_overdue": wo.overdue,
        "mttr_hours": _text(wo.mttr_hours),
        "preventive_compliance_percent": _text(wo.preventive_compliance_percent),
        "alerts_raised": alerts.raised,
        "alerts_resolved": alerts.resolved,
        "hours_in_alert": str(alerts.hours_in_alert_total),
        "ledger_postings": ledger.count,
        "ledger_amount": str(ledger.amount),
    }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# ---- entry points -------------------------------------------------------------------------------


def daily_operations(
    settings: Settings, tenant: str, day: str | date, timezone: str | None = None
) -> OperationsFigures:
    """The operations of business day `day` (tenant's time zone unless `timezone` is given)."""
    source = OperationsSource(tenant, settings)
    return period_operations(source, day_period(day, timezone or source.timezone()))


def monthly_operations(settings: Settings, tenant: str, month: str, timezone: str | None = None) -> OperationsFigures:
    """The operations of business month `month` (`YYYY-MM`)."""
    source = OperationsSource(tenant, settings)
    return period_operations(source, month_period(month, timezone or source.timezone()))


def period_operations(source: OperationsSource, period: Period) -> OperationsFigures:
    assets = {int(asset.id): asset for asset in source.assets()}
    return OperationsFigures(
        tenant=source.tenant,
        kind=period.kind,
        period=period.label,
        timezone=period.timezone,
        start=period.start_iso,
        end=period.end_iso,
        work_orders=work_order_figures(source.work_orders(), period),
        alerts=alert_figures(source.alerts_before_end(period), period, assets),
        ledger=ledger_figures(source.postings(period)),
    )


class OperationsSource:
    """The reads behind the figures, all within the tenant's partitions."""

    def __init__(self, tenant: str, settings: Settings) -> None:
        self.tenant = tenant
        self.settings = settings
        self.registry = RegistryRepository(tenant, settings)

    def timezone(self) -> str:
        tenant = self.registry.get_tenant()
        return str(tenant.timezone) if tenant is not None and tenant.timezone else DEFAULT_TIMEZONE

    def assets(self) -> list[AssetItem]:
        return self.registry.list_assets()

    def work_orders(self) -> list[WorkOrderItem]:
        # no index by date: a tenant's work orders are one partition query
        return CmmsRepository(self.tenant, self.settings).list_work_orders()

    def alerts_before_end(self, period: Period) -> Iterator[AlertItem]:
        """Every alert that can overlap the period: unresolved ones triggered before its end,
        resolved ones triggered between `ALERT_LOOKBACK` before its start and its end."""
        repo = AlertRepository(self.tenant, self.settings)
        floor = iso_ms(period.start_ms - int(ALERT_LOOKBACK.total_seconds() * 1000))
        for status in (ACTIVE, ACKNOWLEDGED, RESOLVED):
            for _, alert in repo.alerts(status, after=period.end_iso, oldest_first=False):
                if status == RESOLVED and str(alert.triggered_at) < floor:
                    break  # newest first: the rest are older still
                yield alert

    def postings(self, period: Period) -> Iterator[TransactionItem]:
        """The postings whose occurred_at falls in the period (sk `{occurred_at}#{id}`; the
        period's end instant itself is below every sk that starts with it)."""
        repo = PostingRepository(self.tenant, self.settings)
        for month in period.months():
            yield from repo.query_month(month, period.start_iso, period.end_iso, False, QUERY_PAGE)


# ---- computations -------------------------------------------------------------------------------


def _ms(moment: str | None) -> int | None:
    if not moment:
        return None
    try:
        return to_ms(parse_iso(str(moment)))
    except ValueError:
        return None


def _closed_ms(order: WorkOrderItem) -> int | None:
    """When the order stopped being open: completed_at, or (cancelled) its last update."""
    if order.status == COMPLETED:
        return _ms(order.completed_at)
    if order.status == CANCELLED:
        return _ms(order.updated_at)
    return None


def _hours(total_ms: int, count: int = 1) -> Decimal:
    return (Decimal(total_ms) / Decimal(HOUR_MS * count)).quantize(HOURS, rounding=ROUND_HALF_UP)


def work_order_figures(orders: Iterable[WorkOrderItem], period: Period) -> WorkOrderFigures:
    figures = WorkOrderFigures()
    opened: Counter[str] = Counter()
    completed: Counter[str] = Counter()
    repair_ms: list[int] = []
    last_day = period.last_day.isoformat()
    month_first = period.last_day.replace(day=1).isoformat()
    for order in orders:
        created = _ms(order.created_at)
        if created is None or created >= period.end_ms:
            continue  # did not exist yet at the period's end
        closed = _closed_ms(order)
        closed_before_end = closed is not None and closed < period.end_ms
        kind = str(order.wo_type or "")
        if period.contains(created):
            opened[kind] += 1
        if order.status == COMPLETED and period.contains(closed):
            completed[kind] += 1
            begun = _ms(order.started_at) or created
            repair_ms.append(max(0, (closed or begun) - begun))
        if order.status == CANCELLED and period.contains(closed):
            figures.cancelled += 1
        scheduled = str(order.scheduled_date or "")
        if not closed_before_end:
            figures.open_at_end += 1
            if scheduled and scheduled < last_day:
                figures.overdue += 1
        due = kind == PREVENTIVE and bool(scheduled) and month_first <= scheduled <= last_day
        if due and not (order.status == CANCELLED and closed_before_end):  # a cancelled one is no longer due
            figures.preventive_scheduled += 1
            if order.status == COMPLETED and closed_before_end:
                figures.preventive_completed += 1
    figures.opened, figures.opened_by_type = sum(opened.values()), dict(sorted(opened.items()))
    figures.completed, figures.completed_by_type = sum(completed.values()), dict(sorted(completed.items()))
    if repair_ms:
        figures.mttr_hours = _hours(sum(repair_ms), len(repair_ms))
    if figures.preventive_scheduled:
        ratio = Decimal(100 * figures.preventive_completed) / Decimal(figures.preventive_scheduled)
        figures.preventive_compliance_percent = ratio.quantize(PERCENT, rounding=ROUND_HALF_UP)
    return figures


def _by_severity(counter: Counter[str]) -> dict[str, int]:
    """Every known severity (zeros included, most severe first), then any other value seen."""
    known = {severity: counter.get(severity, 0) for severity in SEVERITIES}
    return {**known, **{name: count for name, count in sorted(counter.items()) if name not in known}}


def union_ms(intervals: Iterable[tuple[int, int]], start_ms: int, end_ms: int) -> int:
    """Milliseconds covered by the union of [a, b) intervals, clipped to [start_ms, end_ms)."""
    clipped = sorted((max(a, start_ms), min(b, end_ms)) for a, b in intervals)
    total, reach = 0, start_ms
    for a, b in clipped:
        begin = max(a, reach)  # what an earlier interval covered counts once
        if b > begin:
            total += b - begin
            reach = b
    return total


def alert_figures(alerts: Iterable[AlertItem], period: Period, assets: dict[int, AssetItem]) -> AlertFigures:
    figures = AlertFigures()
    raised: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    intervals: dict[tuple[int | None, str], list[tuple[int, int]]] = {}
    seen: set[int] = set()
    for alert in alerts:
        alert_id = int(alert.id)
        triggered = _ms(alert.triggered_at)
        if alert_id in seen or triggered is None or triggered >= period.end_ms:
            continue
        seen.add(alert_id)
        severity = str(alert.severity or "")
        ended = _ms(alert.resolved_at) if alert.resolved else None
        if period.contains(triggered):
            raised[severity] += 1
        if period.contains(ended):
            resolved[severity] += 1
        if ended is None or ended >= period.end_ms:
            figures.open_at_end += 1
        until = period.end_ms if ended is None else min(ended, period.end_ms)
        if until > period.start_ms:
            alert_asset = int(alert.asset_id) if alert.asset_id is not None else None
            key = (alert_asset, "" if alert_asset is not None else str(alert.asset_tag or ""))
            intervals.setdefault(key, []).append((triggered, until))
    figures.raised, figures.raised_by_severity = sum(raised.values()), _by_severity(raised)
    figures.resolved, figures.resolved_by_severity = sum(resolved.values()), _by_severity(resolved)
    rows: list[AssetAlertHours] = []
    for (asset_id, tag), spans in intervals.items():
        asset = assets.get(asset_id) if asset_id is not None else None
        covered = union_ms(spans, period.start_ms, period.end_ms)
        if covered <= 0:
            continue
        rows.append(
            AssetAlertHours(
                asset_id=asset_id,
                asset_tag=str(asset.tag) if asset is not None else tag or f"#{asset_id}",
                asset_name=str(asset.name) if asset is not None else "",
                hours=_hours(covered),
                alerts=len(spans),
            )
        )
    figures.hours_in_alert = sorted(rows, key=lambda row: (-row.hours, row.asset_tag))
    figures.hours_in_alert_total = sum((row.hours for row in rows), Decimal("0.00"))
    return figures


def ledger_figures(postings: Iterable[TransactionItem]) -> LedgerFigures:
    totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for posting in postings:
        key = (str(posting.category), str(posting.currency or "BRL"))
        count, amount = totals.get(key, (0, ZERO))
        totals[key] = (count + 1, amount + Decimal(posting.amount))
    rows = [
        CategoryPostings(category, CATEGORY_LABELS.get(category, category), currency, count, money(amount))
        for (category, currency), (count, amount) in sorted(totals.items())
    ]
    return LedgerFigures(
        count=sum(row.count for row in rows),
        amount=money(sum((row.amount for row in rows), ZERO)),
        by_category=rows,
    )
