"""CMMS rules: work orders, their transitions and their cost inputs (API.md §3.1, issue 3 §2).

Plain functions over a tenant-scoped `CmmsRepository`; no boto3 and no HTTP here. Ids of
another tenant raise NotFound, so a tenant never learns of another's rows.

Status: OPEN → IN_PROGRESS (start) → COMPLETED (complete, from OPEN or IN_PROGRESS), or
CANCELLED (cancel, reason required, from any non-final status). PATCH follows the same rules
(PATCH to COMPLETED completes). Completing writes, in one transaction, the work order, the
auto time entry (when `actual_hours` is known and the work order has no time entry) and the
`work_order.closed` outbox event carrying the work order's cost inputs.

Technicians (WORK_ORDER_EXECUTE without WORK_ORDER_MANAGE) start, complete and record cost
inputs only on work orders assigned to them.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel

from climatrak.cmms.items import CostInputItem, ExternalCostItem, PartUsageItem, TimeEntryItem, WorkOrderItem
from climatrak.cmms.models import (
    CATEGORY_OF_TYPE,
    DEFAULT_ASSIGNED_ROLE,
    PRIORITIES,
    WORK_ORDER_STATUSES,
    WORK_ORDER_TYPES,
    CancelWorkOrder,
    CompleteWorkOrder,
    ExternalCost,
    PartUsage,
    PostCostsResult,
    StartWorkOrder,
    TimeEntry,
    WorkOrder,
    WorkOrderCreate,
    WorkOrderListItem,
    WorkOrderPatch,
    WorkOrderStats,
)
from climatrak.cmms.repository import ACTIVE_STATUSES, NOT_ASSIGNEE, NOT_FOUND, CmmsRepository, WorkOrderInputs
from climatrak.core.config import DEFAULT_TIMEZONE
from climatrak.core.errors import Conflict, DomainError, Forbidden, NotFound
from climatrak.core.events import new_event
from climatrak.core.identity import Permission, Principal
from climatrak.core.money import money
from climatrak.core.timeutil import iso_ms, month_of, parse_iso, to_ms, utc_now_iso, zone
from climatrak.ledger import cost_engine
from climatrak.ledger.items import default_cost_center_id, ensure_default_cost_center
from climatrak.registry.items import AssetItem, SiteItem

T = TypeVar("T")

OPEN, IN_PROGRESS, COMPLETED, CANCELLED = WORK_ORDER_STATUSES
FINAL_STATUSES = frozenset({COMPLETED, CANCELLED})
PRIORITY_RANK = {priority: rank for rank, priority in enumerate(PRIORITIES)}  # LOW < ... < CRITICAL
CLOSED_EVENT = "work_order.closed"
HOURS = Decimal("0.01")
QUANTITY = Decimal("0.001")

DATETIME_FORMAT = (
    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
# Datetimes from clients lie between 2000 and a year from now; a completion is not in the future
# (beyond a few minutes of clock skew) nor before the work order was created or started.
MIN_YEAR = 2000
MAX_AHEAD = timedelta(days=366)
CLOCK_SKEW = timedelta(minutes=5)
DATETIME_RANGE = f"Enter a date and time between {MIN_YEAR} and one year from now."
COMPLETED_IN_FUTURE = "The completion time cannot be in the future."
COMPLETED_BEFORE_CREATED = "The completion time cannot be before the work order was created."
COMPLETED_BEFORE_STARTED = "The completion time cannot be before the work order was started."
# Money and roles are for managers: technicians' time is costed by the rate card of its role.
RATE_FOR_MANAGERS = "Only managers can set the hourly rate; a technician's time is costed by the rate card."
ROLE_FOR_MANAGERS = "Only managers can set the work order's labour role."
CANNOT_START = "Only open work orders can be started."
CANNOT_COMPLETE = "Only open or in-progress work orders can be completed."
CANNOT_CANCEL = "Completed or cancelled work orders cannot be cancelled."
CANNOT_REOPEN = "A work order cannot go back to OPEN."
REASON_REQUIRED = "A cancellation reason is required."
NOT_COMPLETED = "Only completed work orders can have their costs posted."
FINAL_IS_FROZEN = "A completed or cancelled work order can no longer be changed."
STALE_VERSION = "This work order was changed by someone else (version {version}); reload it and try again."
COMPLETED_NOT_DELETABLE = "A completed work order cannot be deleted."
SELF_ASSIGN_ONLY = "Technicians can only assign work orders to themselves."
# Fields a completed or cancelled work order still accepts (texts and the customer's signature).
EDITABLE_WHEN_FINAL = frozenset({"description", "execution_description", "signature", "signed_by", "signed_at"})
WORK_ORDER_ORDERINGS = {
    "number",
    "scheduled_date",
    "priority",
    "created_at",
    "updated_at",
    "completed_at",
    "status",
    "type",
    "id",
}


# ---- small helpers ---------------------------------------------------------------------------


def _require(item: T | None) -> T:
    if item is None:
        raise NotFound(NOT_FOUND)
    return item


def _hours(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(HOURS)


def _quantity(value: Decimal) -> Decimal:
    return Decimal(value).quantize(QUANTITY)


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else money(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _contains(needle: str, *haystack: str | None) -> bool:
    needle = needle.lower()
    return any(needle in (text or "").lower() for text in haystack)


def _moment(value: str | None, tz: str, field: str) -> str | None:
    """A datetime from the client as stored (UTC ISO, ms, Z): full ISO with offset or Z, or
    naive `YYYY-MM-DDTHH:mm[:ss]` meaning tenant-local time; between MIN_YEAR and a year ahead."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise DomainError(DATETIME_FORMAT, field=field) from None
    try:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone(tz))
        moment = moment.astimezone(UTC)  # overflows near year 1 and 9999
    except (ValueError, OverflowError):
        raise DomainError(DATETIME_RANGE, field=field) from None
    if not datetime(MIN_YEAR, 1, 1, tzinfo=UTC) <= moment <= parse_iso(utc_now_iso()) + MAX_AHEAD:
        raise DomainError(DATETIME_RANGE, field=field)
    return iso_ms(to_ms(moment))


