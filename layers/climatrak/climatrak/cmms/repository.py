"""Tenant-scoped data access for the CMMS (docs/access-patterns.md).

Every key is built here and starts with `T#{tenant}`. Status transitions, versions and the
"cost inputs are frozen after completion" rule are conditions inside one TransactWrite, never
read-then-write:

- a work order update is a version-checked Put (VersionAttribute) with a status condition;
- every cost-input write updates its work order in the same transaction (`inputs_version` ADD 1,
  conditioned on the status being OPEN/IN_PROGRESS — and, for technicians, on still being the
  assignee): that update is the transaction's status check, so a write after completion fails
  whole (409) and nothing is written;
- completion is conditioned on `inputs_version` as read, so an input written between the
  completion's read of the inputs and its transaction makes the completion fail (409).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from pynamodb.exceptions import DeleteError, PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from climatrak.cmms.items import (
    CostInputItem,
    ExternalCostItem,
    PartUsageItem,
    TimeEntryItem,
    WorkOrderItem,
)
from climatrak.core.config import Settings
from climatrak.core.errors import Conflict, Forbidden, NotFound
from climatrak.core.events import EventEnvelope, add_to_outbox
from climatrak.core.items import bind_main_table, condition_failed, failed_positions, transaction_connection
from climatrak.core.keys import TenantKeys
from climatrak.registry.repository import RegistryRepository

InputT = TypeVar("InputT", bound=CostInputItem)

ACTIVE_STATUSES = ("OPEN", "IN_PROGRESS")
STALE_WRITE = "This record was changed by someone else; reload it and try again."
INPUTS_LOCKED = "The work order is completed or cancelled: its cost inputs can no longer be changed."
INPUTS_CHANGED = "The work order's cost inputs changed while it was being completed; reload it and try again."
NOT_ASSIGNEE = "Technicians can only work on work orders assigned to them."
NOT_FOUND = "Not found."
# DynamoDB transactions hold at most 100 items.
TRANSACTION_LIMIT = 100
# A work order's inputs of one kind; with the clipped texts, this keeps `work_order.closed`
# under EventBridge's 256 KB whatever the inputs hold.
MAX_INPUTS_PER_KIND = 100

# cost input kind → (sk / index prefix, item class)
INPUT_KINDS: dict[type[CostInputItem], str] = {
    TimeEntryItem: "TIME",
    PartUsageItem: "PART",
    ExternalCostItem: "EXTERNAL",
}
# cost input kind → (the work order's attribute counting them, their name in messages)
INPUT_COUNTERS: dict[type[CostInputItem], tuple[str, str]] = {
    TimeEntryItem: ("time_entries_count", "time entries"),
    PartUsageItem: ("part_usages_count", "part usages"),
    ExternalCostItem: ("external_costs_count", "external costs"),
}


def too_many_inputs(model: type[CostInputItem]) -> str:
    return f"A work order can have at most {MAX_INPUTS_PER_KIND} {INPUT_COUNTERS[model][1]}."


@dataclass
class WorkOrderInputs:
    """A work order's cost inputs, read with one consistent query."""

    time_entries: list[TimeEntryItem] = field(default_factory=list)
    parts: list[PartUsageItem] = field(default_factory=list)
    external: list[ExternalCostItem] = field(default_factory=list)

    def all(self) -> list[CostInputItem]:
        return [*self.time_entries, *self.parts, *self.external]


