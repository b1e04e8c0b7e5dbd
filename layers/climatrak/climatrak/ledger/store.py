"""What both ledger repositories stand on (docs/access-patterns.md, "CMMS and TrakLedger"): the
tenant's keys and time zone, consistent reads by key, the reference data every ledger rule looks
up (cost centres, rate cards, month locks) and the one way to write a TransactWrite.

`LedgerStore.transaction()` yields a `TaggedWrite`: a TransactWrite that remembers a tag per
operation, in the order DynamoDB reports cancellation reasons (PynamoDB sends condition checks,
deletes, puts, then updates). DynamoDB's own contention (another transaction holds one of the
items, e.g. a summary row) is retried with a jittered pause; a failed condition becomes
`TransactionRefused` naming the tags whose condition failed, for the caller to map (a locked
month, a key already used, a stale version).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from time import sleep
from typing import Any, TypeVar

from pynamodb.constants import KEY
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from climatrak.core.config import DEFAULT_TIMEZONE, Settings
from climatrak.core.errors import Conflict
from climatrak.core.items import MainItem, bind_main_table, failed_positions, transaction_connection
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.items import (
    CostCenterItem,
    LedgerKeys,
    LedgerMonthItem,
    RateCardItem,
    default_cost_center_id,
    ensure_default_cost_center,
)
from climatrak.registry.items import AssetItem
from climatrak.registry.repository import RegistryRepository

M = TypeVar("M", bound=MainItem)

STALE_WRITE = "This record was changed by someone else; reload it and try again."
BUSY = "The ledger is busy; try again."
# DynamoDB's limit on the operations of one TransactWriteItems request.
MAX_TRANSACTION_ITEMS = 100
# Commits cancelled only by contention (TransactionConflict, throttling; moto never raises them).
CONTENTION_ATTEMPTS = 12
CONTENTION_CODES = frozenset({"TransactionConflict", "ThrottlingError"})


class TransactionRefused(Exception):
    """A TransactWrite cancelled because conditions failed. `tags` name the operations whose
    condition failed (e.g. `month:2026-03`, `key:wo:12:labor`, `item`)."""

    def __init__(self, tags: set[str]) -> None:
        super().__init__(f"transaction refused: {sorted(tags)}")
        self.tags = tags


class TaggedWrite(TransactWrite):
    """A TransactWrite that remembers a tag per operation (`tag=`; operations added by shared
    helpers such as `add_to_outbox` and `ProjectionDeltas.write` are untagged)."""

    def __init__(self) -> None:
        super().__init__(connection=transaction_connection())
        self._checks: list[str] = []
        self._deletes: list[str] = []
        self._puts: list[str] = []
        self._updates: list[str] = []

    def condition_check(
        self,
        model_cls: type[Model],
        hash_key: Any,
        range_key: Any = None,
        condition: Condition | None = None,
        *,
        tag: str = "",
    ) -> None:
        super().condition_check(model_cls, hash_key, range_key, condition)
        self._checks.append(tag)

    def delete(
        self, model: Any, condition: Condition | None = None, *, add_version_condition: bool = True, tag: str = ""
    ) -> None:
        super().delete(model, condition, add_version_condition=add_version_condition)
        self._deletes.append(tag)

    def save(
        self, model: Any, condition: Condition | None = None, return_values: str | None = None, *, tag: str = ""
    ) -> None:
        super().save(model, condition, return_values)
        self._puts.append(tag)

    def update(
        self,
        model: Any,
        actions: list[Action],
        condition: Condition | None = None,
        return_values: str | None = None,
        *,
        add_version_condition: bool = True,
        tag: str = "",
    ) -> None:
        super().update(model, actions, condition, return_values, add_version_condition=add_version_condition)
        self._updates.append(tag)

    def update_attributes(
        self,
        model_cls: type[Model],
        hash_key: str,
        range_key: str,
        actions: list[Action],
        condition: Condition | None = None,
        *,
        tag: str = "",
    ) -> None:
        """An Update by key that writes only `actions`: unlike `update`, it neither checks nor
        moves the model's VersionAttribute (for attributes DynamoDB keeps, such as a cost
        centre's `in_use` flag and `children_count`, which are not edits of the item)."""
        hash_value, range_value = model_cls._serialize_keys(hash_key, range_key)
        operation = model_cls._get_connection().get_operation_kwargs(
            hash_value, range_key=range_value, key=KEY, actions=actions, condition=condition
        )
        self._update_items.append(operation)
        self._updates.append(tag)

    @property
    def size(self) -> int:
        return len(self._checks) + len(self._deletes) + len(self._puts) + len(self._updates)

    def failed_tags(self, error: TransactWriteError) -> set[str]:
        order = self._checks + self._deletes + self._puts + self._updates
        return {order[index] if index < len(order) else "other" for index in failed_positions(error)}

    def _commit(self) -> Any:
        """Commit (PynamoDB's `Transaction.__exit__` calls this); a cancellation caused only by
        contention is sent again as is (its conditions are evaluated afresh) after a jittered
        exponential pause, and turns into 409 busy if it lasts."""
        for attempt in range(CONTENTION_ATTEMPTS):
            try:
                return super()._commit()
            except TransactWriteError as error:
                if not _contended_only(error):
                    raise
                if attempt + 1 == CONTENTION_ATTEMPTS:
                    raise Conflict(BUSY, code="busy") from error
                sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))  # noqa: S311 - jitter, not crypto
        raise AssertionError("unreachable")