def _check_completed_at(work_order: WorkOrderItem, completed_at: str, now: str) -> None:
    """A completion time given by the client: not in the future, not before creation or start."""
    moment = parse_iso(completed_at)
    if moment > parse_iso(now) + CLOCK_SKEW:
        raise DomainError(COMPLETED_IN_FUTURE, field="completed_at")
    for stored, message in (
        (work_order.created_at, COMPLETED_BEFORE_CREATED),
        (work_order.started_at, COMPLETED_BEFORE_STARTED),
    ):
        try:
            earliest = parse_iso(stored) if stored else None
        except ValueError:  # a value stored before datetimes were checked: nothing to compare
            earliest = None
        if earliest is not None and moment < earliest:
            raise DomainError(message, field="completed_at")


def _local_date(moment_iso: str, tz: str) -> str:
    return datetime.fromisoformat(moment_iso).astimezone(zone(tz)).date().isoformat()


def _not_null(patch: BaseModel, names: tuple[str, ...]) -> None:
    for name in names:
        if name in patch.model_fields_set and getattr(patch, name) is None:
            raise DomainError("This field may not be null.", field=name)


def version_of(work_order: WorkOrderItem) -> int:
    return int(work_order.version or 0)


def _check_version(work_order: WorkOrderItem, expected_version: int | None) -> None:
    """The client's optimistic-concurrency check (PATCH `version` / If-Match).

    Compared with the version as read; the write that follows is conditioned on that same read
    version (VersionAttribute), so together they hold as one DynamoDB condition on the expected one."""
    if expected_version is not None and expected_version != version_of(work_order):
        raise Conflict(STALE_VERSION.format(version=version_of(work_order)), code="stale_version")


def _invalid(message: str) -> DomainError:
    return DomainError(message, code="invalid_transition")


def can_manage(caller: Principal) -> bool:
    return caller.can(Permission.WORK_ORDER_MANAGE)


def _assignee_condition(caller: Principal) -> int | None:
    """The assignee a write must still match: the caller, unless the caller manages work orders."""
    return None if can_manage(caller) else caller.user_id


def _require_executor(caller: Principal, work_order: WorkOrderItem) -> None:
    """Managers execute any work order; technicians only those assigned to them."""
    if not can_manage(caller) and (work_order.assigned_to is None or int(work_order.assigned_to) != caller.user_id):
        raise Forbidden(NOT_ASSIGNEE)


# ---- a tenant's context, loaded once per request ---------------------------------------------


class Lookup:
    """The tenant's time zone and the registry rows the views join, each read at most once."""

    def __init__(self, repo: CmmsRepository) -> None:
        self.repo = repo
        self._assets: dict[int, AssetItem | None] = {}
        self._sites: dict[int, SiteItem | None] = {}

    @cached_property
    def tz(self) -> str:
        tenant = self.repo.registry.get_tenant()
        return tenant.timezone if tenant and tenant.timezone else DEFAULT_TIMEZONE

    @cached_property
    def today(self) -> str:
        return datetime.now(zone(self.tz)).date().isoformat()

    def preload(self) -> Lookup:
        """All assets and sites of the tenant (two queries) for list views."""
        self._assets.update({int(asset.id): asset for asset in self.repo.registry.list_assets()})
        self._sites.update({int(site.id): site for site in self.repo.registry.list_sites()})
        return self

    def asset(self, asset_id: int) -> AssetItem | None:
        if asset_id not in self._assets:
            self._assets[asset_id] = self.repo.registry.get_asset(asset_id)
        return self._assets[asset_id]

    def site(self, site_id: int) -> SiteItem | None:
        if site_id not in self._sites:
            self._sites[site_id] = self.repo.registry.get_site(site_id)
        return self._sites[site_id]

    def site_of(self, asset: AssetItem | None) -> SiteItem | None:
        return self.site(int(asset.site_id)) if asset else None

    def cost_center_of(self, asset: AssetItem | None) -> str | None:
        """The asset's own cost centre, else its site's; None when neither has one."""
        if asset is None:
            return None
        site = self.site_of(asset)
        return asset.cost_center_id or (site.cost_center_id if site else None) or None


