"""The budget summary (API.md §5.7) and the top costs of a period, read from the summary
projection only: a month's summary is one query of `T#{t}#SUMMARY#{YYYY-MM}` at any ledger
size. Aggregates are served as JSON numbers (`as_number`), computed exactly in Decimal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from climatrak.core.errors import DomainError
from climatrak.core.money import ZERO, as_number, money
from climatrak.ledger.cost_centers import CostCenters
from climatrak.ledger.items import CostCenterItem, SummaryRow
from climatrak.ledger.models import (
    CATEGORIES,
    CATEGORY_LABELS,
    BudgetSummary,
    CategorySummary,
    MonthSummary,
    TopCost,
    TopCosts,
    YearSummary,
)
from climatrak.ledger.months import first_of_month, month_name, months_between
from climatrak.ledger.parsing import parse_choice, reference, require
from climatrak.ledger.projection import COUNTERS
from climatrak.ledger.repository import LedgerRepository

TOP_COSTS_MAX_MONTHS = 36
TOP_COSTS_MAX_LIMIT = 100
# Every figure a summary can show: the projection's counters and what derives from them.
FIGURES = (*COUNTERS, "committed", "variance", "variance_percent")


@dataclass
class Totals:
    planned: Decimal = ZERO
    committed_approved: Decimal = ZERO
    committed_pending: Decimal = ZERO
    actual: Decimal = ZERO
    savings: Decimal = ZERO

    def add(self, row: SummaryRow | Totals) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + (getattr(row, name) or ZERO))

    @property
    def committed(self) -> Decimal:
        return self.committed_approved + self.committed_pending

    @property
    def variance(self) -> Decimal:
        return self.planned - self.actual

    @property
    def variance_percent(self) -> Decimal:
        return money(self.variance / self.planned * 100) if self.planned else ZERO

    def figures(self, shown_in: type[BaseModel]) -> dict[str, Any]:
        """The figures a response model shows, as JSON numbers."""
        return {name: as_number(getattr(self, name)) for name in FIGURES if name in shown_in.model_fields}


def _summary_scope(repo: LedgerRepository, raw: str | None) -> tuple[CostCenterItem | None, set[str] | None]:
    """The cost centre asked for and the ids it covers (itself and its descendants)."""
    if not raw:
        return None, None
    cost_center_id = reference(raw, "cost_center") or ""
    centers = CostCenters.load(repo)
    item = require(centers.items.get(cost_center_id))
    return item, centers.descendants(cost_center_id)


def _month_totals(repo: LedgerRepository, month: str, scope: set[str] | None) -> tuple[Totals, dict[str, Totals]]:
    total, by_category = Totals(), defaultdict[str, Totals](Totals)
    for row in repo.summary_rows(month):
        if scope is not None and row.cost_center_id not in scope:
            continue
        total.add(row)
        by_category[row.category].add(row)
    return total, by_category


def _summary_month(raw: str | None) -> str:
    if not raw:
        raise DomainError("The month parameter is required (YYYY-MM-01).", code="invalid_month")
    try:
        return first_of_month(raw, "month")
    except DomainError:
        raise DomainError(f'"{raw}" is not a valid month (YYYY-MM-01).', code="invalid_month") from None


def budget_summary(repo: LedgerRepository, month_raw: str | None, cost_center_raw: str | None = None) -> BudgetSummary:
    """planned, committed and actual of a month, from the projection only: one query of
    `T#{t}#SUMMARY#{YYYY-MM}` (plus the cost-centre list when one is asked for)."""
    month = _summary_month(month_raw)
    center, scope = _summary_scope(repo, cost_center_raw)
    total, by_category = _month_totals(repo, month, scope)
    order = {category: index for index, category in enumerate(CATEGORIES)}
    categories = [
        CategorySummary(
            category=category,
            category_display=CATEGORY_LABELS.get(category, category),
            **totals.figures(CategorySummary),
        )
        for category, totals in sorted(by_category.items(), key=lambda pair: order.get(pair[0], len(order)))
        if totals.planned or totals.committed or totals.actual
    ]
    return BudgetSummary(
        month=month,
        cost_center_id=center.id if center else None,
        cost_center_name=center.name if center else None,
        **total.figures(BudgetSummary),
        by_category=categories,
    )


def year_summary(repo: LedgerRepository, year_raw: str | None, cost_center_raw: str | None = None) -> YearSummary:
    """The year month by month: 12 queries of the projection."""
    if not year_raw or not year_raw.strip().isdigit() or not 2000 <= int(year_raw) <= 2100:
        raise DomainError("The year parameter is required (YYYY).", code="invalid_year")
    year = int(year_raw)
    center, scope = _summary_scope(repo, cost_center_raw)
    total, months = Totals(), []
    for number in range(1, 13):
        month = f"{year:04d}-{number:02d}-01"
        totals, _ = _month_totals(repo, month, scope)
        total.add(totals)
        months.append(MonthSummary(month=month, month_name=month_name(month), **totals.figures(MonthSummary)))
    return YearSummary(
        year=year,
        cost_center_id=center.id if center else None,
        cost_center_name=center.name if center else None,
        **total.figures(YearSummary),
        by_month=months,
    )


def top_costs(repo: LedgerRepository, filters: Mapping[str, str | None]) -> TopCosts:
    """The largest actual costs of a period (months start..end, inclusive) by asset or by
    category, from the projection's rows (one query per month)."""
    by = (filters.get("by") or "asset").strip()
    parse_choice(by, ("asset", "category"), "by")
    if not filters.get("start") or not filters.get("end"):
        raise DomainError("The start and end parameters are required (YYYY-MM-01).", code="invalid_period")
    start = first_of_month(filters["start"] or "", "start")
    end = first_of_month(filters["end"] or "", "end")
    months = months_between(start, end)
    if not months:
        raise DomainError("The end month must not be before the start month.", field="end")
    if len(months) > TOP_COSTS_MAX_MONTHS:
        raise DomainError(f"A period of at most {TOP_COSTS_MAX_MONTHS} months.", field="end")
    limit_raw = filters.get("limit") or "10"
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= TOP_COSTS_MAX_LIMIT:
        raise DomainError(f"Ensure this value is between 1 and {TOP_COSTS_MAX_LIMIT}.", field="limit")
    limit = int(limit_raw)
    if by == "category":
        per_category: dict[str, Decimal] = defaultdict(Decimal)
        for month in months:
            for row in repo.summary_rows(month):
                per_category[row.category] += row.actual or ZERO
        ranked = sorted(((c, v) for c, v in per_category.items() if v), key=lambda pair: (-pair[1], pair[0]))[:limit]
        results = [
            TopCost(
                category=category, category_display=CATEGORY_LABELS.get(category, category), actual=as_number(value)
            )
            for category, value in ranked
        ]
        return TopCosts(by="category", start=start, end=end, results=results)
    per_asset: dict[int, Decimal] = defaultdict(Decimal)
    for month in months:
        for asset_row in repo.asset_cost_rows(month):
            per_asset[int(asset_row.asset_id)] += asset_row.actual or ZERO
    top = sorted(((a, v) for a, v in per_asset.items() if v), key=lambda pair: (-pair[1], pair[0]))[:limit]
    assets = repo.assets(asset_id for asset_id, _ in top)
    rows = []
    for asset_id, value in top:
        asset = assets.get(asset_id)
        rows.append(
            TopCost(
                asset_id=asset_id,
                asset_tag=asset.tag if asset else None,
                asset_name=asset.name if asset else None,
                actual=as_number(value),
            )
        )
    return TopCosts(by="asset", start=start, end=end, results=rows)
