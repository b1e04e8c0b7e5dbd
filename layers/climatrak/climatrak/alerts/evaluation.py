"""The evaluation of one rule parameter over readings: a small state machine (pure).

State per parameter (persisted by the evaluator, ADR 0010):
- `watermark`: the newest reading time already evaluated. Older readings — a redelivered batch,
  a late message — are never evaluated again, so they cannot start, fire or clear anything.
- `breach_since`: when the condition started to hold (None while it does not).
- `alert_id`: the open episode's alert; while set, no new alert is raised for this parameter.
- `last_fired`: when the last alert was raised; a new one waits for the cooldown.

A threshold parameter raises when its condition has held for `duration` (measured between
readings: the first breaching reading starts the clock, a later breaching reading at or past
`duration` fires) and clears — resolving its alert — at the first reading where it does not hold.
A no-data parameter is raised by the scheduled checker; any newer reading clears it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from climatrak.alerts.conditions import OPERATORS
from climatrak.alerts.items import NO_DATA, RuleItem, RuleParameterAttribute

MINUTE_MS = 60_000


@dataclass(slots=True)
class ConditionState:
    watermark: int = -1
    breach_since: int | None = None
    alert_id: int | None = None
    last_fired: int | None = None

    def to_json(self) -> list[int | None]:
        """Stored as [watermark, breach_since, alert_id, last_fired] (compact: read every batch)."""
        return [self.watermark, self.breach_since, self.alert_id, self.last_fired]

    def copy(self) -> ConditionState:
        return ConditionState(self.watermark, self.breach_since, self.alert_id, self.last_fired)


@dataclass(frozen=True)
class Condition:
    """One enabled rule parameter, compiled for evaluation."""

    key: str
    rule_id: int
    rule: RuleItem
    parameter: RuleParameterAttribute
    sensor: str
    device_id: int | None
    kind: str
    operator: str
    threshold: float | None
    duration_ms: int
    cooldown_ms: int
    # the operator as a function (None for no-data parameters)
    compare: Callable[[float, float], bool] | None

    def matches(self, device_id: int, sensor: str) -> bool:
        return sensor == self.sensor and (self.device_id is None or self.device_id == device_id)

    def can_fire(self, state: ConditionState, ts: int) -> bool:
        return state.alert_id is None and (state.last_fired is None or ts - state.last_fired >= self.cooldown_ms)


@dataclass(frozen=True)
class Raise:
    ts: int
    value: float


@dataclass(frozen=True)
class Clear:
    ts: int
    value: float | None
    alert_id: int


Transition = Raise | Clear


def condition_key(rule_id: int, index: int, sensor: str) -> str:
    """Stable across rule edits that keep a parameter's position and sensor (a new threshold
    then applies to the running episode instead of orphaning it)."""
    return f"{rule_id}#{index}#{sensor}"


def compile_rules(rules: Iterable[RuleItem]) -> list[Condition]:
    conditions: list[Condition] = []
    for rule in rules:
        if not rule.enabled:
            continue
        for index, parameter in enumerate(rule.parameters or []):
            threshold = parameter.threshold
            if rule.rule_kind != NO_DATA and threshold is None:
                continue
            conditions.append(
                Condition(
                    key=condition_key(int(rule.id), index, parameter.parameter_key),
                    rule_id=int(rule.id),
                    rule=rule,
                    parameter=parameter,
                    sensor=parameter.parameter_key,
                    device_id=int(parameter.device_id) if parameter.device_id is not None else None,
                    kind=rule.rule_kind,
                    operator=parameter.operator,
                    threshold=float(threshold) if threshold is not None else None,
                    duration_ms=int(parameter.duration) * MINUTE_MS,
                    cooldown_ms=int(parameter.cooldown) * MINUTE_MS,
                    compare=OPERATORS.get(parameter.operator) if rule.rule_kind != NO_DATA else None,
                )
            )
    return conditions


def advance(
    condition: Condition,
    state: ConditionState,
    readings: Iterable[tuple[int, float]],
    max_transitions: int | None = None,
) -> tuple[ConditionState, list[Transition]]:
    """Apply readings (time-ordered) newer than the watermark. Returns the new state and what
    happened; the caller gives a Raise its alert id (`state.alert_id` is -1 until then).

    After `max_transitions` it stops (the watermark marks how far it got): the caller commits
    and calls it again with the same readings to go on."""
    state = state.copy()
    transitions: list[Transition] = []
    compare, threshold = condition.compare, condition.threshold
    for ts, value in readings:
        if max_transitions is not None and len(transitions) >= max_transitions:
            break
        breaching = compare is not None and threshold is not None and compare(value, threshold)
        if ts <= state.watermark:
            # Never evaluated as new; but a late reading under the threshold inside the running
            # breach shows it has not held since `breach_since`: it restarts at the newest
            # reading evaluated (which was breaching). This can delay an alert, never invent one.
            if (
                not breaching
                and compare is not None
                and state.breach_since is not None
                and state.alert_id is None
                and ts >= state.breach_since
            ):
                state.breach_since = state.watermark
            continue
        state.watermark = ts
        if condition.kind == NO_DATA:
            if state.alert_id is not None:  # data is back
                transitions.append(Clear(ts, value, state.alert_id))
                state.alert_id = None
            continue
        if breaching:
            if state.breach_since is None:
                state.breach_since = ts
            if ts - state.breach_since >= condition.duration_ms and condition.can_fire(state, ts):
                transitions.append(Raise(ts, value))
                state.alert_id = -1
                state.last_fired = ts
        else:
            state.breach_since = None
            if state.alert_id is not None:
                transitions.append(Clear(ts, value, state.alert_id))
                state.alert_id = None
    return state, transitions


def silence(condition: Condition, state: ConditionState, now_ms: int) -> tuple[ConditionState, Raise | None]:
    """The no-data check found no reading of the sensor within `duration` of `now_ms`: raise,
    unless an alert is open or the cooldown holds. Its value is the minutes since the newest
    reading evaluated (the duration when none ever was)."""
    if not condition.can_fire(state, now_ms):
        return state, None
    silent_ms = now_ms - state.watermark if state.watermark >= 0 else condition.duration_ms
    state = state.copy()
    state.alert_id = -1
    state.last_fired = now_ms
    return state, Raise(now_ms, round(silent_ms / MINUTE_MS, 1))
