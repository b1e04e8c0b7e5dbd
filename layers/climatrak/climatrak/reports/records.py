"""Report records in the Main table: one item per tenant, report type and period.

    pk `T#{t}`, sk `REPORT#{type}#{period}`       the record (id `{type}-{period}`, deterministic)
    gsi1 `T#{t}#REPORTS` / `{last day}#{type}`     a tenant's reports, newest period first

A rerun of a period updates the same item (run_count + 1) in the same transaction as its
`report.generated` outbox event, so a record and its announcement never part ways. The gsi1 sort
key is the period's last day, so a month sorts with its last day (before that day's daily report
when listed newest first: "2026-11-30#monthly" > "2026-11-30#daily").
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from climatrak.core.config import Settings
from climatrak.core.events import EventEnvelope, add_to_outbox
from climatrak.core.items import MainItem, bind_main_table, transaction_connection
from climatrak.core.keys import TenantKeys

DAILY = "daily"
MONTHLY = "monthly"
REPORT_TYPES = (DAILY, MONTHLY)
COMPLETED = "completed"
REPORT_PREFIX = "REPORT#"
OUTPUTS = ("json", "csv", "html")

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_REPORT_ID = re.compile(r"^(daily|monthly)-(\d{4}-\d{2}(?:-\d{2})?)$")


class ReportsByPeriod(GlobalSecondaryIndex["ReportItem"]):
    """gsi1 `T#{t}#REPORTS` / `{last day of the period}#{type}`."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ReportItem(MainItem, discriminator="report"):
    """pk `T#{t}`, sk `REPORT#{type}#{period}`."""

    id = UnicodeAttribute()
    report_type = UnicodeAttribute()
    period = UnicodeAttribute()  # YYYY-MM-DD (daily) or YYYY-MM (monthly)
    status = UnicodeAttribute(default=COMPLETED)
    timezone = UnicodeAttribute(null=True)
    # the latest generation's time and figures
    generated_at = UnicodeAttribute()
    headline = MapAttribute[str, Any](default=dict)
    bucket = UnicodeAttribute()
    json_key = UnicodeAttribute()
    csv_key = UnicodeAttribute()
    html_key = UnicodeAttribute()
    json_size = NumberAttribute(default=0)
    csv_size = NumberAttribute(default=0)
    html_size = NumberAttribute(default=0)
    # how many times the period was generated (a rerun adds one)
    run_count = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_period = ReportsByPeriod()

    def key_of(self, output: str) -> str:
        return str({"json": self.json_key, "csv": self.csv_key, "html": self.html_key}[output])

    def size_of(self, output: str) -> int:
        return int({"json": self.json_size, "csv": self.csv_size, "html": self.html_size}[output] or 0)


# ---- ids, periods and keys -------------------------------------------------------------------


def valid_period(report_type: str, period: str) -> bool:
    if report_type == DAILY and _DAY.match(period):
        text = period
    elif report_type == MONTHLY and _MONTH.match(period):
        text = f"{period}-01"
    else:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def report_id(report_type: str, period: str) -> str:
    return f"{report_type}-{period}"


def parse_report_id(value: str) -> tuple[str, str] | None:
    """(type, period) of an id like `daily-2026-11-24` or `monthly-2026-11`; None if it is none."""
    match = _REPORT_ID.match(value)
    if match is None or not valid_period(match.group(1), match.group(2)):
        return None
    return match.group(1), match.group(2)


def last_day(report_type: str, period: str) -> str:
    if report_type == MONTHLY:
        year, month = int(period[:4]), int(period[5:7])
        return f"{period}-{monthrange(year, month)[1]:02d}"
    return period


def report_sk(report_type: str, period: str) -> str:
    return f"{REPORT_PREFIX}{report_type}#{period}"


def index_sk(report_type: str, period: str) -> str:
    return f"{last_day(report_type, period)}#{report_type}"


def object_key(tenant: str, report_type: str, period: str, output: str) -> str:
    """Where an output lives in the reports bucket (a rerun overwrites it)."""
    return f"reports/tenant={tenant}/type={report_type}/period={period}/report.{output}"


