"""Alert evaluation in the ingest pipeline (and the no-data checker): rules, state, transitions.

Hot path, so the low-level client: an asset's rules come from one gsi1 query cached per
container; its evaluation state is one item read per batch (only for assets that have rules);
a write happens only when a state changes. Every write of an asset's state is one
TransactWriteItems — the state item (conditioned on the version read), the alerts raised or
resolved, their outbox events and the dashboard counters — so two batches evaluated at once
cannot both raise the same alert: the loser re-reads the state and re-evaluates, and by then
its readings are behind the winner's watermark or see the alert already open.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from climatrak.alerts.conditions import (
    DEFAULT_NO_DATA_TEMPLATE,
    DEFAULT_TEMPLATE,
    OPERATOR_WORDS,
    number_text,
    render_message,
)
from climatrak.alerts.evaluation import (
    Clear,
    Condition,
    ConditionState,
    Raise,
    Transition,
    advance,
    compile_rules,
)
from climatrak.alerts.items import (
    NO_DATA,
    RESOLVED,
    STATS_SK,
    AlertItem,
    RuleItem,
    alert_sk,
    alert_status_index_pk,
    alert_status_index_sk,
    state_sk,
)
from climatrak.alerts.records import CONDITION_CLEARED, raised_event, resolved_event, stats_deltas
from climatrak.core.dynamo import batch_get
from climatrak.core.events import EventEnvelope, outbox_item
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import iso_ms, now_ms

logger = Logger(service="alerts")

# A transaction holds at most 100 items: the state, the counters, and two per transition.
MAX_TRANSITIONS_PER_TRANSACTION = 45
# One condition's transitions per step (a backlog of a cycling machine can hold many): fewer
# than a transaction holds, so a chunk of whole conditions always fits.
MAX_TRANSITIONS_PER_STEP = 20
MAX_ATTEMPTS = 6
CLEARED_NOTE = "[Resolução] Condição normalizada (valor {value}{unit})."
DATA_BACK_NOTE = "[Resolução] Dados voltaram a chegar."

CONTENTION_CODES = frozenset({"ConditionalCheckFailed", "TransactionConflict"})

Step = Callable[[Condition, ConditionState], tuple[ConditionState, list[Transition]]]


class StateContention(RuntimeError):
    """An asset's state kept changing under this evaluation: the batch is retried."""


@dataclass
class Outcome:
    raised: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class AssetRules:
    """An asset's enabled rule parameters, indexed by the series they read."""

    conditions: list[Condition]
    by_series: dict[tuple[int | None, str], list[Condition]]

    @classmethod
    def of(cls, conditions: list[Condition]) -> AssetRules:
        by_series: dict[tuple[int | None, str], list[Condition]] = {}
        for condition in conditions:
            by_series.setdefault((condition.device_id, condition.sensor), []).append(condition)
        return cls(conditions, by_series)

    def watches(self, device_id: int, sensor: str) -> bool:
        return (device_id, sensor) in self.by_series or (None, sensor) in self.by_series

    def reading(self, device_id: int, sensor: str) -> list[Condition]:
        return [*self.by_series.get((device_id, sensor), ()), *self.by_series.get((None, sensor), ())]


NO_RULES = AssetRules([], {})


