"""Tenant-scoped data access for TrakLedger's reference data, budgets, commitments, savings and
the summary projection (docs/access-patterns.md, "CMMS and TrakLedger").

Every key comes from `LedgerKeys` and starts with `T#{tenant}`. Each change is one TransactWrite
carrying its invariants as conditions (code guards, versions, statuses, month locks, the
existence of what it references), its summary-projection deltas and its outbox event, so a
race or a retry fails inside DynamoDB instead of half-applying. A failed transaction is mapped
to the API's errors through the labels its items were added with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any, TypeVar

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from climatrak.core.config import DEFAULT_TIMEZONE, Settings
from climatrak.core.errors import Conflict, DomainError
from climatrak.core.events import EventEnvelope, add_to_outbox
from climatrak.core.items import (
    MainItem,
    bind_main_table,
    condition_failed,
    failed_positions,
    transaction_connection,
)
from climatrak.ledger.items import (
    AssetCostRow,
    BudgetPlanItem,
    CommitmentItem,
    CostCenterCodeGuard,
    CostCenterItem,
    EnvelopeItem,
    LedgerKeys,
    LedgerMonthItem,
    RateCardItem,
    SavingsItem,
    SummaryRow,
    default_cost_center_id,
    ensure_default_cost_center,
)
from climatrak.ledger.projection import ProjectionDeltas
from climatrak.registry.repository import RegistryRepository

M = TypeVar("M", bound=MainItem)

STALE_WRITE = "This record was changed by someone else; reload it and try again."
DUPLICATE_CODE = "cost center with this code already exists."
RATE_CARDS_SK = "RATECARDS"


class RateCardSetGuard(MainItem, discriminator="rate_card_set"):
    """sk `RATECARDS`: a counter every rate-card write moves conditionally, so two writers that
    validated the same set of cards (no overlapping periods for a role) cannot both commit."""

    seq = NumberAttribute(default=0)


class LabelledTransaction(TransactWrite):
    """A TransactWrite that remembers a label per item, in the order DynamoDB reports
    cancellation reasons (PynamoDB sends condition checks, deletes, puts, then updates)."""

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
        label: str = "",
    ) -> None:
        super().condition_check(model_cls, hash_key, range_key, condition)
        self._checks.append(label)

    def delete(
        self, model: Any, condition: Condition | None = None, *, add_version_condition: bool = True, label: str = ""
    ) -> None:
        super().delete(model, condition, add_version_condition=add_version_condition)
        self._deletes.append(label)

    def save(
        self, model: Any, condition: Condition | None = None, return_values: str | None = None, *, label: str = ""
    ) -> None:
        super().save(model, condition, return_values)
        self._puts.append(label)

    def update(
        self,
        model: Any,
        actions: list[Action],
        condition: Condition | None = None,
        return_values: str | None = None,
        *,
        add_version_condition: bool = True,
        label: str = "",
    ) -> None:
        super().update(model, actions, condition, return_values, add_version_condition=add_version_condition)
        self._updates.append(label)

    def failed_labels(self, error: TransactWriteError) -> set[str]:
        order = self._checks + self._deletes + self._puts + self._updates
        return {order[index] for index in failed_positions(error) if index < len(order)}


class LedgerRepository:
    def __init__(self, tenant: str, settings: Settings) -> None:
        if not tenant:
            raise ValueError("a tenant is required to build ledger keys")
        self.tenant = tenant
        self.settings = settings
        self.keys = LedgerKeys(tenant)
        self.pk = self.keys.pk
        bind_main_table(settings.main_table)

    # ---- generic -----------------------------------------------------------------------------

    def _get(self, model: type[M], sk: str, pk: str | None = None) -> M | None:
        try:
            return model.get(pk or self.pk, sk, consistent_read=True)
        except model.DoesNotExist:
            return None

    def _query(self, model: type[M], prefix: str, pk: str | None = None) -> list[M]:
        return list(model.query(pk or self.pk, model.sk.startswith(prefix), consistent_read=True))

    def _any(self, model: type[M], prefix: str, condition: Condition) -> bool:
        """Whether one item under `prefix` matches; stops at the first hit."""
        found = model.query(self.pk, model.sk.startswith(prefix), filter_condition=condition)
        return next(iter(found), None) is not None

    @contextmanager
    def _transaction(self, errors: Mapping[str, DomainError] | None = None) -> Iterator[LabelledTransaction]:
        """One TransactWrite; a failed condition becomes the error registered for its label,
        any other failed condition a stale write (409)."""
        transaction = LabelledTransaction()
        try:
            with transaction:
                yield transaction
        except TransactWriteError as error:
            if not condition_failed(error):
                raise
            failed = transaction.failed_labels(error)
            for label, mapped in (errors or {}).items():
                if label in failed:
                    raise mapped from error
            raise Conflict(STALE_WRITE) from error

    def _exists_check(self, transaction: LabelledTransaction, model: type[MainItem], sk: str, label: str) -> None:
        transaction.condition_check(model, self.pk, sk, condition=model.pk.exists(), label=label)

    # ---- tenant --------------------------------------------------------------------------------

    @cached_property
    def timezone(self) -> str:
        """The tenant's time zone (business days and months)."""
        tenant = RegistryRepository(self.tenant, self.settings).get_tenant()
        return (tenant.timezone if tenant else None) or DEFAULT_TIMEZONE

    # ---- cost centres --------------------------------------------------------------------------

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

    def create_cost_center(self, item: CostCenterItem, parent: CostCenterItem | None) -> None:
        item.pk, item.sk = self.pk, self.keys.cost_center(item.id)
        guard = CostCenterCodeGuard(self.pk, self.keys.cost_center_code(code_key(item.code)), cost_center_id=item.id)
        errors = {
            "code": DomainError(DUPLICATE_CODE, field="code"),
            "parent": DomainError("The parent cost center does not exist.", field="parent_id"),
        }
        with self._transaction(errors) as tw:
            if parent is not None:
                self._exists_check(tw, CostCenterItem, self.keys.cost_center(parent.id), "parent")
            tw.save(guard, condition=CostCenterCodeGuard.pk.does_not_exist(), label="code")
            tw.save(item, condition=CostCenterItem.pk.does_not_exist(), label="item")

    def save_cost_center(self, item: CostCenterItem, previous_code: str, ancestors: list[CostCenterItem]) -> None:
        """Write back a cost centre read earlier (version-checked), moving its code guard when the
        code changed. `ancestors` (the new parent chain) must be unchanged when it commits, so two
        concurrent re-parentings cannot build a cycle."""
        renamed = code_key(item.code) != code_key(previous_code)
        with self._transaction({"code": DomainError(DUPLICATE_CODE, field="code")}) as tw:
            for ancestor in ancestors:
                tw.condition_check(
                    CostCenterItem,
                    self.pk,
                    self.keys.cost_center(ancestor.id),
                    condition=CostCenterItem.version == ancestor.version,
                    label="hierarchy",
                )
            if renamed:
                tw.save(
                    CostCenterCodeGuard(
                        self.pk, self.keys.cost_center_code(code_key(item.code)), cost_center_id=item.id
                    ),
                    condition=CostCenterCodeGuard.pk.does_not_exist(),
                    label="code",
                )
                tw.delete(CostCenterCodeGuard(self.pk, self.keys.cost_center_code(code_key(previous_code))))
            tw.save(item, label="item")

    def delete_cost_center(self, item: CostCenterItem) -> None:
        with self._transaction() as tw:
            tw.delete(item, label="item")
            tw.delete(CostCenterCodeGuard(self.pk, self.keys.cost_center_code(code_key(item.code))))

    def cost_center_in_use(self, cost_center_id: str) -> bool:
        """Referenced by an envelope, a commitment or a savings event (stops at the first hit)."""
        return (
            self._any(EnvelopeItem, "ENVELOPE#", EnvelopeItem.cost_center_id == cost_center_id)
            or self._any(CommitmentItem, "COMMIT#", CommitmentItem.cost_center_id == cost_center_id)
            or self._any(SavingsItem, "SAVINGS#", SavingsItem.cost_center_id == cost_center_id)
        )

    # ---- rate cards ----------------------------------------------------------------------------

    def rate_card_set_seq(self) -> int | None:
        """Read BEFORE listing the cards a write validates against (see save_rate_card)."""
        guard = self._get(RateCardSetGuard, RATE_CARDS_SK)
        return None if guard is None else int(guard.seq)

    def list_rate_cards(self) -> list[RateCardItem]:
        return self._query(RateCardItem, "RATECARD#")

    def get_rate_card(self, rate_card_id: str) -> RateCardItem | None:
        return self._get(RateCardItem, self.keys.rate_card(rate_card_id))

    def _move_rate_card_set(self, tw: LabelledTransaction, seq: int | None) -> None:
        guard = RateCardSetGuard(self.pk, RATE_CARDS_SK)
        condition = RateCardSetGuard.pk.does_not_exist() if seq is None else RateCardSetGuard.seq == seq
        tw.update(
            guard,
            actions=[RateCardSetGuard.kind.set(RateCardSetGuard), RateCardSetGuard.seq.add(1)],
            condition=condition,
            label="set",
        )

    def save_rate_card(self, item: RateCardItem, seq: int | None) -> None:
        """Create or write back a card; refused (409) if any card changed since `seq` was read."""
        item.pk, item.sk = self.pk, self.keys.rate_card(item.id)
        with self._transaction() as tw:
            tw.save(item, label="item")
            self._move_rate_card_set(tw, seq)

    def delete_rate_card(self, item: RateCardItem, seq: int | None) -> None:
        with self._transaction() as tw:
            tw.delete(item, label="item")
            self._move_rate_card_set(tw, seq)

    # ---- budget plans and envelopes ------------------------------------------------------------

    def list_plans(self) -> list[BudgetPlanItem]:
        return self._query(BudgetPlanItem, "PLAN#")

    def get_plan(self, plan_id: str) -> BudgetPlanItem | None:
        return self._get(BudgetPlanItem, self.keys.budget_plan(plan_id))

    def save_plan(self, item: BudgetPlanItem) -> None:
        item.pk, item.sk = self.pk, self.keys.budget_plan(item.id)
        with self._transaction() as tw:
            tw.save(item, label="item")

    def delete_plan(self, item: BudgetPlanItem) -> None:
        with self._transaction() as tw:
            tw.delete(item, label="item")

    def list_envelopes(self) -> list[EnvelopeItem]:
        return self._query(EnvelopeItem, "ENVELOPE#")

    def get_envelope(self, envelope_id: str) -> EnvelopeItem | None:
        return self._get(EnvelopeItem, self.keys.envelope(envelope_id))

    def ledger_months(self) -> dict[str, LedgerMonthItem]:
        """Month locks by `YYYY-MM` (absent = open)."""
        return {row.month[:7]: row for row in self._query(LedgerMonthItem, "LEDGERMONTH#")}

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
                label="plan",
            )
            if cost_center_id is not None:
                self._exists_check(tw, CostCenterItem, self.keys.cost_center(cost_center_id), "cost_center")
            for month in open_months:
                tw.condition_check(
                    LedgerMonthItem,
                    self.pk,
                    self.keys.month(month),
                    condition=LedgerMonthItem.pk.does_not_exist() | (LedgerMonthItem.locked == False),  # noqa: E712
                    label=f"month:{month}",
                )
            if delete is not None:
                tw.delete(delete, label="item")
            if item is not None:
                item.pk, item.sk = self.pk, self.keys.envelope(item.id)
                tw.save(item, label="item")
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
                self._exists_check(tw, CostCenterItem, self.keys.cost_center(cost_center_id), "cost_center")
            if expected_status is None:
                tw.save(item, condition=CommitmentItem.pk.does_not_exist(), label="item")
            else:
                tw.save(item, condition=CommitmentItem.status == expected_status, label="item")
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
            self._exists_check(tw, CostCenterItem, self.keys.cost_center(item.cost_center_id), "cost_center")
            tw.save(item, condition=SavingsItem.pk.does_not_exist(), label="item")
            deltas.write(tw)
            add_to_outbox(tw, event)

    # ---- the summary projection ----------------------------------------------------------------

    def summary_rows(self, month: str) -> list[SummaryRow]:
        """The month's counters per (cost centre, category): ONE query at any ledger size."""
        return self._query(SummaryRow, "CC#", pk=self.keys.summary(month))

    def asset_cost_rows(self, month: str) -> list[AssetCostRow]:
        return self._query(AssetCostRow, "ASSET#", pk=self.keys.summary(month))


def code_key(code: str) -> str:
    """Cost-centre codes are unique per tenant regardless of case and surrounding blanks."""
    return code.strip().upper()