# ---- views -----------------------------------------------------------------------------------


def is_overdue(work_order: WorkOrderItem, today: str) -> bool:
    return (
        work_order.status in ACTIVE_STATUSES
        and work_order.scheduled_date is not None
        and work_order.scheduled_date < today
    )


def _list_fields(work_order: WorkOrderItem, look: Lookup) -> dict[str, Any]:
    asset = look.asset(int(work_order.asset_id))
    site = look.site_of(asset)
    return {
        "id": int(work_order.id),
        "number": work_order.number,
        "asset": int(work_order.asset_id),
        "asset_tag": asset.tag if asset else work_order.asset_tag,
        "asset_name": asset.name if asset else work_order.asset_name,
        "site_name": site.name if site else "",
        "type": work_order.wo_type,
        "status": work_order.status,
        "priority": work_order.priority,
        "description": work_order.description,
        "scheduled_date": work_order.scheduled_date,
        "completed_at": work_order.completed_at,
        "assigned_to": int(work_order.assigned_to) if work_order.assigned_to is not None else None,
        "assigned_to_name": work_order.assigned_to_name,
        "is_overdue": is_overdue(work_order, look.today),
        "created_at": work_order.created_at,
        "updated_at": work_order.updated_at,
        "version": version_of(work_order),
    }


def work_order_list_view(work_order: WorkOrderItem, look: Lookup) -> WorkOrderListItem:
    return WorkOrderListItem(**_list_fields(work_order, look))


def work_order_view(work_order: WorkOrderItem, look: Lookup) -> WorkOrder:
    return WorkOrder(
        **_list_fields(work_order, look),
        execution_description=work_order.execution_description,
        started_at=work_order.started_at,
        created_by=int(work_order.created_by) if work_order.created_by is not None else None,
        created_by_name=work_order.created_by_name,
        assigned_role=work_order.assigned_role,
        estimated_hours=_hours(work_order.estimated_hours),
        actual_hours=_hours(work_order.actual_hours),
        # Checklists, photos, WO items, requests and plans are other modules: empty until they land.
        checklist_template=None,
        checklist_template_name=None,
        checklist_template_items=None,
        checklist_responses=[],
        photos=[],
        items=[],
        request=None,
        maintenance_plan=None,
        cancellation_reason=work_order.cancellation_reason,
        signature=work_order.signature,
        signed_by=work_order.signed_by,
        signed_at=work_order.signed_at,
    )


# ---- list, filters and stats -----------------------------------------------------------------


def _choice_error(name: str, value: str) -> DomainError:
    return DomainError(f"Select a valid choice. {value} is not one of the available choices.", field=name)


def _choices(filters: Mapping[str, str | None], name: str, allowed: tuple[str, ...]) -> set[str] | None:
    """`name=X` and `name__in=A,B` (both may be given: both apply). Invalid values are 400."""
    wanted: set[str] | None = None
    exact = filters.get(name)
    if exact:
        if exact not in allowed:
            raise _choice_error(name, exact)
        wanted = {exact}
    many = filters.get(f"{name}__in")
    if many:
        values = [value.strip() for value in many.split(",") if value.strip()]
        for value in values:
            if value not in allowed:
                raise _choice_error(f"{name}__in", value)
        wanted = set(values) if wanted is None else wanted & set(values)
    return wanted


def _int_filter(filters: Mapping[str, str | None], name: str) -> int | None:
    raw = filters.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise DomainError("Enter a number.", field=name) from None


def _date_filter(filters: Mapping[str, str | None], name: str) -> str | None:
    raw = filters.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip()[:10]).isoformat()
    except ValueError:
        raise DomainError("Enter a valid date.", field=name) from None


def _sort_key(name: str) -> Callable[[WorkOrderItem], Any]:
    def key(work_order: WorkOrderItem) -> Any:
        if name == "priority":
            value: Any = PRIORITY_RANK.get(work_order.priority, -1)
        elif name == "type":
            value = work_order.wo_type
        elif name == "id":
            value = int(work_order.id)
        else:
            value = getattr(work_order, name)
        # nulls last ascending, first descending (as PostgreSQL orders them for DRF)
        return (value is None, value, int(work_order.id))

    return key