@dataclass(frozen=True)
class Generation:
    """What one run of a report wrote: its objects and figures."""

    report_type: str
    period: str
    timezone: str | None
    generated_at: str
    headline: dict[str, Any]
    bucket: str
    keys: dict[str, str]
    sizes: dict[str, int]


# ---- the repository ---------------------------------------------------------------------------


class ReportRepository:
    def __init__(self, tenant: str, settings: Settings) -> None:
        self.tenant = tenant
        self.settings = settings
        self.keys = TenantKeys(tenant)
        self.pk = self.keys.pk
        self.index_pk = f"{self.pk}#REPORTS"
        bind_main_table(settings.main_table)

    def get(self, report_type: str, period: str, consistent: bool = True) -> ReportItem | None:
        try:
            return ReportItem.get(self.pk, report_sk(report_type, period), consistent_read=consistent)
        except ReportItem.DoesNotExist:
            return None

    def of_date(self, report_type: str | None, day: str) -> list[ReportItem]:
        """The daily report of `day` and the monthly report of its month (or the one of
        `report_type`), newest first."""
        types = [report_type] if report_type else list(REPORT_TYPES)
        found = [item for kind in types if (item := self.get(kind, day if kind == DAILY else day[:7]))]
        return sorted(found, key=lambda item: str(item.gsi1sk), reverse=True)

    def newest_first(
        self, report_type: str | None, position: str | None, backwards: bool, limit: int | None
    ) -> Iterator[tuple[str, ReportItem]]:
        """`(gsi1sk, report)` pairs newest first strictly after `position` (None: from the
        newest), or strictly before it nearest first when `backwards`; of one type or all."""
        condition: Condition | None = None
        if position is not None:
            condition = ReportItem.gsi1sk > position if backwards else ReportItem.gsi1sk < position
        rows = ReportItem.by_period.query(
            self.index_pk,
            condition,
            filter_condition=self._type_filter(report_type),
            scan_index_forward=backwards,
            limit=limit,
        )
        return ((str(row.gsi1sk), row) for row in rows)

    def count(self, report_type: str | None) -> int:
        return int(ReportItem.by_period.count(self.index_pk, filter_condition=self._type_filter(report_type)))

    @staticmethod
    def _type_filter(report_type: str | None) -> Condition | None:
        return ReportItem.report_type == report_type if report_type else None

    def record_generation(self, generation: Generation, event: EventEnvelope) -> ReportItem:
        """Create or update the record of the generation's period (run_count + 1) and add its
        `report.generated` event, in one transaction; returns the stored record."""
        report_type, period = generation.report_type, generation.period
        now = generation.generated_at
        item = ReportItem(self.pk, report_sk(report_type, period))
        actions: list[Action] = [
            ReportItem.kind.set(ReportItem.kind | ReportItem),
            ReportItem.id.set(report_id(report_type, period)),
            ReportItem.report_type.set(report_type),
            ReportItem.period.set(period),
            ReportItem.status.set(COMPLETED),
            ReportItem.generated_at.set(now),
            ReportItem.headline.set(generation.headline),
            ReportItem.bucket.set(generation.bucket),
            ReportItem.json_key.set(generation.keys["json"]),
            ReportItem.csv_key.set(generation.keys["csv"]),
            ReportItem.html_key.set(generation.keys["html"]),
            ReportItem.json_size.set(generation.sizes["json"]),
            ReportItem.csv_size.set(generation.sizes["csv"]),
            ReportItem.html_size.set(generation.sizes["html"]),
            ReportItem.run_count.add(1),
            ReportItem.created_at.set(ReportItem.created_at | now),
            ReportItem.updated_at.set(now),
            ReportItem.gsi1pk.set(self.index_pk),
            ReportItem.gsi1sk.set(index_sk(report_type, period)),
        ]
        if generation.timezone:
            actions.append(ReportItem.timezone.set(generation.timezone))
        with TransactWrite(connection=transaction_connection()) as transaction:
            transaction.update(item, actions=actions)
            add_to_outbox(transaction, event)
        stored = self.get(report_type, period)
        assert stored is not None  # just written, read consistently
        return stored
