"""Listing the ledger (API.md §5.4): the filters with the frontend's aliases, DRF ordering, and
a cursor walk over the month partitions (`T#{t}#LEDGER#{YYYY-MM}`, rows in occurred_at order).

The default ordering (occurred_at, newest first) streams: each page reads only the months and
rows it shows. Other orderings, and a work order's postings (its link partition, read
consistently), are sorted in memory with index positions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from climatrak.core.errors import DomainError, NotFound
from climatrak.core.timeutil import month_of, next_month
from climatrak.ledger.items import TransactionItem
from climatrak.ledger.models import CATEGORIES
from climatrak.ledger.months import MONTH, month_start_iso, parse_month
from climatrak.ledger.parsing import (
    local_day_end_iso,
    local_midnight_iso,
    parse_bool,
    parse_choice,
    parse_choices,
    parse_date,
    parse_decimal,
    parse_int,
)
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.store import MonthState, is_locked
from climatrak.ledger.transaction_models import (
    SOURCE_COMMITMENT,
    SOURCE_COST_ENGINE,
    SOURCE_ENERGY,
    SOURCE_INVENTORY,
    SOURCE_MANUAL,
    TRANSACTION_TYPES,
)

ORDERABLE = ("occurred_at", "created_at", "updated_at", "amount", "category", "transaction_type")
DEFAULT_ORDERING: tuple[tuple[str, bool], ...] = (("occurred_at", True), ("created_at", True))
Predicate = Callable[[TransactionItem], bool]


@dataclass
class TransactionQuery:
    """A parsed listing request. `low`/`high` bound occurred_at (UTC ISO, high exclusive) and so
    the month partitions walked; predicates apply the other filters to each row."""

    low: str | None
    high: str | None
    predicates: list[Predicate]
    ordering: tuple[tuple[str, bool], ...]
    work_order_id: int | None

    def matches(self, item: TransactionItem) -> bool:
        if self.low and item.occurred_at < self.low:
            return False
        if self.high and item.occurred_at >= self.high:
            return False
        return all(predicate(item) for predicate in self.predicates)

    @property
    def streams(self) -> bool:
        """Served in key order (month partitions, sk) with a cursor: occurred_at ordering,
        ties broken by creation (UUIDv7 ids in the sort key)."""
        if self.work_order_id is not None:
            return False
        first, *rest = self.ordering
        return first[0] == "occurred_at" and (not rest or (rest == [("created_at", first[1])]))


def _year(raw: str, field: str) -> int:
    year = parse_int(raw, field)
    if not 1 <= year < 9999:
        raise DomainError("Enter a valid year.", field=field)
    return year


def _first(params: Mapping[str, str | None], *names: str) -> tuple[str, str] | None:
    for name in names:
        value = params.get(name)
        if value is not None and value.strip() != "":
            return name, value.strip()
    return None


def _source_category(item: TransactionItem, wanted: str) -> bool:
    """API.md §5.4, decided for our postings: entries = commitment approvals, stock entries (IN)
    and manual postings/adjustments (meta.source "manual"), never labour; operations = labour,
    stock issues (OUT) and every cost-engine posting (a work order's parts and third-party
    costs are operations too, and so is the energy the daily report posts)."""
    meta = item.meta_dict()
    source = meta.get("source")
    movement = str(meta.get("movement_type") or "").upper()
    if wanted == "entries":
        if item.transaction_type == "labor":
            return False
        return source in (SOURCE_COMMITMENT, SOURCE_MANUAL) or (source == SOURCE_INVENTORY and movement == "IN")
    return (
        item.transaction_type == "labor"
        or source in (SOURCE_COST_ENGINE, SOURCE_ENERGY)
        or (source == SOURCE_INVENTORY and movement == "OUT")
    )


def parse_query(params: Mapping[str, str | None], tz_name: str, states: Mapping[str, MonthState]) -> TransactionQuery:
    """The filters of API.md §5.4 with the frontend's aliases; invalid choices → 400."""
    lows: list[str] = []
    highs: list[str] = []
    predicates: list[Predicate] = []

    def within(month: str) -> None:
        lows.append(month_start_iso(month, tz_name))
        highs.append(month_start_iso(next_month(month), tz_name))

    if hit := _first(params, "start_date"):
        lows.append(local_midnight_iso(parse_date(hit[1], hit[0]), tz_name))
    if hit := _first(params, "end_date"):
        end = local_day_end_iso(parse_date(hit[1], hit[0]), tz_name)
        highs += [end] if end else []
    year = _year(hit[1], hit[0]) if (hit := _first(params, "year")) else None
    if year is not None:
        lows.append(month_start_iso(f"{year:04d}-01", tz_name))
        highs.append(month_start_iso(f"{year + 1:04d}-01", tz_name))
    if hit := _first(params, "month"):
        name, value = hit
        if value.isdigit() and 1 <= int(value) <= 12:
            number = int(value)
            if year is not None:
                within(f"{year:04d}-{number:02d}")
            else:
                predicates.append(lambda item: int(month_of(item.occurred_at, tz_name)[5:7]) == number)
        else:
            within(parse_month(value, name, any_day=True))
    if hit := _first(params, "cost_center", "cost_center_id"):
        center = hit[1]
        predicates.append(lambda item: item.cost_center_id == center)
    if hit := _first(params, "asset", "asset_id"):
        asset_id = parse_int(hit[1], hit[0])
        predicates.append(lambda item: item.asset_id is not None and int(item.asset_id) == asset_id)
    work_order_id = parse_int(hit[1], hit[0]) if (hit := _first(params, "work_order", "work_order_id")) else None
    if hit := _first(params, "category", "category__in"):
        categories = parse_choices(hit[1], CATEGORIES, hit[0])
        predicates.append(lambda item: item.category in categories)
    if hit := _first(params, "transaction_type", "type", "transaction_type__in", "type__in"):
        types = parse_choices(hit[1], TRANSACTION_TYPES, hit[0])
        predicates.append(lambda item: item.transaction_type in types)
    if hit := _first(params, "source_category"):
        wanted = parse_choice(hit[1], ("entries", "operations"), hit[0])
        predicates.append(lambda item: _source_category(item, wanted))
    if hit := _first(params, "min_amount"):
        minimum = parse_decimal(hit[1], hit[0])
        predicates.append(lambda item: Decimal(item.amount) >= minimum)
    if hit := _first(params, "max_amount"):
        maximum = parse_decimal(hit[1], hit[0])
        predicates.append(lambda item: Decimal(item.amount) <= maximum)
    if hit := _first(params, "is_locked"):
        locked = parse_bool(hit[1], hit[0])
        predicates.append(lambda item: is_locked(states, item.month) == locked)
    if hit := _first(params, "vendor_id"):
        vendor = hit[1]
        predicates.append(lambda item: item.vendor_id == vendor)
    if hit := _first(params, "description"):
        needle = hit[1].lower()
        predicates.append(lambda item: needle in (item.description or "").lower())
    if hit := _first(params, "search"):
        term = hit[1].lower()
        predicates.append(lambda item: term in _search_text(item))
    return TransactionQuery(
        low=max(lows) if lows else None,
        high=min(highs) if highs else None,
        predicates=predicates,
        ordering=_ordering(params.get("ordering")),
        work_order_id=work_order_id,
    )