class RuleSource:
    """An asset's rules from one gsi1 query, cached per container for `ttl_seconds` (a rule
    edit reaches ingest within that time)."""

    def __init__(
        self,
        dynamodb: Any,
        main_table: str,
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = main_table
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[str, int], tuple[float, AssetRules]] = {}

    def asset_rules(self, tenant: str, asset_id: int) -> AssetRules:
        now = self._clock()
        cached = self._cache.get((tenant, asset_id))
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        conditions = compile_rules(self.rules(tenant, asset_id))
        rules = AssetRules.of(conditions) if conditions else NO_RULES
        self._cache[(tenant, asset_id)] = (now, rules)
        return rules

    def conditions(self, tenant: str, asset_id: int) -> list[Condition]:
        return self.asset_rules(tenant, asset_id).conditions

    def rules(self, tenant: str, asset_id: int) -> list[RuleItem]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk AND begins_with(gsi1sk, :rule)",
            "ExpressionAttributeValues": {
                ":pk": {"S": TenantKeys(tenant).asset_index(asset_id)},
                ":rule": {"S": "RULE#"},
            },
        }
        rules: list[RuleItem] = []
        while True:
            response = self._dynamodb.query(**request)
            rules.extend(RuleItem.from_raw_data(item) for item in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                return rules
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class AlertStore:
    """Low-level reads and writes of alert state, alerts, counters and their events."""

    def __init__(self, dynamodb: Any, main_table: str) -> None:
        self._dynamodb = dynamodb
        self._table = main_table

    def load_state(self, tenant: str, asset_id: int, consistent: bool) -> tuple[dict[str, ConditionState], int]:
        response = self._dynamodb.get_item(
            TableName=self._table,
            Key={"pk": {"S": TenantKeys(tenant).pk}, "sk": {"S": state_sk(asset_id)}},
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        if not item:
            return {}, 0
        raw = orjson.loads(item["states"]["S"])
        # stored as [watermark, breach_since, alert_id, last_fired] (ConditionState.to_json)
        return {key: ConditionState(*value) for key, value in raw.items()}, int(item["state_version"]["N"])

    def allocate_alert_ids(self, tenant: str, count: int) -> list[int]:
        """`count` new alert ids from the tenant's counter (the same counter the registry uses)."""
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": {"S": TenantKeys(tenant).pk}, "sk": {"S": "COUNTER#alert"}},
            UpdateExpression="ADD #value :n SET #kind = if_not_exists(#kind, :kind)",
            ExpressionAttributeNames={"#value": "value", "#kind": "kind"},
            ExpressionAttributeValues={":n": {"N": str(count)}, ":kind": {"S": "counter"}},
            ReturnValues="UPDATED_NEW",
        )
        last = int(response["Attributes"]["value"]["N"])
        return list(range(last - count + 1, last + 1))

    def alerts(self, tenant: str, alert_ids: Iterable[int]) -> dict[int, AlertItem]:
        pk = TenantKeys(tenant).pk
        keys = [{"pk": {"S": pk}, "sk": {"S": alert_sk(alert_id)}} for alert_id in sorted(set(alert_ids))]
        # consistent: an alert raised by the previous batch must be seen to be resolved
        found = (AlertItem.from_raw_data(raw) for raw in batch_get(self._dynamodb, self._table, keys, consistent=True))
        return {int(alert.id): alert for alert in found}

    def commit(
        self,
        tenant: str,
        asset_id: int,
        states: dict[str, ConditionState],
        read_version: int,
        raised: list[AlertItem],
        resolved: list[tuple[AlertItem, str]],
        now_iso: str,
    ) -> bool:
        """One transaction; False when a condition failed (the state or an alert changed since read).

        `resolved`: (the alert as it will be stored, its status before)."""
        pk = TenantKeys(tenant).pk
        state_item = {
            "pk": {"S": pk},
            "sk": {"S": state_sk(asset_id)},
            "kind": {"S": "alert_state"},
            "states": {"S": orjson.dumps({key: state.to_json() for key, state in states.items()}).decode()},
            "state_version": {"N": str(read_version + 1)},
            "updated_at": {"S": now_iso},
        }
        state_put: dict[str, Any] = {"TableName": self._table, "Item": state_item}
        if read_version:
            state_put["ConditionExpression"] = "state_version = :read"
            state_put["ExpressionAttributeValues"] = {":read": {"N": str(read_version)}}
        else:
            state_put["ConditionExpression"] = "attribute_not_exists(pk)"
        if not raised and not resolved:
            # only the evaluation moved (a breach started or ended, newer readings): one put
            return self._write(self._dynamodb.put_item, **state_put)
        items: list[dict[str, Any]] = [{"Put": state_put}]
        deltas: dict[str, int] = {}
        events: list[EventEnvelope] = []
        for alert in raised:
            items.append({"Put": self._new(alert.serialize())})
            events.append(raised_event(tenant, alert))
            if alert.resolved:  # raised and cleared within one batch
                events.append(resolved_event(tenant, alert))
            _merge(deltas, stats_deltas(None, alert.status, alert.severity))
        for alert, before in resolved:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": alert.serialize(),
                        "ConditionExpression": "#version = :read",
                        "ExpressionAttributeNames": {"#version": "version"},
                        "ExpressionAttributeValues": {":read": {"N": str(int(alert.version) - 1)}},
                    }
                }
            )
            events.append(resolved_event(tenant, alert))
            _merge(deltas, stats_deltas(before, RESOLVED, alert.severity))
        items.extend({"Put": self._new(outbox_item(event).serialize())} for event in events)
        counters = {name: value for name, value in deltas.items() if value}
        if counters:
            names = {f"#c{i}": name for i, name in enumerate(counters)}
            values = {f":c{i}": {"N": str(value)} for i, value in enumerate(counters.values())}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": pk}, "sk": {"S": STATS_SK}},
                        "UpdateExpression": "SET #kind = if_not_exists(#kind, :kind) ADD "
                        + ", ".join(f"{name} {value}" for name, value in zip(names, values, strict=True)),
                        "ExpressionAttributeNames": {**names, "#kind": "kind"},
                        "ExpressionAttributeValues": {**values, ":kind": {"S": "alert_stats"}},
                    }
                }
            )
        return self._write(self._dynamodb.transact_write_items, TransactItems=items)

    @staticmethod
    def _write(operation: Callable[..., Any], **request: Any) -> bool:
        """False when a condition refused the write."""
        try:
            operation(**request)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException":
                return False
            if code != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            # a failed condition, or another transaction on the same items (e.g. the counters):
            # contention, retried after reading the state again
            if not reasons or any(reason.get("Code") in CONTENTION_CODES for reason in reasons):
                return False
            raise
        return True

    def _new(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}


