"""Cost centres (API.md §5.1): a hierarchy with codes unique per tenant, and the one way every
ledger rule resolves the cost centre a request names.

Plain functions over a tenant-scoped `LedgerRepository`; ids of another tenant are simply not
found.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from climatrak.core.errors import DomainError
from climatrak.core.identity import Principal
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.items import CostCenterItem, default_cost_center_id
from climatrak.ledger.models import CostCenter, CostCenterCreate, CostCenterPatch
from climatrak.ledger.parsing import contains, invalid_pk, not_null, optional, ordered, parse_bool, reference, require
from climatrak.ledger.repository import HAS_CHILDREN, IN_USE, LedgerRepository
from climatrak.ledger.store import LedgerStore

COST_CENTER_ORDERINGS = {"code", "name", "created_at", "updated_at", "level"}


@dataclass
class CostCenters:
    """A tenant's cost centres, loaded once per request (hierarchy walks happen in memory)."""

    items: dict[str, CostCenterItem]

    @classmethod
    def load(cls, repo: LedgerStore) -> CostCenters:
        return cls({item.id: item for item in repo.list_cost_centers()})

    @cached_property
    def children(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = defaultdict(list)
        for item in self.items.values():
            if item.parent_id:
                grouped[item.parent_id].append(item.id)
        return grouped

    def chain(self, cost_center_id: str) -> list[CostCenterItem]:
        """The cost centre and its ancestors, nearest first (stops on a broken or cyclic chain)."""
        chain: list[CostCenterItem] = []
        seen: set[str] = set()
        current: str | None = cost_center_id
        while current and current in self.items and current not in seen:
            seen.add(current)
            chain.append(self.items[current])
            current = self.items[current].parent_id
        return chain

    def descendants(self, cost_center_id: str) -> set[str]:
        """The cost centre and everything below it."""
        found, pending = {cost_center_id}, [cost_center_id]
        while pending:
            for child in self.children.get(pending.pop(), []):
                if child not in found:
                    found.add(child)
                    pending.append(child)
        return found

    def name(self, cost_center_id: str | None) -> str | None:
        item = self.items.get(cost_center_id or "")
        return item.name if item else None

    def code(self, cost_center_id: str | None) -> str | None:
        item = self.items.get(cost_center_id or "")
        return item.code if item else None


# ---- resolving a request's cost centre -------------------------------------------------------


def named_cost_center(repo: LedgerStore, raw: str | None, field: str) -> CostCenterItem | None:
    """The cost centre a request body names by UUID (None when it names none): a malformed id or
    one the tenant does not have is a field error."""
    cost_center_id = reference(raw, field)
    if cost_center_id is None:
        return None
    item = repo.get_cost_center(cost_center_id)
    if item is None:
        raise invalid_pk(cost_center_id, field)
    return item


def resolve_cost_center(repo: LedgerStore, raw: str | None, field: str, *, default: bool = False) -> str:
    """The id of the cost centre a request names; with `default`, naming none (absent or blank)
    means the tenant's default cost centre (created on first need)."""
    if default and not (raw or "").strip():
        return require(repo.get_cost_center(default_cost_center_id(repo.tenant))).id
    return require(named_cost_center(repo, raw or "", field)).id


# ---- the API -----------------------------------------------------------------------------------


def cost_center_view(item: CostCenterItem, centers: CostCenters) -> CostCenter:
    chain = centers.chain(item.id)
    return CostCenter(
        id=item.id,
        code=item.code,
        name=item.name,
        description=item.description,
        parent_id=item.parent_id,
        parent_name=centers.name(item.parent_id),
        level=len(chain) - 1,
        full_path=" > ".join(node.name for node in reversed(chain)),
        children_count=len(centers.children.get(item.id, [])),
        tags=list(item.tags or []),
        is_active=bool(item.is_active),
        is_default=bool(item.is_default),
        created_at=item.created_at,
        updated_at=item.updated_at,
        created_by=int(item.created_by) if item.created_by is not None else None,
    )


def list_cost_centers(repo: LedgerRepository, filters: Mapping[str, str | None]) -> list[CostCenter]:
    centers = CostCenters.load(repo)
    rows = list(centers.items.values())
    for name in ("code", "name"):
        wanted = filters.get(name)
        if wanted:
            rows = [row for row in rows if wanted.lower() in getattr(row, name).lower()]
    parent = filters.get("parent") or filters.get("parent_id")
    if parent:
        rows = [row for row in rows if row.parent_id == parent]
    is_root = optional(parse_bool, filters.get("is_root"), "is_root")
    if is_root is not None:
        rows = [row for row in rows if (row.parent_id is None) == is_root]
    is_active = optional(parse_bool, filters.get("is_active"), "is_active")
    if is_active is not None:
        rows = [row for row in rows if bool(row.is_active) == is_active]
    tag = filters.get("has_tag")
    if tag:
        rows = [row for row in rows if tag in (row.tags or [])]
    search = filters.get("search")
    if search:
        rows = [row for row in rows if contains(search, row.code, row.name, row.description)]
    views = [cost_center_view(row, centers) for row in rows]
    views.sort(key=lambda view: view.name.lower())
    return ordered(views, filters.get("ordering"), "code", COST_CENTER_ORDERINGS)


def get_cost_center(repo: LedgerRepository, cost_center_id: str) -> CostCenter:
    item = require(repo.get_cost_center(cost_center_id))
    return cost_center_view(item, CostCenters.load(repo))


def _code(raw: str) -> str:
    if not raw.strip():
        raise DomainError("This field may not be blank.", field="code")
    return raw.strip()


def create_cost_center(repo: LedgerRepository, caller: Principal, body: CostCenterCreate) -> CostCenter:
    parent = named_cost_center(repo, body.parent_id, "parent_id")
    now = utc_now_iso()
    item = CostCenterItem(
        id=str(uuid.uuid4()),
        code=_code(body.code),
        name=body.name.strip(),
        description=body.description,
        parent_id=parent.id if parent else None,
        tags=list(body.tags),
        is_active=body.is_active,
        is_default=False,
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    repo.create_cost_center(item, parent)
    return cost_center_view(item, CostCenters.load(repo))


def update_cost_center(repo: LedgerRepository, cost_center_id: str, body: CostCenterPatch) -> CostCenter:
    item = require(repo.get_cost_center(cost_center_id))
    not_null(body, ("code", "name", "description", "tags", "is_active"))
    centers = CostCenters.load(repo)
    previous_code = item.code
    original_parent = item.parent_id
    ancestors: list[CostCenterItem] = []
    if "parent_id" in body.model_fields_set:
        parent_id = reference(body.parent_id, "parent_id")
        if parent_id and parent_id != item.parent_id:
            parent = require(named_cost_center(repo, parent_id, "parent_id"))
            centers.items[parent.id] = parent
            if parent_id in centers.descendants(item.id):
                raise DomainError("A cost center cannot be placed under itself or its descendants.", field="parent_id")
            ancestors = centers.chain(parent_id)
        item.parent_id = parent_id
    if body.code is not None:
        item.code = _code(body.code)
    if body.name is not None:
        item.name = body.name.strip()
    if body.description is not None:
        item.description = body.description
    if body.tags is not None:
        item.tags = list(body.tags)
    if body.is_active is not None:
        item.is_active = body.is_active
    item.updated_at = utc_now_iso()
    # a parent it leaves loses a child (not one already gone: a broken chain from older data)
    kept = original_parent == item.parent_id or original_parent in centers.items
    repo.save_cost_center(item, previous_code, ancestors, original_parent if kept else None)
    centers.items[item.id] = item
    centers.__dict__.pop("children", None)
    return cost_center_view(item, centers)


def delete_cost_center(repo: LedgerRepository, cost_center_id: str) -> None:
    """Refused (400) for the default cost centre, one with children, and one that ever carried a
    posting, an envelope, a commitment or a savings event. The rules are conditions of the
    delete itself (`in_use`, `children_count`), so a posting or a child that lands after the
    read below still refuses it; the read only gives the early answer."""
    item = require(repo.get_cost_center(cost_center_id))
    if item.is_default or item.id == default_cost_center_id(repo.tenant):
        raise DomainError("The default cost center cannot be deleted.", code="protected")
    if (item.children_count or 0) > 0:
        raise DomainError(HAS_CHILDREN, code="protected")
    if item.in_use:
        raise DomainError(IN_USE, code="protected")
    parent_exists = bool(item.parent_id) and repo.get_cost_center(item.parent_id or "") is not None
    repo.delete_cost_center(item, parent_exists=parent_exists)