def _search_text(item: TransactionItem) -> str:
    meta = item.meta_dict()
    parts = [item.description, item.idempotency_key, item.work_order_number, meta.get("reason"), meta.get("invoice")]
    return " ".join(str(part) for part in parts if part).lower()


def _ordering(raw: str | None) -> tuple[tuple[str, bool], ...]:
    """DRF OrderingFilter: comma-separated fields, '-' for descending; unknown fields ignored."""
    fields: list[tuple[str, bool]] = []
    for part in (raw or "").split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.lstrip("-")
        if name in ORDERABLE and name not in (field for field, _ in fields):
            fields.append((name, descending))
    return tuple(fields) or DEFAULT_ORDERING


def _walk_months(query: TransactionQuery, states: Mapping[str, MonthState], tz_name: str) -> list[str]:
    """The month partitions that can hold matching rows: months with postings (their marker
    items) that overlap [low, high)."""
    months = []
    for month in sorted(states):
        if not MONTH.match(month):
            continue
        if query.high and month_start_iso(month, tz_name) >= query.high:
            continue
        if query.low and month_start_iso(next_month(month), tz_name) <= query.low:
            continue
        months.append(month)
    return months


def _parse_position(position: str) -> tuple[str, str]:
    month, _, sk = position.partition("|")
    if not MONTH.match(month) or not sk:
        raise NotFound("Invalid cursor.")
    return month, sk


