"""Tenant-scoped data access for ledger postings and their reads (docs/access-patterns.md,
"CMMS and TrakLedger").

Every key comes from `LedgerKeys(tenant)`. Writes that must hold together (a posting, its key
guard, its work-order link, its projection deltas, its outbox event and the month's lock
check) go into one `TaggedWrite` (`LedgerStore.transaction()`), whose tags tell a refused
transaction's caller *why* (a locked month, a key already used, a stale version).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from climatrak.cmms.repository import CmmsRepository
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.items import LedgerKeyGuard, LedgerMonthItem, TransactionItem, WorkOrderTransactionLink
from climatrak.ledger.store import LedgerStore, TaggedWrite, month_open_condition

# Key-condition bounds that sort below / above every ISO timestamp sort key.
SK_FLOOR = "0"
SK_CEILING = "~"


class PostingRepository(LedgerStore):
    # ---- months ------------------------------------------------------------------------

    def month_open(self, tw: TaggedWrite, month: str) -> None:
        """Inside a posting's transaction: the month must be open. Puts the month's item as an
        open marker on condition `attribute_not_exists OR locked = false` — one operation that
        checks the lock without a read, and records that the month has postings (listings walk
        the months that have an item). Overwriting an open month's item loses nothing: unlocking
        removes locked_at/locked_by. A locked month refuses the whole transaction."""
        marker = LedgerMonthItem(self.pk, self.keys.month(month), month=month, locked=False, updated_at=utc_now_iso())
        tw.save(marker, condition=month_open_condition(), tag=f"month:{month}")

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
        return self._get(TransactionItem, sk, pk=pk)

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
        return self._query(WorkOrderTransactionLink, "TX#", pk=self.keys.work_order(work_order_id))

    def link_item(self, transaction: TransactionItem) -> WorkOrderTransactionLink:
        assert transaction.work_order_id is not None
        return WorkOrderTransactionLink(
            self.keys.work_order(int(transaction.work_order_id)),
            f"TX#{transaction.id}",
            transaction_id=transaction.id,
            ledger_pk=transaction.pk,
            ledger_sk=transaction.sk,
        )

    def unlink(self, tw: TaggedWrite, work_order_id: float, transaction_id: str) -> None:
        """Inside a transaction: the posting leaves the work order's costs."""
        link = WorkOrderTransactionLink(self.keys.work_order(int(work_order_id)), f"TX#{transaction_id}")
        tw.delete(link, tag="link")

    # ---- reference data ----------------------------------------------------------------

    def work_order_number(self, work_order_id: int) -> str | None:
        """The number of one of the tenant's work orders; None if it has no such work order."""
        work_order = CmmsRepository(self.tenant, self.settings).get_work_order(work_order_id)
        return str(work_order.number) if work_order is not None else None
