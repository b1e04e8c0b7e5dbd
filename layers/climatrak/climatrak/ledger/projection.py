"""Writing the budget-summary projection inside the caller's transaction.

Every change that moves planned, committed, actual or savings adds its deltas here and then
`write(transaction)`: the counters move in the same TransactWrite as the change, so the summary
always equals the sum of the rows it counts. DynamoDB refuses two operations on one item in a
transaction, so deltas for the same row are merged first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from climatrak.core.money import ZERO
from climatrak.ledger.items import AssetCostRow, LedgerKeys, SummaryRow

COUNTERS = ("planned", "committed_approved", "committed_pending", "actual", "savings")
# What a record counts in the summary: (month, cost centre, category, counter) → amount.
Counted = Mapping[tuple[str, str, str, str], Decimal]


class ProjectionDeltas:
    def __init__(self, tenant: str) -> None:
        self.keys = LedgerKeys(tenant)
        self._rows: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        self._assets: dict[tuple[str, int], Decimal] = defaultdict(Decimal)

    def add(self, month: str, cost_center_id: str, category: str, **deltas: Decimal) -> ProjectionDeltas:
        """Add to the counters of (month `YYYY-MM[-DD]`, cost centre, category)."""
        unknown = set(deltas) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown summary counters: {sorted(unknown)}")
        row = self._rows[(month[:7], cost_center_id, category)]
        for name, delta in deltas.items():
            row[name] += delta
        return self

    def move(self, before: Counted, after: Counted) -> set[str]:
        """Add what a record counts now minus what it counted before; returns the months moved."""
        moved: set[str] = set()
        for key in set(before) | set(after):
            delta = after.get(key, ZERO) - before.get(key, ZERO)
            if delta:
                month, cost_center_id, category, counter = key
                self.add(month, cost_center_id, category, **{counter: delta})
                moved.add(month[:7])
        return moved

    def add_asset(self, month: str, asset_id: int, actual: Decimal) -> ProjectionDeltas:
        self._assets[(month[:7], asset_id)] += actual
        return self

    def __bool__(self) -> bool:
        return any(any(row.values()) for row in self._rows.values()) or any(self._assets.values())

    def write(self, transaction: TransactWrite) -> None:
        for (month, cost_center_id, category), deltas in self._rows.items():
            moves = {name: delta for name, delta in deltas.items() if delta}
            if not moves:
                continue
            row = SummaryRow(self.keys.summary(month), self.keys.summary_row(cost_center_id, category))
            actions: list[Action] = [
                SummaryRow.kind.set(SummaryRow),
                SummaryRow.cost_center_id.set(cost_center_id),
                SummaryRow.category.set(category),
            ]
            actions += [getattr(SummaryRow, name).add(delta) for name, delta in moves.items()]
            transaction.update(row, actions=actions)
        for (month, asset_id), delta in self._assets.items():
            if not delta:
                continue
            asset_row = AssetCostRow(self.keys.summary(month), self.keys.asset_cost(asset_id))
            transaction.update(
                asset_row,
                actions=[
                    AssetCostRow.kind.set(AssetCostRow),
                    AssetCostRow.asset_id.set(asset_id),
                    AssetCostRow.actual.add(delta),
                ],
            )
