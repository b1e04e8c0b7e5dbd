"""Savings events (API.md §5.6): money a maintenance action saved, with its type, confidence,
links to an asset, work order or alert, and evidence.

A savings event counts in the summary's `savings` for the month of `occurred_at` (the tenant's
time zone), under its cost centre and category, written in the same transaction as the event
with its `savings.event_posted` outbox event. Types and confidences are stored and emitted in
the frontend's vocabulary (the Django names are accepted).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from climatrak.core.events import new_event
from climatrak.core.identity import Principal
from climatrak.core.money import money
from climatrak.core.timeutil import month_of, utc_now_iso
from climatrak.ledger.cost_centers import CostCenters, resolve_cost_center
from climatrak.ledger.items import SavingsItem
from climatrak.ledger.models import (
    CONFIDENCE_ALIASES,
    CONFIDENCE_LABELS,
    SAVINGS_CATEGORY,
    SAVINGS_TYPE_ALIASES,
    SAVINGS_TYPE_LABELS,
    SavingsCreate,
    SavingsEvent,
)
from climatrak.ledger.parsing import (
    contains,
    invalid_pk,
    local_day_end_iso,
    local_midnight_iso,
    optional,
    ordered,
    parse_choice,
    parse_date,
    parse_instant,
    require,
)
from climatrak.ledger.projection import ProjectionDeltas
from climatrak.ledger.repository import LedgerRepository
from climatrak.registry.items import AssetItem

SAVINGS_ORDERINGS = {"occurred_at", "savings_amount", "created_at", "event_type", "confidence"}


def savings_type(raw: str) -> str:
    return SAVINGS_TYPE_ALIASES.get(raw, raw)


def savings_confidence(raw: str) -> str:
    return CONFIDENCE_ALIASES.get(raw, raw)


def savings_view(item: SavingsItem, centers: CostCenters, assets: Mapping[int, AssetItem]) -> SavingsEvent:
    asset_id = int(item.asset_id) if item.asset_id is not None else None
    work_order = int(item.work_order_id) if item.work_order_id is not None else None
    alert = int(item.alert_id) if item.alert_id is not None else None
    evidence = dict(item.evidence.as_dict() if item.evidence else {})
    links = evidence.get("links")
    event_type = savings_type(item.event_type)
    confidence = savings_confidence(item.confidence)
    asset = assets.get(asset_id) if asset_id is not None else None
    return SavingsEvent(
        id=item.id,
        event_type=event_type,
        event_type_display=SAVINGS_TYPE_LABELS.get(event_type, event_type),
        savings_amount=money(item.savings_amount),
        currency=item.currency,
        confidence=confidence,
        confidence_display=CONFIDENCE_LABELS.get(confidence, confidence),
        occurred_at=item.occurred_at,
        description=item.description,
        explanation=item.description,
        calculation_method=item.calculation_method,
        category=item.category,
        cost_center=item.cost_center_id,
        cost_center_id=item.cost_center_id,
        cost_center_name=centers.name(item.cost_center_id),
        cost_center_code=centers.code(item.cost_center_id),
        asset=asset_id,
        asset_id=asset_id,
        asset_name=asset.name if asset else None,
        work_order=work_order,
        work_order_id=work_order,
        work_order_number=None,
        alert=alert,
        alert_id=alert,
        alert_message=None,
        baseline_ref=item.baseline_ref.as_dict() if item.baseline_ref is not None else None,
        evidence=evidence,
        evidence_links=dict(links) if isinstance(links, dict) else {},
        created_at=item.created_at,
        updated_at=item.updated_at,
        created_by=int(item.created_by) if item.created_by is not None else None,
        created_by_name=None,
    )


def list_savings(repo: LedgerRepository, filters: Mapping[str, str | None]) -> list[SavingsEvent]:
    rows = repo.list_savings()
    tz = repo.timezone
    start = optional(parse_date, filters.get("from") or filters.get("start_date"), "from")
    if start is not None:
        floor = local_midnight_iso(start, tz)
        rows = [row for row in rows if row.occurred_at >= floor]
    end = optional(parse_date, filters.get("to") or filters.get("end_date"), "to")
    ceiling = local_day_end_iso(end, tz) if end is not None else None
    if ceiling is not None:
        rows = [row for row in rows if row.occurred_at < ceiling]
    cost_center = filters.get("cost_center_id") or filters.get("cost_center")
    if cost_center:
        rows = [row for row in rows if row.cost_center_id == cost_center]
    event_type = filters.get("event_type")
    if event_type:
        wanted = parse_choice(savings_type(event_type), SAVINGS_TYPE_LABELS, "event_type")
        rows = [row for row in rows if savings_type(row.event_type) == wanted]
    confidence = filters.get("confidence")
    if confidence:
        level = parse_choice(savings_confidence(confidence), CONFIDENCE_LABELS, "confidence")
        rows = [row for row in rows if savings_confidence(row.confidence) == level]
    asset = filters.get("asset_id") or filters.get("asset")
    if asset:
        rows = [row for row in rows if row.asset_id is not None and str(int(row.asset_id)) == asset]
    work_order = filters.get("work_order_id") or filters.get("work_order")
    if work_order:
        rows = [row for row in rows if row.work_order_id is not None and str(int(row.work_order_id)) == work_order]
    search = filters.get("search")
    if search:
        rows = [row for row in rows if contains(search, row.description, row.calculation_method)]
    rows = ordered(rows, filters.get("ordering"), "-occurred_at", SAVINGS_ORDERINGS)
    centers = CostCenters.load(repo)
    assets = repo.assets(row.asset_id for row in rows)
    return [savings_view(row, centers, assets) for row in rows]


def get_savings(repo: LedgerRepository, savings_id: str) -> SavingsEvent:
    item = require(repo.get_savings(savings_id))
    return savings_view(item, CostCenters.load(repo), repo.assets([item.asset_id]))


def create_savings(repo: LedgerRepository, caller: Principal, body: SavingsCreate) -> SavingsEvent:
    """Record a savings event; its amount counts in the summary's `savings` for the month of
    `occurred_at` (tenant time zone), under its cost centre (the tenant's default when none is
    given) and its category (given, else derived from the event type: SAVINGS_CATEGORY)."""
    tz = repo.timezone
    event_type = savings_type(body.event_type)
    cost_center_id = resolve_cost_center(repo, body.cost_center, "cost_center_id", default=True)
    if body.asset is not None and not repo.assets([body.asset]):
        raise invalid_pk(str(body.asset), "asset_id")
    evidence: dict[str, Any] = dict(body.evidence or {})
    if body.evidence_links:
        evidence["links"] = dict(body.evidence_links)
    now = utc_now_iso()
    item = SavingsItem(
        id=str(uuid.uuid4()),
        event_type=event_type,
        savings_amount=money(body.savings_amount),
        currency=body.currency,
        confidence=savings_confidence(body.confidence),
        occurred_at=parse_instant(body.occurred_at, tz, "occurred_at"),
        description=body.description,
        calculation_method=body.calculation_method,
        cost_center_id=cost_center_id,
        category=body.category or SAVINGS_CATEGORY.get(event_type, "other"),
        asset_id=body.asset,
        work_order_id=body.work_order,
        alert_id=body.alert,
        baseline_ref=body.baseline_ref,
        evidence=evidence,
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    month = month_of(item.occurred_at, tz)
    deltas = ProjectionDeltas(repo.tenant).add(month, cost_center_id, item.category, savings=money(item.savings_amount))
    event = new_event(
        repo.tenant,
        "savings.event_posted",
        "savings_event",
        item.id,
        {
            "savings_event_id": item.id,
            "event_type": item.event_type,
            "savings_amount": str(money(item.savings_amount)),
            "currency": item.currency,
            "confidence": item.confidence,
            "occurred_at": item.occurred_at,
            "month": month,
            "cost_center_id": cost_center_id,
            "category": item.category,
            "asset_id": item.asset_id,
            "work_order_id": item.work_order_id,
            "alert_id": item.alert_id,
        },
        idempotency_key=f"savings.event_posted:{item.id}",
    )
    repo.create_savings(item, deltas, event)
    return savings_view(item, CostCenters.load(repo), repo.assets([item.asset_id]))