def _filtered(repo: CmmsRepository, look: Lookup, filters: Mapping[str, str | None]) -> list[WorkOrderItem]:
    statuses = _choices(filters, "status", WORK_ORDER_STATUSES)
    types = _choices(filters, "type", WORK_ORDER_TYPES)
    priorities = _choices(filters, "priority", PRIORITIES)
    asset_id = _int_filter(filters, "asset")
    assigned_to = _int_filter(filters, "assigned_to")
    scheduled = _date_filter(filters, "scheduled_date")
    scheduled_from = _date_filter(filters, "scheduled_date__gte")
    scheduled_to = _date_filter(filters, "scheduled_date__lte")
    cost_center = (filters.get("cost_center") or "").strip()
    search = (filters.get("search") or "").strip()

    rows = repo.list_work_orders()
    if statuses is not None:
        rows = [row for row in rows if row.status in statuses]
    if types is not None:
        rows = [row for row in rows if row.wo_type in types]
    if priorities is not None:
        rows = [row for row in rows if row.priority in priorities]
    if asset_id is not None:
        rows = [row for row in rows if int(row.asset_id) == asset_id]
    if assigned_to is not None:
        rows = [row for row in rows if row.assigned_to is not None and int(row.assigned_to) == assigned_to]
    if scheduled:
        rows = [row for row in rows if row.scheduled_date == scheduled]
    if scheduled_from:
        rows = [row for row in rows if row.scheduled_date is not None and row.scheduled_date >= scheduled_from]
    if scheduled_to:
        rows = [row for row in rows if row.scheduled_date is not None and row.scheduled_date <= scheduled_to]
    if cost_center:
        fallback = default_cost_center_id(repo.tenant)
        rows = [
            row
            for row in rows
            # a completed work order keeps the cost centre its costs went to
            if (row.cost_center_id or look.cost_center_of(look.asset(int(row.asset_id))) or fallback) == cost_center
        ]
    if search:
        rows = [row for row in rows if _contains(search, row.number, row.description, *_asset_texts(row, look))]
    ordering = filters.get("ordering") or "-created_at"
    descending = ordering.startswith("-")
    name = ordering.lstrip("-")
    if name not in WORK_ORDER_ORDERINGS:  # unknown orderings are ignored, as DRF does
        name, descending = "created_at", True
    rows.sort(key=_sort_key(name), reverse=descending)
    return rows


def _asset_texts(work_order: WorkOrderItem, look: Lookup) -> tuple[str, str]:
    asset = look.asset(int(work_order.asset_id))
    return (asset.tag, asset.name) if asset else (work_order.asset_tag, work_order.asset_name)


WORK_ORDER_FILTERS = (
    "status",
    "status__in",
    "type",
    "type__in",
    "priority",
    "priority__in",
    "asset",
    "assigned_to",
    "scheduled_date",
    "scheduled_date__gte",
    "scheduled_date__lte",
    "cost_center",
    "search",
    "ordering",
)


def list_work_orders(repo: CmmsRepository, filters: Mapping[str, str | None]) -> list[WorkOrderListItem]:
    look = Lookup(repo).preload()
    return [work_order_list_view(row, look) for row in _filtered(repo, look, filters)]


def work_order_stats(repo: CmmsRepository, filters: Mapping[str, str | None]) -> WorkOrderStats:
    """Counts over the work orders the same filters select; every key present (0 when none)."""
    look = Lookup(repo).preload()
    rows = _filtered(repo, look, filters)
    statuses = Counter(row.status for row in rows)
    types = Counter(row.wo_type for row in rows)
    priorities = Counter(row.priority for row in rows)
    return WorkOrderStats(
        total=len(rows),
        open=statuses[OPEN],
        in_progress=statuses[IN_PROGRESS],
        completed=statuses[COMPLETED],
        cancelled=statuses[CANCELLED],
        overdue=sum(1 for row in rows if is_overdue(row, look.today)),
        by_type={name.lower(): types[name] for name in WORK_ORDER_TYPES},
        by_priority={name.lower(): priorities[name] for name in PRIORITIES},
    )


def get_work_order(repo: CmmsRepository, work_order_id: int) -> WorkOrder:
    return work_order_view(_require(repo.get_work_order(work_order_id)), Lookup(repo))


# ---- create, update, delete ------------------------------------------------------------------


def _require_asset(look: Lookup, asset_id: int) -> AssetItem:
    asset = look.asset(asset_id)
    if asset is None:
        raise DomainError(f'Invalid pk "{asset_id}" - object does not exist.', field="asset")
    return asset


def _stored_changes(changes: Mapping[str, Any], tz: str) -> dict[str, Any]:
    """Request field → (item attribute, stored value), for the plain (non-status) fields."""
    stored: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "asset":
            stored["asset_id"] = value
        elif name == "type":
            stored["wo_type"] = value
        elif name == "scheduled_date":
            stored[name] = value.isoformat() if value else None
        elif name in ("estimated_hours", "actual_hours"):
            stored[name] = _hours(value)
        elif name in ("started_at", "signed_at"):
            stored[name] = _moment(value, tz, name)
        elif name == "assigned_role":
            stored[name] = (value or "").strip() or DEFAULT_ASSIGNED_ROLE
        elif name in ("status", "completed_at", "cancellation_reason"):
            continue  # set by the transitions only
        else:
            stored[name] = value
    return stored


