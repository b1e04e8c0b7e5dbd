"""Tenant-scoped data access for TrakLedger's reference data, budgets, commitments, savings and
the summary projection (docs/access-patterns.md, "CMMS and TrakLedger").

Every key comes from `LedgerKeys` and starts with `T#{tenant}`. Each change is one TransactWrite
carrying its invariants as conditions (code guards, versions, statuses, month locks, the
existence of what it references), its summary-projection deltas and its outbox event, so a
race or a retry fails inside DynamoDB instead of half-applying. A failed transaction is mapped
to the API's errors through the tags its items were added with (`store.TaggedWrite`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.update import Action

from climatrak.core.errors import Conflict, DomainError
from climatrak.core.events import EventEnvelope, add_to_outbox
from climatrak.core.items import MainItem
from climatrak.ledger.items import (
    AssetCostRow,
    BudgetPlanItem,
    CommitmentItem,
    CostCenterCodeGuard,
    CostCenterItem,
    EnvelopeItem,
    RateCardItem,
    SavingsItem,
    SummaryRow,
)
from climatrak.ledger.projection import ProjectionDeltas
from climatrak.ledger.store import STALE_WRITE, LedgerStore, TaggedWrite, TransactionRefused

DUPLICATE_CODE = "cost center with this code already exists."
IN_USE = (
    "This cost center has been used by ledger postings, budget envelopes, commitments or savings events; "
    "deactivate it instead."
)
HAS_CHILDREN = "This cost center has child cost centers; move or delete them first."
RATE_CARDS_SK = "RATECARDS"


class RateCardSetGuard(MainItem, discriminator="rate_card_set"):
    """sk `RATECARDS`: a counter every rate-card write moves conditionally, so two writers that
    validated the same set of cards (no overlapping periods for a role) cannot both commit."""

    seq = NumberAttribute(default=0)


class LedgerRepository(LedgerStore):
    # ---- generic -----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, errors: Mapping[str, DomainError] | None = None) -> Iterator[TaggedWrite]:
        """One TransactWrite; a failed condition becomes the error registered for its tag,
        any other failed condition a stale write (409)."""
        try:
            with self.transaction() as tw:
                yield tw
        except TransactionRefused as refused:
            for tag, mapped in (errors or {}).items():
                if tag in refused.tags:
                    raise mapped from refused
            raise Conflict(STALE_WRITE) from refused

    # ---- cost centres --------------------------------------------------------------------------

    def create_cost_center(self, item: CostCenterItem, parent: CostCenterItem | None) -> None:
        """Create with its code guard; a parent gains a child (`children_count` +1, on condition
        that it still exists) in the same transaction."""
        item.pk, item.sk = self.pk, self.keys.cost_center(item.id)
        guard = CostCenterCodeGuard(self.pk, self.keys.cost_center_code(code_key(item.code)), cost_center_id=item.id)
        errors = {
            "code": DomainError(DUPLICATE_CODE, field="code"),
            "parent": DomainError("The parent cost center does not exist.", field="parent_id"),
        }
        with self._transaction(errors) as tw:
            if parent is not None:
                self.count_children(tw, parent.id, 1, "parent")
            tw.save(guard, condition=CostCenterCodeGuard.pk.does_not_exist(), tag="code")
            tw.save(item, condition=CostCenterItem.pk.does_not_exist(), tag="item")

    def save_cost_center(
        self,
        item: CostCenterItem,
        previous_code: str,
        ancestors: list[CostCenterItem],
        previous_parent_id: str | None = None,
    ) -> None:
        """Write back the editable attributes of a cost centre read earlier (version-checked;
        `in_use` and `children_count` are left to DynamoDB), moving its code guard when the code
        changed. `ancestors` (the new parent chain) must be unchanged when it commits, so two
        concurrent re-parentings cannot build a cycle. A change of parent moves one child from
        `previous_parent_id` (which must exist, if given) to the new parent."""
        renamed = code_key(item.code) != code_key(previous_code)
        deltas: dict[str, int] = {}
        if item.parent_id != previous_parent_id:
            if previous_parent_id:
                deltas[previous_parent_id] = -1
            if item.parent_id:
                deltas[item.parent_id] = 1
        versions = {ancestor.id: ancestor.version for ancestor in ancestors}
        with self._transaction({"code": DomainError(DUPLICATE_CODE, field="code")}) as tw:
            # one operation per cost centre: an ancestor that also gains or loses a child is
            # checked by its update's condition
            for ancestor_id, version in versions.items():
                if ancestor_id not in deltas:
                    tw.condition_check(
                        CostCenterItem,
                        self.pk,
                        self.keys.cost_center(ancestor_id),
                        condition=CostCenterItem.version == version,
                        tag="hierarchy",
                    )
            for parent_id, delta in deltas.items():
                unchanged = CostCenterItem.version == versions[parent_id] if parent_id in versions else None
                self.count_children(tw, parent_id, delta, "hierarchy", unchanged)
            if renamed:
                tw.save(
                    CostCenterCodeGuard(
                        self.pk, self.keys.cost_center_code(code_key(item.code)), cost_center_id=item.id
                    ),
                    condition=CostCenterCodeGuard.pk.does_not_exist(),
                    tag="code",
                )
                tw.delete(CostCenterCodeGuard(self.pk, self.keys.cost_center_code(code_key(previous_code))))
            tw.update(item, actions=_editable(item), tag="item")

    def delete_cost_center(self, item: CostCenterItem, parent_exists: bool) -> None:
        """Delete, on condition (inside DynamoDB, nothing read first) that nothing ever referenced
        it (`in_use` absent) and it has no children (`children_count` absent or 0), with its code
        guard; its parent (if `parent_exists`) loses a child in the same transaction. A refusal
        re-reads the item to say why: in use / has children → 400, changed meanwhile → 409."""
        condition = CostCenterItem.in_use.does_not_exist() & (
            CostCenterItem.children_count.does_not_exist() | (CostCenterItem.children_count <= 0)
        )
        try:
            with self.transaction() as tw:
                tw.delete(item, condition=condition, tag="item")
                tw.delete(CostCenterCodeGuard(self.pk, self.keys.cost_center_code(code_key(item.code))))
                if item.parent_id and parent_exists:
                    self.count_children(tw, item.parent_id, -1, "parent")
        except TransactionRefused as refused:
            now = self.get_cost_center(item.id)
            if now is not None and now.in_use:
                raise DomainError(IN_USE, code="protected") from refused
            if now is not None and (now.children_count or 0) > 0:
                raise DomainError(HAS_CHILDREN, code="protected") from refused
            raise Conflict(STALE_WRITE) from refused

    # ---- rate cards ----------------------------------------------------------------------------

    def rate_card_set_seq(self) -> int | None:
        """Read BEFORE listing the cards a write validates against (see save_rate_card)."""
        guard = self._get(RateCardSetGuard, RATE_CARDS_SK)
        return None if guard is None else int(guard.seq)

    def get_rate_card(self, rate_card_id: str) -> RateCardItem | None:
        return self._get(RateCardItem, self.keys.rate_card(rate_card_id))

    def _move_rate_card_set(self, tw: TaggedWrite, seq: int | None) -> None:
        guard = RateCardSetGuard(self.pk, RATE_CARDS_SK)
        condition = RateCardSetGuard.pk.does_not_exist() if seq is None else RateCardSetGuard.seq == seq
        tw.update(
            guard,
            actions=[RateCardSetGuard.kind.set(RateCardSetGuard), RateCardSetGuard.seq.add(1)],
            condition=condition,
            tag="set",
        )

    def save_rate_card(self, item: RateCardItem, seq: int | None) -> None:
        """Create or write back a card; refused (409) if any card changed since `seq` was read."""
        item.pk, item.sk = self.pk, self.keys.rate_card(item.id)
        with self._transaction() as tw:
            tw.save(item, tag="item")
            self._move_rate_card_set(tw, seq)

    def delete_rate_card(self, item: RateCardItem, seq: int | None) -> None:
        with self._transaction() as tw:
            tw.delete(item, tag="item")
            self._move_rate_card_set(tw, seq)

    # ---- budget plans and envelopes ------------------------------------------------------------

    def list_plans(self) -> list[BudgetPlanItem]:
        return self._query(BudgetPlanItem, "PLAN#")

    def get_plan(self, plan_id: str) -> BudgetPlanItem | None:
        return self._get(BudgetPlanItem, self.keys.budget_plan(plan_id))

    def save_plan(self, item: BudgetPlanItem) -> None:
        item.pk, item.sk = self.pk, self.keys.budget_plan(item.id)
        with self._transaction() as tw:
            tw.save(item, tag="item")

    def delete_plan(self, item: BudgetPlanItem) -> None:
        with self._transaction() as tw:
            tw.delete(item, tag="item")

    def list_envelopes(self) -> list[EnvelopeItem]:
        return self._query(EnvelopeItem, "ENVELOPE#")

    def get_envelope(self, envelope_id: str) -> EnvelopeItem | None:
        return self._get(EnvelopeItem, self.keys.envelope(envelope_id))

    def write_envelope(
        self,
        item: EnvelopeItem | None,
        deltas: ProjectionDeltas,
        *,
        plan_id: str,
        cost_center_id: str | None,
        open_months: list[str],
        delete: EnvelopeItem | None = None,
    ) -> None:
        """Save (or delete) an envelope with its planned deltas, in one transaction that also
        checks: the plan exists and is not locked, the cost centre exists, and every month whose
        amounts changed is open."""
        errors: dict[str, DomainError] = {
            "plan": Conflict("This budget plan is locked (or was deleted); its envelopes cannot change."),
            "cost_center": DomainError("The cost center does not exist.", field="cost_center"),
        }
        for month in open_months:
            errors[f"month:{month}"] = Conflict(f"The month {month} is locked; its budget cannot change.")
        with self._transaction(errors) as tw:
            tw.condition_check(
                BudgetPlanItem,
                self.pk,
                self.keys.budget_plan(plan_id),
                condition=BudgetPlanItem.pk.exists() & (BudgetPlanItem.status != "locked"),
                tag="plan",
            )
            if cost_center_id is not None:
                self.use_cost_center(tw, cost_center_id, "cost_center")
            for month in open_months:
                self.check_month_open(tw, month)
            if delete is not None:
                tw.delete(delete, tag="item")
            if item is not None:
                item.pk, item.sk = self.pk, self.keys.envelope(item.id)
                tw.save(item, tag="item")
            deltas.write(tw)

    # ---- commitments ---------------------------------------------------------------------------

    def list_commitments(self) -> list[CommitmentItem]:
        return self._query(CommitmentItem, "COMMIT#")

    def get_commitment(self, commitment_id: str) -> CommitmentItem | None:
        return self._get(CommitmentItem, self.keys.commitment(commitment_id))

    def write_commitment(
        self,
        item: CommitmentItem,
        *,
        expected_status: str | None,
        deltas: ProjectionDeltas,
        cost_center_id: str | None = None,
        event: EventEnvelope | None = None,
    ) -> None:
        """Create (`expected_status` None) or write back a commitment read earlier: version- and
        status-checked, with its committed deltas and its event in the same transaction."""
        item.pk, item.sk = self.pk, self.keys.commitment(item.id)
        errors = {"cost_center": DomainError("The cost center does not exist.", field="cost_center")}
        with self._transaction(errors) as tw:
            if cost_center_id is not None:
                self.use_cost_center(tw, cost_center_id, "cost_center")
            if expected_status is None:
                tw.save(item, condition=CommitmentItem.pk.does_not_exist(), tag="item")
            else:
                tw.save(item, condition=CommitmentItem.status == expected_status, tag="item")
            deltas.write(tw)
            if event is not None:
                add_to_outbox(tw, event)

    # ---- savings -------------------------------------------------------------------------------

    def list_savings(self) -> list[SavingsItem]:
        return self._query(SavingsItem, "SAVINGS#")

    def get_savings(self, savings_id: str) -> SavingsItem | None:
        return self._get(SavingsItem, self.keys.savings(savings_id))

    def create_savings(self, item: SavingsItem, deltas: ProjectionDeltas, event: EventEnvelope) -> None:
        item.pk, item.sk = self.pk, self.keys.savings(item.id)
        errors = {"cost_center": DomainError("The cost center does not exist.", field="cost_center_id")}
        with self._transaction(errors) as tw:
            self.use_cost_center(tw, item.cost_center_id, "cost_center")
            tw.save(item, condition=SavingsItem.pk.does_not_exist(), tag="item")
            deltas.write(tw)
            add_to_outbox(tw, event)

    # ---- the summary projection ----------------------------------------------------------------

    def summary_rows(self, month: str) -> list[SummaryRow]:
        """The month's counters per (cost centre, category): ONE query at any ledger size."""
        return self._query(SummaryRow, "CC#", pk=self.keys.summary(month))

    def asset_cost_rows(self, month: str) -> list[AssetCostRow]:
        return self._query(AssetCostRow, "ASSET#", pk=self.keys.summary(month))


def _editable(item: CostCenterItem) -> list[Action]:
    """The attributes an edit of a cost centre writes (an absent parent is removed)."""
    actions: list[Action] = [
        CostCenterItem.code.set(item.code),
        CostCenterItem.name.set(item.name),
        CostCenterItem.description.set(item.description),
        CostCenterItem.tags.set(list(item.tags or [])),
        CostCenterItem.is_active.set(bool(item.is_active)),
        CostCenterItem.updated_at.set(item.updated_at),
    ]
    parent = item.parent_id
    actions.append(CostCenterItem.parent_id.set(parent) if parent else CostCenterItem.parent_id.remove())
    return actions


def code_key(code: str) -> str:
    """Cost-centre codes are unique per tenant regardless of case and surrounding blanks."""
    return code.strip().upper()