def _merge(into: dict[str, int], deltas: dict[str, int]) -> None:
    for name, value in deltas.items():
        into[name] = into.get(name, 0) + value


class AlertEngine:
    """Runs a step over an asset's conditions and commits what changed (retrying on contention)."""

    def __init__(self, store: AlertStore, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._clock = clock

    def run(self, tenant: str, asset_id: int, conditions: list[Condition], step: Step) -> Outcome:
        """Step `conditions` and commit what changed, until nothing changes: a step stops after
        MAX_TRANSITIONS_PER_STEP transitions and goes on from its watermark once they are
        committed. The state keeps every condition's entry — never pruned here, as another
        container's cached rules may be newer than this one's."""
        outcome = Outcome()
        if not conditions:
            return outcome
        contention = 0
        states, version = self._store.load_state(tenant, asset_id, consistent=False)
        while True:
            changes: list[tuple[Condition, ConditionState, list[Transition]]] = []
            for condition in conditions:
                before = states.get(condition.key) or ConditionState()
                after, transitions = step(condition, before)
                if after != before or transitions:
                    changes.append((condition, after, transitions))
            if not changes:
                return outcome
            committed = self._commit_all(tenant, asset_id, states, version, changes, outcome)
            if committed is None:  # the state changed since read (another batch): read it again
                contention += 1
                if contention >= MAX_ATTEMPTS:
                    raise StateContention(f"alert state of asset {asset_id} kept changing")
                _back_off(contention)
                states, version = self._store.load_state(tenant, asset_id, consistent=True)
                continue
            states, version = committed
            if all(len(transitions) < MAX_TRANSITIONS_PER_STEP for _, _, transitions in changes):
                return outcome

    def _commit_all(
        self,
        tenant: str,
        asset_id: int,
        states: dict[str, ConditionState],
        version: int,
        changes: list[tuple[Condition, ConditionState, list[Transition]]],
        outcome: Outcome,
    ) -> tuple[dict[str, ConditionState], int] | None:
        """The changes in as many transactions as they need; the state and version committed,
        or None when a condition refused one (what committed before it stays committed)."""
        stored = dict(states)
        if not any(transitions for _, _, transitions in changes):
            # the common case: newer readings, maybe a breach starting or ending
            stored.update((condition.key, after) for condition, after, _ in changes)
            if not self._store.commit(tenant, asset_id, stored, version, [], [], iso_ms(self._clock())):
                return None
            return stored, version + 1
        for chunk in _chunks(changes):
            if not self._commit(tenant, asset_id, stored, version, chunk, outcome):
                return None
            version += 1
        return stored, version

    def _commit(
        self,
        tenant: str,
        asset_id: int,
        stored: dict[str, ConditionState],
        version: int,
        chunk: list[tuple[Condition, ConditionState, list[Transition]]],
        outcome: Outcome,
    ) -> bool:
        now_iso = iso_ms(self._clock())
        raise_count = sum(isinstance(t, Raise) for _, _, transitions in chunk for t in transitions)
        ids = iter(self._store.allocate_alert_ids(tenant, raise_count) if raise_count else [])
        new_states = dict(stored)
        raised: list[AlertItem] = []
        clears: list[tuple[Condition, Clear]] = []
        for condition, after, transitions in chunk:
            latest: AlertItem | None = None  # raised by this chunk
            for transition in transitions:
                if isinstance(transition, Raise):
                    latest = new_alert(tenant, condition, next(ids), transition, now_iso)
                    raised.append(latest)
                elif transition.alert_id < 0:  # clears the alert raised just before, in this batch
                    if latest is not None:
                        resolve_cleared(tenant, latest, condition, transition, now_iso)
                else:
                    clears.append((condition, transition))
            if after.alert_id is not None and after.alert_id < 0 and latest is not None:
                after.alert_id = int(latest.id)
            new_states[condition.key] = after
        open_alerts = self._store.alerts(tenant, (t.alert_id for _, t in clears)) if clears else {}
        resolved: list[tuple[AlertItem, str]] = []
        for condition, clear in clears:
            alert = open_alerts.get(clear.alert_id)
            if alert is None or alert.resolved:  # deleted, or resolved by hand: only the state moves
                continue
            before = alert.status
            resolve_cleared(tenant, alert, condition, clear, now_iso)
            resolved.append((alert, before))
        if not self._store.commit(tenant, asset_id, new_states, version, raised, resolved, now_iso):
            return False
        stored.update(new_states)
        outcome.raised.extend(int(alert.id) for alert in raised)
        outcome.resolved.extend(int(alert.id) for alert, _ in resolved)
        for alert in raised:
            logger.info(
                "alert raised",
                extra={
                    "tenant": tenant,
                    "alert_id": int(alert.id),
                    "rule_id": alert.rule_id,
                    "severity": alert.severity,
                },
            )
        return True


def _back_off(attempt: int) -> None:
    """Jittered exponential back-off before reading a contended state again."""
    time.sleep(random.uniform(0, min(1.0, 0.025 * 2**attempt)))  # noqa: S311 - jitter, not crypto


def _chunks(
    changes: list[tuple[Condition, ConditionState, list[Transition]]],
) -> Iterable[list[tuple[Condition, ConditionState, list[Transition]]]]:
    chunk: list[tuple[Condition, ConditionState, list[Transition]]] = []
    transitions = 0
    for change in changes:
        if chunk and transitions + len(change[2]) > MAX_TRANSITIONS_PER_TRANSACTION:
            yield chunk
            chunk, transitions = [], 0
        chunk.append(change)
        transitions += len(change[2])
    if chunk:
        yield chunk


def message_of(condition: Condition, value: float) -> str:
    parameter = condition.parameter
    default = DEFAULT_NO_DATA_TEMPLATE if condition.kind == NO_DATA else DEFAULT_TEMPLATE
    template = (parameter.message_template or "").strip() or default
    return render_message(
        template,
        {
            "value": number_text(value),
            "threshold": number_text(condition.threshold),
            "sensor": parameter.parameter_key,
            "variavel": parameter.parameter_key,
            "operator": OPERATOR_WORDS.get(condition.operator, condition.operator),
            "unit": parameter.unit or "",
            "asset": condition.rule.asset_name or condition.rule.asset_tag,
            "duration": str(int(parameter.duration)),
        },
    )


def new_alert(tenant: str, condition: Condition, alert_id: int, transition: Raise, now_iso: str) -> AlertItem:
    rule, parameter = condition.rule, condition.parameter
    triggered_at = iso_ms(transition.ts)
    no_data = condition.kind == NO_DATA
    alert = AlertItem(
        TenantKeys(tenant).pk,
        alert_sk(alert_id),
        id=alert_id,
        rule_id=int(rule.id),
        rule_name=rule.name,
        rule_kind=rule.rule_kind,
        condition_key=condition.key,
        asset_id=int(rule.asset_id),
        asset_tag=rule.asset_tag,
        equipment_name=rule.asset_name or rule.asset_tag,
        site_id=rule.site_id,
        message=message_of(condition, transition.value),
        severity=parameter.severity,
        parameter_key=parameter.parameter_key,
        parameter_value=transition.value,
        threshold=float(parameter.duration) if no_data else condition.threshold,
        operator="" if no_data else condition.operator,
        unit="min" if no_data else (parameter.unit or ""),
        triggered_at=triggered_at,
        actions=list(rule.actions or []),
        create_work_order=bool(rule.create_work_order),
        acknowledged=False,
        resolved=False,
        notes=[],
        created_at=now_iso,
        updated_at=now_iso,
        version=1,
    )
    alert.gsi1pk = alert_status_index_pk(tenant, alert.status)
    alert.gsi1sk = alert_status_index_sk(triggered_at, alert_id)
    return alert


def resolve_cleared(tenant: str, alert: AlertItem, condition: Condition, clear: Clear, now_iso: str) -> None:
    """The alert as its condition clearing resolves it (in place; version + 1)."""
    if condition.kind == NO_DATA:
        note = DATA_BACK_NOTE
    else:
        note = CLEARED_NOTE.format(value=number_text(clear.value), unit=condition.parameter.unit or "")
    alert.resolved = True
    alert.resolved_at = iso_ms(clear.ts)
    alert.resolution = CONDITION_CLEARED
    alert.notes = [*(alert.notes or []), note]
    alert.updated_at = now_iso
    alert.version = int(alert.version or 0) + 1
    alert.gsi1pk = alert_status_index_pk(tenant, RESOLVED)


@dataclass
class AssetReadings:
    """One asset's readings of a batch: (device id, sensor tag) → [(time, value)], time-ordered."""

    asset_id: int
    series: dict[tuple[int, str], list[tuple[int, float]]] = field(default_factory=dict)


class AlertEvaluator:
    """What ingest calls: which readings an asset's rules read, then their evaluation."""

    def __init__(self, rules: RuleSource, engine: AlertEngine) -> None:
        self._rules = rules
        self._engine = engine

    def rules_of(self, tenant: str, asset_id: int) -> AssetRules:
        return self._rules.asset_rules(tenant, asset_id)

    def evaluate(self, tenant: str, rules: AssetRules, readings: AssetReadings) -> Outcome:
        involved: dict[str, Condition] = {}
        for device_id, sensor in readings.series:
            for condition in rules.reading(device_id, sensor):
                involved[condition.key] = condition

        def step(condition: Condition, state: ConditionState) -> tuple[ConditionState, list[Transition]]:
            if condition.device_id is not None:
                points = readings.series.get((condition.device_id, condition.sensor), [])
            else:  # any device of the asset: their readings merged in time order
                points = sorted(
                    point
                    for (_, sensor), series in readings.series.items()
                    if sensor == condition.sensor
                    for point in series
                )
            return advance(condition, state, points, MAX_TRANSITIONS_PER_STEP)

        return self._engine.run(tenant, readings.asset_id, list(involved.values()), step)