def new_work_order(
    repo: CmmsRepository,
    look: Lookup,
    asset: AssetItem,
    status: str,
    created_by: int | None,
    created_by_name: str,
    now: str,
) -> WorkOrderItem:
    """A new work order of the asset, with its id and its `OS{YYYYMM}{seq}` number (the month
    in the tenant's time zone) allocated; not yet stored."""
    yyyymm = month_of(now, look.tz).replace("-", "")
    work_order_id = repo.new_work_order_id()
    number = f"OS{yyyymm}{repo.next_number_sequence(yyyymm):04d}"
    return WorkOrderItem(
        id=work_order_id,
        number=number,
        asset_id=int(asset.id),
        asset_tag=asset.tag,
        asset_name=asset.name,
        status=status,
        created_by=created_by,
        created_by_name=created_by_name,
        created_at=now,
        updated_at=now,
    )


def create_work_order(repo: CmmsRepository, caller: Principal, caller_name: str, body: WorkOrderCreate) -> WorkOrder:
    look = Lookup(repo)
    asset = _require_asset(look, body.asset)
    status = body.status or OPEN
    if status not in ACTIVE_STATUSES:
        raise DomainError("A new work order is OPEN or IN_PROGRESS; complete or cancel it afterwards.", field="status")
    if body.completed_at is not None:
        raise DomainError("Set by completing the work order.", field="completed_at")
    now = utc_now_iso()
    item = new_work_order(repo, look, asset, status, caller.user_id or None, caller_name, now)
    for name, value in _stored_changes(body.model_dump(exclude_none=True), look.tz).items():
        setattr(item, name, value)
    if status == IN_PROGRESS and item.started_at is None:
        item.started_at = now
    repo.create_work_order(item)
    return work_order_view(item, look)


def update_work_order(
    repo: CmmsRepository, work_order_id: int, body: WorkOrderPatch, expected_version: int | None = None
) -> WorkOrder:
    """PATCH: plain fields, and status changes by the same rules as the actions.

    `expected_version` (If-Match) and `body.version`: the version the client edited (each checked if given)."""
    work_order = _require(repo.get_work_order(work_order_id))
    _check_version(work_order, expected_version)
    _check_version(work_order, body.version)
    look = Lookup(repo)
    _not_null(body, ("asset", "type", "priority", "description", "status"))
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    stored = _stored_changes(changes, look.tz)
    target = changes.get("status")
    completed_at = _moment(changes.get("completed_at"), look.tz, "completed_at")
    changed = {name for name, value in stored.items() if getattr(work_order, name) != value}
    if work_order.status in FINAL_STATUSES and changed - EDITABLE_WHEN_FINAL:
        raise Conflict(FINAL_IS_FROZEN, code="work_order_closed")
    if completed_at is not None and completed_at != work_order.completed_at and target != COMPLETED:
        raise DomainError("Set by completing the work order.", field="completed_at")
    if "asset_id" in changed:
        asset = _require_asset(look, int(stored["asset_id"]))
        work_order.asset_tag, work_order.asset_name = asset.tag, asset.name
    for name in changed:
        setattr(work_order, name, stored[name])
    work_order.updated_at = utc_now_iso()

    if target is None or target == work_order.status:
        repo.save_work_order(work_order)
        return work_order_view(work_order, look)
    if target == IN_PROGRESS:
        if work_order.status != OPEN:
            raise _invalid(CANNOT_START)
        return _start(repo, look, work_order)
    if target == COMPLETED:
        return _complete(repo, look, work_order, completed_at)
    if target == CANCELLED:
        return _cancel(repo, look, work_order, changes.get("cancellation_reason"))
    raise _invalid(CANNOT_REOPEN)


def delete_work_order(repo: CmmsRepository, work_order_id: int) -> None:
    work_order = _require(repo.get_work_order(work_order_id))
    if work_order.status == COMPLETED:
        raise Conflict(COMPLETED_NOT_DELETABLE, code="work_order_closed")
    repo.delete_work_order(work_order, repo.inputs(work_order_id))


# ---- transitions -----------------------------------------------------------------------------


def start_work_order(
    repo: CmmsRepository,
    caller: Principal,
    work_order_id: int,
    body: StartWorkOrder,
    expected_version: int | None = None,
) -> WorkOrder:
    work_order = _require(repo.get_work_order(work_order_id))
    _require_executor(caller, work_order)
    _check_version(work_order, expected_version)
    if work_order.status != OPEN:
        raise _invalid(CANNOT_START)
    if body.assigned_to is not None:
        if not can_manage(caller) and body.assigned_to != caller.user_id:
            raise Forbidden(SELF_ASSIGN_ONLY)
        if body.assigned_to != work_order.assigned_to:
            work_order.assigned_to = body.assigned_to
            work_order.assigned_to_name = body.assigned_to_name
    if body.assigned_to_name is not None:
        work_order.assigned_to_name = body.assigned_to_name
    role = (body.assigned_role or "").strip()
    if role and role != work_order.assigned_role:
        if not can_manage(caller):
            raise Forbidden(ROLE_FOR_MANAGERS)
        work_order.assigned_role = role
    work_order.updated_at = utc_now_iso()
    return _start(repo, Lookup(repo), work_order)


def _start(repo: CmmsRepository, look: Lookup, work_order: WorkOrderItem) -> WorkOrder:
    work_order.status = IN_PROGRESS
    work_order.started_at = work_order.started_at or work_order.updated_at
    repo.save_work_order(work_order, condition=WorkOrderItem.status == OPEN)
    return work_order_view(work_order, look)