@dataclass
class TransactionListing:
    """What the route paginates: `fetch(position, backwards, limit)` and `count()` for
    `core.http.cursor_paginate`."""

    fetch: Callable[[str | None, bool, int], list[tuple[str, TransactionItem]]]
    count: Callable[[], int]
    states: Mapping[str, MonthState]


def list_transactions(repo: PostingRepository, params: Mapping[str, str | None]) -> TransactionListing:
    states = repo.month_states()
    query = parse_query(params, repo.timezone, states)
    if query.streams:
        return _streaming(repo, query, states)
    return _in_memory(repo, query, states)


def _streaming(
    repo: PostingRepository, query: TransactionQuery, states: Mapping[str, MonthState]
) -> TransactionListing:
    months = _walk_months(query, states, repo.timezone)
    descending = query.ordering[0][1]

    def walk(position: str | None, backwards: bool, limit: int | None) -> list[tuple[str, TransactionItem]]:
        reverse = descending != backwards  # True: newest first
        start_month, start_sk = _parse_position(position) if position else (None, None)
        page_size = max(25, min((limit or 1000), 1000))
        found: list[tuple[str, TransactionItem]] = []
        for month in sorted(months, reverse=reverse):
            if start_month and (month > start_month if reverse else month < start_month):
                continue
            low, high = query.low, query.high
            if month == start_month and start_sk:
                if reverse:
                    high = min(high, start_sk) if high else start_sk
                else:
                    low = max(low, start_sk) if low else start_sk
            for item in repo.query_month(month, low, high, reverse, page_size):
                if month == start_month and item.sk == start_sk:
                    continue
                if query.matches(item):
                    found.append((f"{month}|{item.sk}", item))
                    if limit is not None and len(found) >= limit:
                        return found
        return found

    return TransactionListing(
        fetch=walk,
        count=lambda: len(walk(None, False, None)),
        states=states,
    )


def _in_memory(
    repo: PostingRepository, query: TransactionQuery, states: Mapping[str, MonthState]
) -> TransactionListing:
    """Orderings other than occurred_at, and a work order's postings (read through its link
    partition, consistently): all matching rows sorted, positions are indexes."""
    if query.work_order_id is not None:
        links = repo.work_order_links(query.work_order_id)
        items = repo.batch_transactions((link.ledger_pk, link.ledger_sk) for link in links)
    else:
        items = [
            item
            for month in _walk_months(query, states, repo.timezone)
            for item in repo.query_month(month, query.low, query.high, False, 1000)
        ]
    rows = sorted((item for item in items if query.matches(item)), key=lambda item: item.id)
    for name, descending in reversed(query.ordering):
        rows.sort(key=functools.partial(_sort_value, name=name), reverse=descending)

    def fetch(position: str | None, backwards: bool, limit: int) -> list[tuple[str, TransactionItem]]:
        if position is None:
            index = -1
        else:
            if not position.startswith("#") or not position[1:].isdigit():
                raise NotFound("Invalid cursor.")
            index = min(int(position[1:]), len(rows))  # rows may have gone since the cursor was made
        indexes = range(index - 1, -1, -1) if backwards else range(index + 1, len(rows))
        return [(f"#{i}", rows[i]) for i in list(indexes)[:limit]]

    return TransactionListing(fetch=fetch, count=lambda: len(rows), states=states)


def _sort_value(item: TransactionItem, name: str) -> Any:
    if name == "amount":
        return Decimal(item.amount)
    if name == "created_at":
        return (item.created_at, item.id)
    return getattr(item, name) or ""