def _contended_only(error: TransactWriteError) -> bool:
    codes = {reason.code for reason in error.cancellation_reasons if reason is not None}
    return bool(codes) and codes <= CONTENTION_CODES


@dataclass(frozen=True)
class MonthState:
    """A month's lock item (`LEDGERMONTH#{YYYY-MM}`); absent means open and without postings."""

    month: str
    locked: bool
    locked_at: str | None
    locked_by: int | None
    updated_at: str | None


def _month_state(item: LedgerMonthItem) -> MonthState:
    locked_by = None if item.locked_by is None else int(item.locked_by)
    return MonthState(item.month, bool(item.locked), item.locked_at, locked_by, item.updated_at)


def is_locked(states: Mapping[str, MonthState], month: str) -> bool:
    state = states.get(month[:7])
    return bool(state and state.locked)


def month_open_condition() -> Condition:
    """The month item is absent or unlocked."""
    return LedgerMonthItem.pk.does_not_exist() | (LedgerMonthItem.locked == False)  # noqa: E712


class LedgerStore:
    def __init__(self, tenant: str, settings: Settings) -> None:
        if not tenant:
            raise ValueError("a tenant is required to build ledger keys")
        self.tenant = tenant
        self.settings = settings
        self.keys = LedgerKeys(tenant)
        self.pk = self.keys.pk
        bind_main_table(settings.main_table)

    # ---- reads -------------------------------------------------------------------------

    def _get(self, model: type[M], sk: str, pk: str | None = None) -> M | None:
        try:
            return model.get(pk or self.pk, sk, consistent_read=True)
        except model.DoesNotExist:
            return None

    def _query(self, model: type[M], prefix: str, pk: str | None = None) -> list[M]:
        return list(model.query(pk or self.pk, model.sk.startswith(prefix), consistent_read=True))

    # ---- writes ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[TaggedWrite]:
        """One TransactWrite; failed conditions become TransactionRefused with their tags."""
        tw = TaggedWrite()
        try:
            with tw:
                yield tw
                if tw.size > MAX_TRANSACTION_ITEMS:
                    raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} operations")
        except TransactWriteError as error:
            failed = tw.failed_tags(error)
            if not failed:
                raise
            raise TransactionRefused(failed) from error

    def check_month_open(self, tw: TaggedWrite, month: str) -> None:
        """Inside a transaction: month `YYYY-MM` must be open (tag `month:{month}`)."""
        month = month[:7]
        tw.condition_check(
            LedgerMonthItem, self.pk, self.keys.month(month), condition=month_open_condition(), tag=f"month:{month}"
        )

    def use_cost_center(self, tw: TaggedWrite, cost_center_id: str, tag: str) -> None:
        """Inside a transaction that makes something reference the cost centre (a posting, an
        envelope, a commitment, a savings event): the cost centre must exist, and from now on
        it is `in_use` (which a delete is conditioned on). One operation per cost centre and
        transaction: DynamoDB refuses two on one item. It exists is the whole check —
        `is_active` is not: a deactivated cost centre keeps receiving the costs of its assets."""
        tw.update_attributes(
            CostCenterItem,
            self.pk,
            self.keys.cost_center(cost_center_id),
            actions=[CostCenterItem.in_use.set(True)],
            condition=CostCenterItem.pk.exists(),
            tag=tag,
        )

    def count_children(
        self, tw: TaggedWrite, cost_center_id: str, delta: int, tag: str, condition: Condition | None = None
    ) -> None:
        """Inside a child's create / re-parent / delete: ADD `delta` to the parent's
        `children_count`, on condition that the parent exists (and `condition`)."""
        exists = CostCenterItem.pk.exists()
        tw.update_attributes(
            CostCenterItem,
            self.pk,
            self.keys.cost_center(cost_center_id),
            actions=[CostCenterItem.children_count.add(delta)],
            condition=exists if condition is None else exists & condition,
            tag=tag,
        )

    # ---- the tenant ----------------------------------------------------------------------

    @cached_property
    def timezone(self) -> str:
        """The tenant's time zone (business days and months)."""
        tenant = RegistryRepository(self.tenant, self.settings).get_tenant()
        return (tenant.timezone if tenant else None) or DEFAULT_TIMEZONE

    # ---- month locks ---------------------------------------------------------------------

    def month_states(self) -> dict[str, MonthState]:
        """Every month that has postings or was ever locked, by `YYYY-MM` (strongly consistent)."""
        return {item.month: _month_state(item) for item in self._query(LedgerMonthItem, "LEDGERMONTH#")}

    def set_month_lock(self, month: str, locked: bool, user_id: int | None) -> MonthState:
        """Lock or unlock month `YYYY-MM`: one unconditional update of the item every change of
        the month's postings and budgets checks. Re-locking a locked month keeps its original
        locked_at/locked_by."""
        now = utc_now_iso()
        item = LedgerMonthItem(self.pk, self.keys.month(month))
        actions: list[Action] = [
            LedgerMonthItem.kind.set(LedgerMonthItem),
            LedgerMonthItem.month.set(month),
            LedgerMonthItem.locked.set(locked),
            LedgerMonthItem.updated_at.set(now),
        ]
        if locked:
            actions.append(LedgerMonthItem.locked_at.set(LedgerMonthItem.locked_at | now))
            if user_id:
                actions.append(LedgerMonthItem.locked_by.set(LedgerMonthItem.locked_by | user_id))
        else:
            actions += [LedgerMonthItem.locked_at.remove(), LedgerMonthItem.locked_by.remove()]
        item.update(actions=actions)
        return _month_state(item)

    # ---- reference data ------------------------------------------------------------------

    def list_cost_centers(self) -> list[CostCenterItem]:
        rows = self._query(CostCenterItem, "CC#")
        default_id = default_cost_center_id(self.tenant)
        if not any(row.id == default_id for row in rows):
            ensure_default_cost_center(self.tenant)
            default = self._get(CostCenterItem, self.keys.cost_center(default_id))
            rows += [default] if default else []
        return rows

    def get_cost_center(self, cost_center_id: str) -> CostCenterItem | None:
        """The cost centre, or None. The tenant's default one is created on first need."""
        item = self._get(CostCenterItem, self.keys.cost_center(cost_center_id))
        if item is None and cost_center_id == default_cost_center_id(self.tenant):
            ensure_default_cost_center(self.tenant)
            item = self._get(CostCenterItem, self.keys.cost_center(cost_center_id))
        return item

    def list_rate_cards(self) -> list[RateCardItem]:
        return self._query(RateCardItem, "RATECARD#")

    def assets(self, asset_ids: Iterable[int | float | None]) -> dict[int, AssetItem]:
        """The tenant's assets among `asset_ids`, by id (one BatchGet; unknown ids are absent)."""
        wanted = sorted({int(asset_id) for asset_id in asset_ids if asset_id is not None})
        if not wanted:
            return {}
        found = AssetItem.batch_get([(self.pk, RegistryRepository.asset_sk(asset_id)) for asset_id in wanted])
        return {int(asset.id): asset for asset in found}