def complete_work_order(
    repo: CmmsRepository,
    caller: Principal,
    work_order_id: int,
    body: CompleteWorkOrder,
    expected_version: int | None = None,
) -> WorkOrder:
    work_order = _require(repo.get_work_order(work_order_id))
    _require_executor(caller, work_order)
    _check_version(work_order, expected_version)
    if work_order.status not in ACTIVE_STATUSES:
        raise _invalid(CANNOT_COMPLETE)
    if body.execution_description is not None:
        work_order.execution_description = body.execution_description
    if body.actual_hours is not None:
        work_order.actual_hours = _hours(body.actual_hours)
    return _complete(repo, Lookup(repo), work_order, None)


def _complete(repo: CmmsRepository, look: Lookup, work_order: WorkOrderItem, completed_at: str | None) -> WorkOrder:
    """Complete a work order read earlier: one transaction with the auto time entry and the event.

    The inputs are read after the work order; the transaction is conditioned on the work order's
    version and on `inputs_version` as read, so the event carries exactly the stored inputs."""
    if work_order.status not in ACTIVE_STATUSES:
        raise _invalid(CANNOT_COMPLETE)
    from_status = work_order.status
    read_inputs_version = int(work_order.inputs_version or 0)
    inputs = repo.inputs(int(work_order.id))
    now = utc_now_iso()
    if completed_at is not None:
        _check_completed_at(work_order, completed_at, now)
    completed_at = completed_at or now
    auto_entry: TimeEntryItem | None = None
    hours = work_order.actual_hours
    if hours is not None and hours > 0 and not inputs.time_entries:
        auto_entry = TimeEntryItem(
            id=str(uuid.uuid4()),
            work_order_id=int(work_order.id),
            role=work_order.assigned_role or DEFAULT_ASSIGNED_ROLE,
            role_code=None,
            hours=_hours(hours),
            work_date=_local_date(completed_at, look.tz),
            hourly_rate=None,
            technician=work_order.assigned_to,
            description="Recorded on completion from the work order's actual hours.",
            auto_created=True,
            created_at=now,
            updated_at=now,
        )
        inputs.time_entries.append(auto_entry)
        work_order.inputs_version = read_inputs_version + 1
        work_order.time_entries_count = len(inputs.time_entries)
    asset = look.asset(int(work_order.asset_id))
    if asset is not None:
        work_order.asset_tag, work_order.asset_name = asset.tag, asset.name
    work_order.cost_center_id = look.cost_center_of(asset) or ensure_default_cost_center(repo.tenant)
    work_order.status = COMPLETED
    work_order.completed_at = completed_at
    work_order.updated_at = now
    event = new_event(
        repo.tenant,
        CLOSED_EVENT,
        "work_order",
        int(work_order.id),
        closed_event_data(work_order, inputs),
        idempotency_key=f"{CLOSED_EVENT}:{int(work_order.id)}",
    )
    repo.complete_work_order(work_order, (from_status,), read_inputs_version, auto_entry, event)
    return work_order_view(work_order, look)


def cancel_work_order(
    repo: CmmsRepository, work_order_id: int, body: CancelWorkOrder, expected_version: int | None = None
) -> WorkOrder:
    work_order = _require(repo.get_work_order(work_order_id))
    _check_version(work_order, expected_version)
    work_order.updated_at = utc_now_iso()
    return _cancel(repo, Lookup(repo), work_order, body.reason)


def _cancel(repo: CmmsRepository, look: Lookup, work_order: WorkOrderItem, reason: str | None) -> WorkOrder:
    if work_order.status in FINAL_STATUSES:
        raise _invalid(CANNOT_CANCEL)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(REASON_REQUIRED, code="reason_required")
    from_status = work_order.status
    work_order.status = CANCELLED
    work_order.cancellation_reason = reason
    repo.save_work_order(work_order, condition=WorkOrderItem.status == from_status)
    return work_order_view(work_order, look)


# ---- the work_order.closed payload and post-costs --------------------------------------------


# EventBridge takes 256 KB per entry. The event carries every cost input (at most
# MAX_INPUTS_PER_KIND of each kind) with its free texts clipped: descriptions to 500 characters
# (the full texts stay on the inputs), and shorter still if the data would exceed the budget.
EVENT_TEXT_LIMITS = (500, 100, 0)
EVENT_DATA_MAX_BYTES = 200 * 1024


