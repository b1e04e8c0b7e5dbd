"""Tenant-scoped data access for ledger postings, month locks and their reads
(docs/access-patterns.md, "CMMS and TrakLedger").

Every key comes from `LedgerKeys(tenant)`. Writes that must hold together (a posting, its key
guard, its work-order link, its projection deltas, its outbox event and the month's lock
check) go into one TransactWrite; `TaggedWrite` remembers which operation is which so a
refused transaction tells the caller *why* (a locked month, a key already used, a stale
version) instead of a bare index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from climatrak.cmms.repository import CmmsRepository
from climatrak.core.config import DEFAULT_TIMEZONE, Settings
from climatrak.core.events import EventEnvelope, add_to_outbox
from climatrak.core.items import MainItem, bind_main_table, transaction_connection
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.items import (
    CostCenterItem,
    LedgerKeyGuard,
    LedgerKeys,
    LedgerMonthItem,
    RateCardItem,
    TransactionItem,
    WorkOrderTransactionLink,
)
from climatrak.ledger.projection import ProjectionDeltas
from climatrak.registry.items import AssetItem
from climatrak.registry.repository import RegistryRepository

# DynamoDB's limit on the operations of one TransactWriteItems request.
MAX_TRANSACTION_ITEMS = 100
# Key-condition bounds that sort below / above every ISO timestamp sort key.
SK_FLOOR = "0"
SK_CEILING = "~"


class TransactionRefused(Exception):
    """A TransactWrite cancelled by DynamoDB. `tags` name the operations whose condition failed
    (e.g. `month:2026-03`, `key:wo:12:labor`, `item`); `contention` is True when DynamoDB
    cancelled it because another transaction touched the same items (retry as is)."""

    def __init__(self, tags: set[str], contention: bool) -> None:
        super().__init__(f"transaction refused: {sorted(tags) or 'contention'}")
        self.tags = tags
        self.contention = contention


class TaggedWrite:
    """A TransactWrite that records a tag per operation, in the order DynamoDB receives them
    (PynamoDB sends condition checks, then deletes, then puts, then updates)."""

    def __init__(self, transaction: TransactWrite) -> None:
        self.transaction = transaction
        self._checks: list[str] = []
        self._deletes: list[str] = []
        self._puts: list[str] = []
        self._updates: list[str] = []

    def condition_check(self, tag: str, model: type[Model], pk: str, sk: str, condition: Condition) -> None:
        self.transaction.condition_check(model, pk, sk, condition=condition)
        self._checks.append(tag)

    def delete(self, tag: str, item: MainItem, condition: Condition | None = None) -> None:
        self.transaction.delete(item, condition=condition)
        self._deletes.append(tag)

    def save(self, tag: str, item: MainItem, condition: Condition | None = None) -> None:
        self.transaction.save(item, condition=condition)
        self._puts.append(tag)

    def outbox(self, envelope: EventEnvelope) -> None:
        add_to_outbox(self.transaction, envelope)
        self._puts.append("outbox")

    def projection(self, deltas: ProjectionDeltas) -> None:
        before = len(self.transaction._update_items)
        deltas.write(self.transaction)
        self._updates.extend(["projection"] * (len(self.transaction._update_items) - before))

    @property
    def size(self) -> int:
        return len(self._checks) + len(self._deletes) + len(self._puts) + len(self._updates)

    def tags(self) -> list[str]:
        return [*self._checks, *self._deletes, *self._puts, *self._updates]


@dataclass(frozen=True)
class MonthState:
    month: str
    locked: bool
    locked_at: str | None
    locked_by: int | None
    updated_at: str | None


class PostingRepository:
    def __init__(self, tenant: str, settings: Settings) -> None:
        if not tenant:
            raise ValueError("a tenant is required to build ledger keys")
        self.tenant = tenant
        self.settings = settings
        self.keys = LedgerKeys(tenant)
        self.pk = self.keys.pk
        bind_main_table(settings.main_table)

    # ---- tenant ------------------------------------------------------------------------

    @cached_property
    def timezone(self) -> str:
        tenant = RegistryRepository(self.tenant, self.settings).get_tenant()
        return tenant.timezone if tenant and tenant.timezone else DEFAULT_TIMEZONE

    # ---- months ------------------------------------------------------------------------

    def month_states(self) -> dict[str, MonthState]:
        """Every month that has postings or was ever locked (strongly consistent)."""
        items = LedgerMonthItem.query(self.pk, LedgerMonthItem.sk.startswith("LEDGERMONTH#"), consistent_read=True)
        return {
            item.month: MonthState(item.month, bool(item.locked), item.locked_at, _int(item.locked_by), item.updated_at)
            for item in items
        }

    def set_month_lock(self, month: str, locked: bool, user_id: int | None) -> MonthState:
        """Lock or unlock a month (`YYYY-MM`): one unconditional update of the item every
        posting checks. Re-locking a locked month keeps its original locked_at/locked_by."""
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
        return MonthState(month, bool(item.locked), item.locked_at, _int(item.locked_by), item.updated_at)

    def month_open(self, tagged: TaggedWrite, month: str) -> None:
        """Inside a posting's transaction: the month must be open. Puts the month's item as an
        open marker on condition `attribute_not_exists OR locked = false` — one operation that
        checks the lock without a read, and records that the month has postings (listings walk
        the months that have an item). Overwriting an open month's item loses nothing: unlocking
        removes locked_at/locked_by. A locked month refuses the whole transaction."""
        marker = LedgerMonthItem(self.pk, self.keys.month(month), month=month, locked=False, updated_at=utc_now_iso())
        condition = LedgerMonthItem.pk.does_not_exist() | (LedgerMonthItem.locked == False)  # noqa: E712
        tagged.save(f"month:{month}", marker, condition=condition)

    # ---- idempotency keys --------------------------------------------------------------

    def guards(self, keys: Iterable[str]) -> dict[str, LedgerKeyGuard]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        pk = self.keys.ledger_keys()
        return {
            guard.sk: guard for guard in LedgerKeyGuard.batch_get([(pk, key) for key in wanted], consistent_read=True)
        }

    def guard_item(self, key: str, transaction: TransactionItem) -> LedgerKeyGuard:
        return LedgerKeyGuard(
            self.keys.ledger_keys(),
            key,
            transaction_id=transaction.id,
            month=transaction.month,
            ledger_sk=transaction.sk,
        )

    # ---- transactions ------------------------------------------------------------------

    def ledger_pk(self, month: str) -> str:
        return self.keys.ledger(month)

    def get_at(self, pk: str, sk: str) -> TransactionItem | None:
        if not pk.startswith(self.pk + "#LEDGER#"):
            return None
        try:
            return TransactionItem.get(pk, sk, consistent_read=True)
        except TransactionItem.DoesNotExist:
            return None

    def get_transaction(self, transaction_id: str) -> TransactionItem | None:
        """By id: gsi1 finds the keys, then a consistent read of the item itself."""
        for hit in TransactionItem.by_id.query(self.keys.transaction_index(transaction_id), limit=1):
            return self.get_at(hit.pk, hit.sk)
        return None

    def by_guard(self, guard: LedgerKeyGuard) -> TransactionItem | None:
        if guard.ledger_sk:
            return self.get_at(self.keys.ledger(guard.month), guard.ledger_sk)
        return self.get_transaction(guard.transaction_id)

    def by_guards(self, guards: Sequence[LedgerKeyGuard]) -> dict[str, TransactionItem]:
        """The postings some key guards point at, by transaction id (one consistent BatchGet)."""
        located = [(self.keys.ledger(guard.month), guard.ledger_sk) for guard in guards if guard.ledger_sk]
        found = {item.id: item for item in self.batch_transactions(located)}
        for guard in guards:
            if guard.transaction_id not in found and (item := self.by_guard(guard)) is not None:
                found[item.id] = item
        return found

    def batch_transactions(self, locations: Iterable[tuple[str, str]]) -> list[TransactionItem]:
        wanted = sorted({(pk, sk) for pk, sk in locations if pk.startswith(self.pk + "#LEDGER#")})
        if not wanted:
            return []
        return list(TransactionItem.batch_get(wanted, consistent_read=True))

    def query_month(
        self, month: str, low: str | None, high: str | None, descending: bool, page_size: int
    ) -> Iterator[TransactionItem]:
        """A month's postings with `low <= sk <= high`, in sk order (reversed if descending)."""
        condition = TransactionItem.sk.between(low or SK_FLOOR, high or SK_CEILING)
        return TransactionItem.query(
            self.keys.ledger(month),
            condition,
            scan_index_forward=not descending,
            page_size=page_size,
        )

    def work_order_links(self, work_order_id: int) -> list[WorkOrderTransactionLink]:
        """A work order's postings (the WO costs tab), read consistently."""
        return list(
            WorkOrderTransactionLink.query(
                self.keys.work_order(work_order_id),
                WorkOrderTransactionLink.sk.startswith("TX#"),
                consistent_read=True,
            )
        )

    def link_item(self, transaction: TransactionItem) -> WorkOrderTransactionLink:
        assert transaction.work_order_id is not None
        return WorkOrderTransactionLink(
            self.keys.work_order(int(transaction.work_order_id)),
            f"TX#{transaction.id}",
            transaction_id=transaction.id,
            ledger_pk=transaction.pk,
            ledger_sk=transaction.sk,
        )

    # ---- reference data ----------------------------------------------------------------

    def cost_centers(self) -> dict[str, CostCenterItem]:
        return {item.id: item for item in CostCenterItem.query(self.pk, CostCenterItem.sk.startswith("CC#"))}

    def cost_center(self, cost_center_id: str) -> CostCenterItem | None:
        try:
            return CostCenterItem.get(self.pk, self.keys.cost_center(cost_center_id), consistent_read=True)
        except CostCenterItem.DoesNotExist:
            return None

    def assets(self, asset_ids: Iterable[int]) -> dict[int, AssetItem]:
        wanted = sorted(set(asset_ids))
        if not wanted:
            return {}
        found = AssetItem.batch_get([(self.pk, RegistryRepository.asset_sk(asset_id)) for asset_id in wanted])
        return {int(asset.id): asset for asset in found}

    def work_order_number(self, work_order_id: int) -> str | None:
        """The number of one of the tenant's work orders; None if it has no such work order."""
        work_order = CmmsRepository(self.tenant, self.settings).get_work_order(work_order_id)
        return str(work_order.number) if work_order is not None else None

    def rate_cards(self) -> list[RateCardItem]:
        return list(RateCardItem.query(self.pk, RateCardItem.sk.startswith("RATECARD#")))

    # ---- writing -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[TaggedWrite]:
        """One TransactWrite; a cancellation becomes TransactionRefused with the failed tags."""
        tagged: TaggedWrite | None = None
        try:
            with TransactWrite(connection=transaction_connection()) as transaction:
                tagged = TaggedWrite(transaction)
                yield tagged
                if tagged.size > MAX_TRANSACTION_ITEMS:
                    raise ValueError(f"a posting transaction holds at most {MAX_TRANSACTION_ITEMS} operations")
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            if not reasons:
                raise
            assert tagged is not None
            tags = tagged.tags()
            failed = {
                tags[index] if index < len(tags) else "other"
                for index, reason in enumerate(reasons)
                if reason is not None and reason.code == "ConditionalCheckFailed"
            }
            contention = any(
                reason is not None and reason.code in ("TransactionConflict", "ThrottlingError") for reason in reasons
            )
            if not failed and not contention:
                raise
            raise TransactionRefused(failed, contention) from error


def json_safe(value: Any) -> Any:
    """Meta values as DynamoDB stores them without surprises: str/int/bool/None, lists, maps;
    Decimals and floats become strings (money is never a float)."""
    if isinstance(value, dict):
        return {str(name): json_safe(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
