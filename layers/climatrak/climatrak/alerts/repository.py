"""Tenant-scoped data access for alert rules and alerts (items: climatrak.alerts.items).

Every key is built here (or by the items' key helpers) and starts with `T#{tenant}`, except the
one cross-tenant no-data watch index entry, whose item still lives in the tenant's partition.
Invariants ride in one TransactWrite with the change, never read-then-write:

- a rule and its no-data watch item (present exactly while the rule is an enabled no-data
  rule) are written together; rule saves are version-checked;
- every alert status change is a version-checked save of the alert, its dashboard counter
  deltas (AlertStatsItem, ADD) and its outbox event; a status change also moves the alert in
  the status index (gsi1pk);
- a link to a work order writes the link item (and deletes the previous one) with the alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from climatrak.alerts.items import (
    ACTIVE,
    NO_DATA,
    NO_DATA_WATCH_INDEX_PK,
    STATS_SK,
    AlertItem,
    AlertStatsItem,
    NoDataWatchItem,
    RuleItem,
    WorkOrderLinkItem,
    alert_sk,
    alert_status_index_pk,
    alert_status_index_sk,
    no_data_watch_sk,
    rule_sk,
    work_order_link_prefix,
    work_order_link_sk,
)
from climatrak.alerts.records import acknowledged_event, stats_deltas
from climatrak.core.config import Settings
from climatrak.core.errors import Conflict
from climatrak.core.events import EventEnvelope, add_to_outbox
from climatrak.core.items import bind_main_table, condition_failed, transaction_connection
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import utc_now_iso
from climatrak.registry.repository import RegistryRepository

STALE_WRITE = "This record was changed by someone else; reload it and try again."
ALERT_PREFIX = "ALERT#"
RULE_PREFIX = "RULE#"
# past every `ALERT#{id:08d}` sort key (ids are digits)
_ALERT_END = "ALERT#~"
QUERY_PAGE = 200


# ---- alert state changes (in place; the repository writes them) ---------------------------------


def mark_acknowledged(alert: AlertItem, user_id: int | None, email: str | None, now: str) -> None:
    alert.acknowledged = True
    alert.acknowledged_at = now
    alert.acknowledged_by = user_id
    alert.acknowledged_by_email = email
    alert.updated_at = now


def mark_resolved(alert: AlertItem, user_id: int | None, email: str | None, resolution: str, now: str) -> None:
    """Resolve (acknowledging too when it was not: a resolved alert has been seen)."""
    if not alert.acknowledged:
        mark_acknowledged(alert, user_id, email, now)
    alert.resolved = True
    alert.resolved_at = now
    alert.resolved_by = user_id
    alert.resolved_by_email = email
    alert.resolution = resolution
    alert.updated_at = now


def add_note(alert: AlertItem, note: str) -> None:
    if note:
        alert.notes = [*(alert.notes or []), note]


class AlertRepository:
    def __init__(self, tenant: str, settings: Settings) -> None:
        if not tenant:
            raise ValueError("a tenant is required to build alert keys")
        self.tenant = tenant
        self.settings = settings
        self.keys = TenantKeys(tenant)
        self.pk = self.keys.pk
        bind_main_table(settings.main_table)
        self.registry = RegistryRepository(tenant, settings)

    # ---- ids ---------------------------------------------------------------------------

    def new_rule_id(self) -> int:
        return self.registry.new_id("alert_rule")

    def new_parameter_ids(self, count: int) -> list[int]:
        if count < 1:
            return []
        last = self.registry.allocate_ids("alert_rule_parameter", count)
        return list(range(last - count + 1, last + 1))

    def new_alert_id(self) -> int:
        """From the counter the ingest evaluator allocates alert ids from (`COUNTER#alert`)."""
        return self.registry.new_id("alert")

    # ---- rules -------------------------------------------------------------------------

    def get_rule(self, rule_id: int) -> RuleItem | None:
        try:
            return RuleItem.get(self.pk, rule_sk(rule_id), consistent_read=True)
        except RuleItem.DoesNotExist:
            return None

    def list_rules(self) -> list[RuleItem]:
        """The tenant's rules, newest first."""
        return list(RuleItem.query(self.pk, RuleItem.sk.startswith(RULE_PREFIX), scan_index_forward=False))

    def rules_of_asset(self, asset_id: int) -> list[RuleItem]:
        """An asset's rules: the one gsi1 query ingest makes (eventually consistent)."""
        return list(RuleItem.by_asset.query(self.keys.asset_index(asset_id), RuleItem.gsi1sk.startswith(RULE_PREFIX)))

    def rules_by_id(self, rule_ids: Iterable[int]) -> dict[int, RuleItem]:
        keys = [(self.pk, rule_sk(rule_id)) for rule_id in sorted(set(rule_ids))]
        return {int(rule.id): rule for rule in RuleItem.batch_get(keys)} if keys else {}

    def save_rule(self, rule: RuleItem, *, create: bool = False) -> None:
        """Create or write back (version-checked) a rule, with its no-data watch item put or
        deleted in the same transaction."""
        rule_id, asset_id = int(rule.id), int(rule.asset_id)
        rule.pk, rule.sk = self.pk, rule_sk(rule_id)
        # ingest reads an asset's rules with one gsi1 query on exactly these keys
        rule.gsi1pk, rule.gsi1sk = self.keys.asset_index(asset_id), rule_sk(rule_id)
        with self._transaction() as transaction:
            if rule.rule_kind == NO_DATA and rule.enabled:
                transaction.save(self._watch(rule_id, asset_id))
            else:
                transaction.delete(NoDataWatchItem(self.pk, no_data_watch_sk(rule_id)))
            transaction.save(rule, condition=RuleItem.pk.does_not_exist() if create else None)

    def delete_rule(self, rule: RuleItem) -> None:
        with self._transaction() as transaction:
            transaction.delete(rule)
            transaction.delete(NoDataWatchItem(self.pk, no_data_watch_sk(int(rule.id))))

    def no_data_watch(self, rule_id: int) -> NoDataWatchItem | None:
        try:
            return NoDataWatchItem.get(self.pk, no_data_watch_sk(rule_id), consistent_read=True)
        except NoDataWatchItem.DoesNotExist:
            return None

    def _watch(self, rule_id: int, asset_id: int) -> NoDataWatchItem:
        return NoDataWatchItem(
            self.pk,
            no_data_watch_sk(rule_id),
            tenant=self.tenant,
            rule_id=rule_id,
            asset_id=asset_id,
            gsi1pk=NO_DATA_WATCH_INDEX_PK,
            gsi1sk=f"{self.tenant}#{rule_id:08d}",
        )

    # ---- alerts: reads -----------------------------------------------------------------

    def get_alert(self, alert_id: int) -> AlertItem | None:
        try:
            return AlertItem.get(self.pk, alert_sk(alert_id), consistent_read=True)
        except AlertItem.DoesNotExist:
            return None

    def alerts(self, status: str | None, after: str | None, oldest_first: bool) -> Iterator[tuple[str, AlertItem]]:
        """`(position, alert)` pairs in key order, newest first (oldest first when
        `oldest_first`), strictly past `after`. With a status: its gsi1 partition, by
        triggered_at; without: the tenant partition, by id. Read lazily, page by page."""
        if status is not None:
            condition: Condition | None = None
            if after is not None:
                condition = AlertItem.gsi1sk > after if oldest_first else AlertItem.gsi1sk < after
            rows = AlertItem.by_status.query(
                alert_status_index_pk(self.tenant, status),
                condition,
                scan_index_forward=oldest_first,
                page_size=QUERY_PAGE,
            )
            return ((alert.gsi1sk, alert) for alert in rows)
        if after is None:
            condition = AlertItem.sk.startswith(ALERT_PREFIX)
        elif oldest_first:
            condition = AlertItem.sk.between(after, _ALERT_END)
        else:
            condition = AlertItem.sk.between(ALERT_PREFIX, after)
        rows = AlertItem.query(self.pk, condition, scan_index_forward=oldest_first, page_size=QUERY_PAGE)
        return ((alert.sk, alert) for alert in rows if alert.sk != after)

    def stats(self) -> AlertStatsItem:
        """The dashboard counters (zeros before the first alert)."""
        try:
            return AlertStatsItem.get(self.pk, STATS_SK, consistent_read=True)
        except AlertStatsItem.DoesNotExist:
            return AlertStatsItem(self.pk, STATS_SK)

    def alerts_of_work_order(self, work_order_id: int) -> list[int]:
        """The alerts linked to a work order (its link items, read consistently)."""
        links = WorkOrderLinkItem.query(
            self.pk, WorkOrderLinkItem.sk.startswith(work_order_link_prefix(work_order_id)), consistent_read=True
        )
        return [int(link.alert_id) for link in links]

    # ---- alerts: writes ----------------------------------------------------------------

    def place_alert(self, alert: AlertItem) -> None:
        """Keys of an alert: the tenant partition, and the status index by triggered_at."""
        alert.pk, alert.sk = self.pk, alert_sk(int(alert.id))
        alert.gsi1pk = alert_status_index_pk(self.tenant, alert.status)
        alert.gsi1sk = alert_status_index_sk(alert.triggered_at, int(alert.id))

    def raise_alert(self, alert: AlertItem, event: EventEnvelope) -> None:
        """A new alert, its counters and its `alert.raised` in one transaction (test worlds use it;
        ingest and the no-data checker write the same items through the evaluator's AlertStore)."""
        self.place_alert(alert)
        with self._transaction() as transaction:
            transaction.save(alert, condition=AlertItem.pk.does_not_exist())
            self.stats_writes(transaction, stats_deltas(None, alert.status, alert.severity))
            add_to_outbox(transaction, event)

    def change_alert(self, alert: AlertItem, before: str, events: Iterable[EventEnvelope]) -> None:
        """Write back an alert read earlier whose status went from `before` to its current one."""
        with self._transaction() as transaction:
            self.alert_writes(transaction, alert, before, events)

    def alert_writes(
        self, transaction: TransactWrite, alert: AlertItem, before: str, events: Iterable[EventEnvelope]
    ) -> None:
        """Adds an alert change to a caller's transaction: the alert (version-checked, moved
        to its status's index partition), its counter deltas and its events."""
        self.place_alert(alert)
        transaction.save(alert)
        self.stats_writes(transaction, stats_deltas(before, alert.status, alert.severity))
        for event in events:
            add_to_outbox(transaction, event)

    def stats_writes(self, transaction: TransactWrite, deltas: dict[str, int]) -> None:
        actions: list[Action] = [
            getattr(AlertStatsItem, name).add(value) for name, value in sorted(deltas.items()) if value
        ]
        if not actions:
            return
        # an ADD creates the item: name its kind too, once
        actions.append(AlertStatsItem.kind.set(AlertStatsItem.kind | AlertStatsItem))
        transaction.update(AlertStatsItem(self.pk, STATS_SK), actions=actions, add_version_condition=False)

    def link_writes(
        self,
        transaction: TransactWrite,
        alert: AlertItem,
        work_order_id: int,
        work_order_number: str,
        note: str,
        acknowledge: bool,
        *,
        user_id: int | None = None,
        email: str | None = None,
    ) -> None:
        """Adds to a caller's transaction everything linking `alert` (as read) to a work order
        needs: the alert (version-checked) with the link and `note`, the link item, the delete
        of the link to the work order it was linked to before, and — when `acknowledge` and the
        alert is still active — its acknowledgement by `user_id`/`email` (None: the system)
        with counters and `alert.acknowledged`. Mutates `alert`."""
        alert_id = int(alert.id)
        before = alert.status
        previous = alert.work_order_id
        now = utc_now_iso()
        events: list[EventEnvelope] = []
        if acknowledge and before == ACTIVE:
            mark_acknowledged(alert, user_id, email, now)
            events.append(acknowledged_event(self.tenant, alert))
        alert.work_order_id = work_order_id
        alert.work_order_number = work_order_number
        add_note(alert, note)
        alert.updated_at = now
        if previous is not None and int(previous) != work_order_id:
            transaction.delete(WorkOrderLinkItem(self.pk, work_order_link_sk(int(previous), alert_id)))
        transaction.save(
            WorkOrderLinkItem(
                self.pk,
                work_order_link_sk(work_order_id, alert_id),
                work_order_id=work_order_id,
                alert_id=alert_id,
                created_at=now,
            )
        )
        self.alert_writes(transaction, alert, before, events)

    def link_work_order(
        self,
        alert: AlertItem,
        work_order_id: int,
        work_order_number: str,
        note: str,
        *,
        user_id: int | None,
        email: str | None,
    ) -> None:
        with self._transaction() as transaction:
            self.link_writes(
                transaction, alert, work_order_id, work_order_number, note, True, user_id=user_id, email=email
            )

    def delete_alert(self, alert: AlertItem) -> None:
        """Delete an alert read earlier (version-checked), its counters and its link item."""
        with self._transaction() as transaction:
            transaction.delete(alert)
            if alert.work_order_id is not None:
                link_sk = work_order_link_sk(int(alert.work_order_id), int(alert.id))
                transaction.delete(WorkOrderLinkItem(self.pk, link_sk))
            self.stats_writes(transaction, stats_deltas(alert.status, None, alert.severity))

    # ---- transactions ------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[TransactWrite]:
        """A TransactWrite whose failed condition (a version or an existence check) is a 409."""
        try:
            with TransactWrite(connection=transaction_connection()) as transaction:
                yield transaction
        except TransactWriteError as error:
            if condition_failed(error):
                raise Conflict(STALE_WRITE) from error
            raise