def _clip(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[:limit]


def _json_bytes(data: Any) -> int:
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


def closed_event_data(work_order: WorkOrderItem, inputs: WorkOrderInputs) -> dict[str, Any]:
    """The `work_order.closed` event data (the shared contract); decimals as strings.

    Roles, amounts and ids are always whole; descriptions, part and supplier names are clipped
    (500 characters, then 100, then nothing) until the data fits EVENT_DATA_MAX_BYTES."""
    data = _closed_event_data(work_order, inputs, EVENT_TEXT_LIMITS[0])
    for limit in EVENT_TEXT_LIMITS[1:]:
        if _json_bytes(data) <= EVENT_DATA_MAX_BYTES:
            break
        data = _closed_event_data(work_order, inputs, limit)
    return data


def _closed_event_data(work_order: WorkOrderItem, inputs: WorkOrderInputs, limit: int) -> dict[str, Any]:
    return {
        "work_order_id": int(work_order.id),
        "work_order_number": work_order.number,
        "asset_id": int(work_order.asset_id),
        "asset_tag": work_order.asset_tag,
        "cost_center_id": work_order.cost_center_id,
        "work_order_type": work_order.wo_type,
        "category": CATEGORY_OF_TYPE[work_order.wo_type],
        "completed_at": work_order.completed_at,
        "labor": [
            {
                "time_entry_id": entry.id,
                "role": entry.role,
                "role_code": entry.role_code,
                "hours": str(_hours(entry.hours)),
                "hourly_rate": _text(_money(entry.hourly_rate)),
                "technician_id": int(entry.technician) if entry.technician is not None else None,
                "work_date": entry.work_date,
            }
            for entry in inputs.time_entries
        ],
        "parts": [
            {
                "part_usage_id": part.id,
                "part_name": _clip(part.part_name, limit),
                "part_number": _clip(part.part_number, limit),
                "quantity": str(_quantity(part.quantity)),
                "unit": part.unit,
                "unit_cost": str(money(part.unit_cost)),
            }
            for part in inputs.parts
        ],
        "third_party": [
            {
                "external_cost_id": cost.id,
                "cost_type": _clip(cost.cost_type, limit),
                "supplier_name": _clip(cost.supplier_name, limit),
                "description": _clip(cost.description, limit),
                "amount": str(money(cost.amount)),
                "currency": cost.currency,
                "invoice_number": _clip(cost.invoice_number, limit),
            }
            for cost in inputs.external
        ],
    }


def post_costs(repo: CmmsRepository, work_order_id: int) -> PostCostsResult:
    """Post a completed work order's costs now (the cost engine also does it from the event).

    Idempotent: the cost engine's postings carry keys `wo:{id}:labor|parts|third_party`. A role
    without a rate card in force is a 400 `{detail, error, code: "missing_rate_card"}`."""
    work_order = _require(repo.get_work_order(work_order_id))
    if work_order.status != COMPLETED:
        raise _invalid(NOT_COMPLETED)
    data = closed_event_data(work_order, repo.inputs(work_order_id))
    try:
        result = cost_engine.post_work_order_costs(repo.settings, repo.tenant, data)
    except cost_engine.MissingRateCard as error:  # a 400 naming the roles, not the contract's 500
        raise DomainError(error.detail, code="missing_rate_card") from error
    return PostCostsResult(
        success=not result.errors,
        work_order_id=int(work_order.id),
        work_order_number=work_order.number,
        auto_created_entries=[],
        transactions_created=result.transactions_created,
        transactions=list(result.transaction_ids),
        events_published=result.transactions_created,
        skipped=result.skipped,
        errors=list(result.errors),
    )


# ---- cost inputs -----------------------------------------------------------------------------

InputT = TypeVar("InputT", bound=CostInputItem)


def time_entry_view(entry: TimeEntryItem) -> TimeEntry:
    rate = _money(entry.hourly_rate)
    hours = Decimal(entry.hours).quantize(HOURS)
    return TimeEntry(
        id=entry.id,
        work_order=int(entry.work_order_id),
        role=entry.role,
        role_code=entry.role_code,
        hours=hours,
        work_date=entry.work_date,
        hourly_rate=rate,
        technician=int(entry.technician) if entry.technician is not None else None,
        description=entry.description,
        total_cost=money(hours * rate) if rate is not None else None,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
    )


def part_usage_view(part: PartUsageItem) -> PartUsage:
    quantity, unit_cost = _quantity(part.quantity), money(part.unit_cost)
    return PartUsage(
        id=part.id,
        work_order=int(part.work_order_id),
        part_name=part.part_name,
        part_number=part.part_number,
        inventory_item=int(part.inventory_item) if part.inventory_item is not None else None,
        quantity=quantity,
        unit=part.unit,
        unit_cost=unit_cost,
        total_cost=money(quantity * unit_cost),
        created_at=part.created_at,
        updated_at=part.updated_at,
    )


def external_cost_view(cost: ExternalCostItem) -> ExternalCost:
    return ExternalCost(
        id=cost.id,
        work_order=int(cost.work_order_id),
        cost_type=cost.cost_type,
        supplier_name=cost.supplier_name,
        description=cost.description,
        amount=money(cost.amount),
        currency=cost.currency,
        invoice_number=cost.invoice_number,
        invoice_date=cost.invoice_date,
        created_at=cost.created_at,
        updated_at=cost.updated_at,
    )


class InputKind:
    """One kind of cost input: its item, its view and how request fields are stored."""

    def __init__(
        self,
        model: type[CostInputItem],
        view: Callable[[Any], BaseModel],
        not_null: tuple[str, ...],
        store: Callable[[str, Any], Any],
    ) -> None:
        self.model = model
        self.view = view
        self.not_null = not_null
        self.store = store


def _store_time_entry(name: str, value: Any) -> Any:
    if name == "hours":
        return _hours(value)
    if name == "hourly_rate":
        return _money(value)
    if name == "work_date":
        return value.isoformat()
    return value


def _store_part_usage(name: str, value: Any) -> Any:
    if name == "quantity":
        return _quantity(value)
    if name == "unit_cost":
        return money(value)
    return value


def _store_external_cost(name: str, value: Any) -> Any:
    if name == "amount":
        return money(value)
    if name == "invoice_date":
        return value.isoformat() if value else None
    return value


TIME_ENTRIES = InputKind(
    TimeEntryItem, time_entry_view, ("role", "hours", "work_date", "description"), _store_time_entry
)
PART_USAGES = InputKind(
    PartUsageItem, part_usage_view, ("part_name", "part_number", "quantity", "unit", "unit_cost"), _store_part_usage
)
EXTERNAL_COSTS = InputKind(
    ExternalCostItem,
    external_cost_view,
    ("cost_type", "supplier_name", "description", "amount", "currency"),
    _store_external_cost,
)


def list_inputs(repo: CmmsRepository, kind: InputKind, filters: Mapping[str, str | None]) -> list[BaseModel]:
    work_order_id = _int_filter(filters, "work_order")
    if work_order_id is not None:
        rows: list[CostInputItem] = list(repo.inputs_of(kind.model, work_order_id))
    else:
        rows = list(repo.list_inputs(kind.model))
    rows.sort(key=lambda row: (row.created_at, row.id))
    return [kind.view(row) for row in rows]


def _find(repo: CmmsRepository, kind: InputKind, input_id: str) -> CostInputItem:
    try:
        uuid.UUID(input_id)
    except ValueError:
        raise NotFound(NOT_FOUND) from None
    return _require(repo.find_input(kind.model, input_id))


def get_input(repo: CmmsRepository, kind: InputKind, input_id: str) -> BaseModel:
    return kind.view(_find(repo, kind, input_id))


def _editable_work_order(
    repo: CmmsRepository, caller: Principal, work_order_id: int, field: str | None
) -> WorkOrderItem:
    work_order = repo.get_work_order(work_order_id)
    if work_order is None:
        if field:
            raise DomainError(f'Invalid pk "{work_order_id}" - object does not exist.', field=field)
        raise NotFound(NOT_FOUND)
    _require_executor(caller, work_order)
    if work_order.status not in ACTIVE_STATUSES:
        raise Conflict(
            "The work order is completed or cancelled: its cost inputs can no longer be changed.",
            code="work_order_closed",
        )
    return work_order


def _rate_for_managers(caller: Principal, kind: InputKind, value: Any, current: Any = None) -> None:
    """Technicians may not set a time entry's hourly rate (sending it unchanged is fine)."""
    if kind is TIME_ENTRIES and value is not None and not can_manage(caller) and _money(value) != current:
        raise Forbidden(RATE_FOR_MANAGERS)


def create_input(repo: CmmsRepository, caller: Principal, kind: InputKind, body: BaseModel) -> BaseModel:
    values = body.model_dump()
    _rate_for_managers(caller, kind, values.get("hourly_rate"))
    work_order = _editable_work_order(repo, caller, int(values.pop("work_order")), "work_order")
    now = utc_now_iso()
    row = kind.model(
        id=str(uuid.uuid4()),
        work_order_id=int(work_order.id),
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    for name, value in values.items():
        if value is not None:
            setattr(row, name, kind.store(name, value))
    repo.write_input(work_order, row, create=True, assignee=_assignee_condition(caller))
    return kind.view(row)


def update_input(repo: CmmsRepository, caller: Principal, kind: InputKind, input_id: str, body: BaseModel) -> BaseModel:
    row = _find(repo, kind, input_id)
    _not_null(body, ("work_order", *kind.not_null))
    changes = body.model_dump(exclude_unset=True)
    moved = changes.pop("work_order", None)
    if moved is not None and moved != int(row.work_order_id):
        raise DomainError("A cost input cannot move to another work order.", field="work_order")
    if "hourly_rate" in changes and not can_manage(caller):
        _rate_for_managers(caller, kind, changes["hourly_rate"], _money(getattr(row, "hourly_rate", None)))
        changes.pop("hourly_rate")  # a technician's null leaves a manager's rate as it is
    work_order = _editable_work_order(repo, caller, int(row.work_order_id), None)
    for name, value in changes.items():
        setattr(row, name, kind.store(name, value) if value is not None else None)
    row.updated_at = utc_now_iso()
    repo.write_input(work_order, row, assignee=_assignee_condition(caller))
    return kind.view(row)


def delete_input(repo: CmmsRepository, caller: Principal, kind: InputKind, input_id: str) -> None:
    row = _find(repo, kind, input_id)
    work_order = _editable_work_order(repo, caller, int(row.work_order_id), None)
    repo.write_input(work_order, row, delete=True, assignee=_assignee_condition(caller))