class CmmsRepository:
    def __init__(self, tenant: str, settings: Settings) -> None:
        if not tenant:
            raise ValueError("a tenant is required to build CMMS keys")
        self.tenant = tenant
        self.settings = settings
        self.keys = TenantKeys(tenant)
        self.pk = self.keys.pk
        bind_main_table(settings.main_table)
        self.registry = RegistryRepository(tenant, settings)

    # ---- keys --------------------------------------------------------------------------

    @staticmethod
    def work_order_sk(work_order_id: int) -> str:
        return TenantKeys.entity("WO", work_order_id)

    def work_order_partition(self, work_order_id: int) -> str:
        """The work order's own partition: its cost inputs (and the ledger's posting links)."""
        return f"{self.pk}#WO#{work_order_id:08d}"

    @staticmethod
    def input_sk(model: type[CostInputItem], input_id: str) -> str:
        return f"{INPUT_KINDS[model]}#{input_id}"

    def input_index_pk(self, model: type[CostInputItem]) -> str:
        return f"{self.pk}#COSTINPUT#{INPUT_KINDS[model]}"

    # ---- ids ---------------------------------------------------------------------------

    def new_work_order_id(self) -> int:
        return self.registry.new_id("work_order")

    def next_number_sequence(self, yyyymm: str) -> int:
        """The next work-order number sequence of a (tenant-local) month, from 1."""
        return self.registry.new_id(f"work_order_number#{yyyymm}")

    # ---- work orders -------------------------------------------------------------------

    def get_work_order(self, work_order_id: int) -> WorkOrderItem | None:
        try:
            return WorkOrderItem.get(self.pk, self.work_order_sk(work_order_id), consistent_read=True)
        except WorkOrderItem.DoesNotExist:
            return None

    def list_work_orders(self) -> list[WorkOrderItem]:
        return list(WorkOrderItem.query(self.pk, WorkOrderItem.sk.startswith("WO#")))

    def create_work_order(self, item: WorkOrderItem) -> None:
        item.pk, item.sk = self.pk, self.work_order_sk(int(item.id))
        item.save(condition=WorkOrderItem.pk.does_not_exist())

    def add_work_order(self, transaction: TransactWrite, item: WorkOrderItem) -> None:
        """Create the work order inside the caller's transaction (with what it is created for)."""
        item.pk, item.sk = self.pk, self.work_order_sk(int(item.id))
        transaction.save(item, condition=WorkOrderItem.pk.does_not_exist())

    def save_work_order(self, item: WorkOrderItem, condition: Condition | None = None) -> None:
        """Write back a work order read earlier (version-checked, plus `condition`)."""
        try:
            item.save(condition=condition)
        except PutError as error:
            if condition_failed(error):
                raise Conflict(STALE_WRITE) from error
            raise

    def complete_work_order(
        self,
        item: WorkOrderItem,
        from_statuses: tuple[str, ...],
        read_inputs_version: int,
        auto_entry: TimeEntryItem | None,
        event: EventEnvelope,
    ) -> None:
        """One transaction: the completed work order (version-checked, still in `from_statuses`,
        inputs unchanged since they were read), the auto time entry and the outbox event."""
        condition = WorkOrderItem.status.is_in(*from_statuses) & (WorkOrderItem.inputs_version == read_inputs_version)
        try:
            with TransactWrite(connection=transaction_connection()) as transaction:
                if auto_entry is not None:
                    self._place_input(auto_entry, int(item.id))
                    transaction.save(auto_entry, condition=TimeEntryItem.pk.does_not_exist())
                transaction.save(item, condition=condition)
                add_to_outbox(transaction, event)
        except TransactWriteError as error:
            if not condition_failed(error):
                raise
            current = self.get_work_order(int(item.id))
            if current is not None and int(current.inputs_version) != read_inputs_version:
                raise Conflict(INPUTS_CHANGED, code="inputs_changed") from error
            raise Conflict(STALE_WRITE) from error

    def delete_work_order(self, item: WorkOrderItem, inputs: WorkOrderInputs) -> None:
        """Delete a work order that is not completed, with its cost inputs."""
        rows = inputs.all()
        together, rest = rows[: TRANSACTION_LIMIT - 1], rows[TRANSACTION_LIMIT - 1 :]
        try:
            with TransactWrite(connection=transaction_connection()) as transaction:
                transaction.delete(item, condition=WorkOrderItem.status != "COMPLETED")
                for row in together:
                    transaction.delete(row)
        except TransactWriteError as error:
            if condition_failed(error):
                raise Conflict(STALE_WRITE) from error
            raise
        # Only with more than 99 inputs: the work order is gone, so nothing can add to these.
        for row in rest:
            try:
                row.delete()
            except DeleteError as error:
                if not condition_failed(error):
                    raise

    # ---- cost inputs -------------------------------------------------------------------

    def inputs(self, work_order_id: int) -> WorkOrderInputs:
        """All cost inputs of a work order: one strongly consistent query of its partition."""
        found = WorkOrderInputs()
        for row in CostInputItem.query(self.work_order_partition(work_order_id), consistent_read=True):
            if isinstance(row, TimeEntryItem):
                found.time_entries.append(row)
            elif isinstance(row, PartUsageItem):
                found.parts.append(row)
            elif isinstance(row, ExternalCostItem):
                found.external.append(row)
        for rows in (found.time_entries, found.parts, found.external):
            rows.sort(key=lambda row: (row.created_at, row.id))
        return found

    def inputs_of(self, model: type[InputT], work_order_id: int) -> list[InputT]:
        prefix = f"{INPUT_KINDS[model]}#"
        partition = self.work_order_partition(work_order_id)
        return list(model.query(partition, model.sk.startswith(prefix), consistent_read=True))

    def list_inputs(self, model: type[InputT]) -> list[InputT]:
        """A tenant's inputs of one kind (gsi1, eventually consistent)."""
        return [row for row in _index_query(self.input_index_pk(model)) if isinstance(row, model)]

    def find_input(self, model: type[InputT], input_id: str) -> InputT | None:
        """An input by id: gsi1 gives its work order, then a consistent read of the item."""
        hits = list(_index_query(self.input_index_pk(model), input_id))
        if not hits:
            return None
        try:
            return model.get(hits[0].pk, hits[0].sk, consistent_read=True)
        except model.DoesNotExist:
            return None

    def _place_input(self, row: CostInputItem, work_order_id: int) -> None:
        model = type(row)
        row.pk = self.work_order_partition(work_order_id)
        row.sk = self.input_sk(model, row.id)
        row.gsi1pk = self.input_index_pk(model)
        row.gsi1sk = row.id

    def write_input(
        self,
        work_order: WorkOrderItem,
        row: CostInputItem,
        *,
        create: bool = False,
        delete: bool = False,
        assignee: int | None = None,
    ) -> None:
        """Create, save (version-checked) or delete one cost input, in one transaction with the
        work order's `inputs_version` bump conditioned on its status (and on `assignee`)."""
        work_order_id = int(work_order.id)
        if create:
            self._place_input(row, work_order_id)
        counter_name = INPUT_COUNTERS[type(row)][0]
        counter = getattr(WorkOrderItem, counter_name)
        guard = WorkOrderItem.status.is_in(*ACTIVE_STATUSES)
        if assignee is not None:
            guard &= WorkOrderItem.assigned_to == assignee
        actions: list[Action] = [WorkOrderItem.inputs_version.add(1)]
        if create:
            guard &= counter.does_not_exist() | (counter < MAX_INPUTS_PER_KIND)
            actions.append(counter.add(1))
        elif delete:
            actions.append(counter.add(-1))
        try:
            with TransactWrite(connection=transaction_connection()) as transaction:
                if delete:
                    transaction.delete(row)
                elif create:
                    transaction.save(row, condition=CostInputItem.pk.does_not_exist())
                else:
                    transaction.save(row)
                # PynamoDB also bumps the work order's version here (not checked: no conflict
                # with concurrent edits of other fields; a completion in flight fails instead).
                transaction.update(
                    work_order,
                    actions=actions,
                    condition=guard,
                    add_version_condition=False,
                )
        except TransactWriteError as error:
            if not condition_failed(error):
                raise
            if 1 in failed_positions(error):  # the work order's update (updates come last)
                current = self.get_work_order(work_order_id)
                if current is None:
                    raise NotFound(NOT_FOUND) from error
                if current.status not in ACTIVE_STATUSES:
                    raise Conflict(INPUTS_LOCKED, code="work_order_closed") from error
                if assignee is not None and current.assigned_to != assignee:
                    raise Forbidden(NOT_ASSIGNEE) from error
                if create and int(getattr(current, counter_name) or 0) >= MAX_INPUTS_PER_KIND:
                    raise Conflict(too_many_inputs(type(row)), code="too_many_inputs") from error
            raise Conflict(STALE_WRITE) from error


def _index_query(index_pk: str, input_id: str | None = None) -> Iterator[CostInputItem]:
    condition = CostInputItem.gsi1sk == input_id if input_id is not None else None
    return CostInputItem.by_input.query(index_pk, condition)
