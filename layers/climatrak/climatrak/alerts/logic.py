"""TrakSense alert rules and the alert lifecycle (API.md §4.6, §4.7; issue 4).

Plain functions over a tenant-scoped `AlertRepository`; no boto3 and no HTTP here. Ids of
another tenant raise NotFound, so a tenant never learns of another's rows.

Rules: one or more parameters, each naming a sensor (by tag, or legacy `sensor_<id>`) of a
device bound to the rule's asset in the caller's tenant; the sensor's device is stored with the
parameter. The rule list's `severity` filter and the statistics use the first parameter's
severity (the legacy `severity` field the list shows), so a count and its filtered list agree.

Alerts (raised by the ingest evaluator): active → acknowledged → resolved, by hand here or when
the condition clears (evaluator) or the linked work order completes (the lead's consumer, through
`resolve_alert`). Each change writes its event and dashboard counters with the alert.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from climatrak.alerts.conditions import SEVERITY_DISPLAY, condition_display, normalise_severity
from climatrak.alerts.items import (
    ACTIVE,
    ALERT_STATUSES,
    NO_DATA,
    SEVERITIES,
    THRESHOLD,
    AlertItem,
    RuleItem,
    RuleParameterAttribute,
)
from climatrak.alerts.models import (
    ACTIONS,
    DEFAULT_ACTIONS,
    MAX_ID,
    Alert,
    AlertActionResult,
    AlertStatistics,
    LinkResult,
    Rule,
    RuleFields,
    RuleParameter,
    RuleParameterWrite,
    RulePatch,
    RuleStatistics,
    RuleToggleResult,
    RuleWrite,
)
from climatrak.alerts.records import MANUAL, acknowledged_event, resolved_event
from climatrak.alerts.repository import AlertRepository, add_note, mark_acknowledged, mark_resolved
from climatrak.cmms.repository import CmmsRepository
from climatrak.core.errors import DomainError, NotFound
from climatrak.core.identity import Principal
from climatrak.core.timeutil import iso_ms, parse_iso, to_ms, utc_now_iso
from climatrak.registry.items import AssetItem, SensorItem
from climatrak.registry.repository import RegistryRepository

T = TypeVar("T")

NOT_FOUND = "Not found."
DELETED_RULE = "(Regra Deletada)"
NO_PARAMETERS = "A rule needs at least one parameter."
NO_FORM = (
    "Send the rule's parameters as `parameters` (a list) or as the single-parameter fields "
    "(parameter_key, operator, threshold, unit, duration, severity)."
)
THRESHOLD_REQUIRED = "Parameter {position} ({sensor}): a threshold rule needs a numeric threshold."
NOT_A_SENSOR = 'Parameter {position}: "{sensor}" is not a sensor of a device of asset {asset}.'
NO_ACTIONS = "Choose at least one action."
NOT_A_CHOICE = '"{value}" is not a valid choice.'
NOT_NULL = "This field may not be null."
BLANK = "This field may not be blank."
ALREADY_ACKNOWLEDGED = "This alert has already been acknowledged."
ALREADY_RESOLVED = "This alert has already been resolved."
BAD_WORK_ORDER_ID = "work_order_id must be the id (an integer) of a work order."
WORK_ORDER_NOT_FOUND = "Work order not found."
BAD_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
NO_DATA_DISPLAY = "{sensor} sem dados por {duration} min"
# note lines appended to an alert's log (API.md §4.6)
ACKNOWLEDGE_NOTE = "[Reconhecimento]"
RESOLVE_NOTE = "[Resolução]"
LINK_NOTE = "[OS Vinculada] {number}"

LEGACY_SENSOR = re.compile(r"sensor_(\d{1,16})")
LEGACY_FIELDS = (
    "parameter_key",
    "variable_key",
    "operator",
    "threshold",
    "unit",
    "duration",
    "cooldown",
    "severity",
    "message_template",
)
RULE_FILTERS = ("enabled", "severity", "equipment_id", "equipment")
ALERT_FILTERS = (
    "status",
    "severity",
    "rule_id",
    "asset_tag",
    "asset",
    "site",
    "triggered_after",
    "triggered_before",
)


# ---- small helpers ---------------------------------------------------------------------------


def _require(item: T | None) -> T:
    if item is None:
        raise NotFound(NOT_FOUND)
    return item


def _given(raw: str | None) -> str | None:
    return raw.strip() if raw is not None and raw.strip() else None


def _bool_filter(raw: str | None, field: str) -> bool | None:
    value = _given(raw)
    if value is None:
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise DomainError("Must be a valid boolean.", field=field)


def _int_filter(raw: str | None, field: str) -> int | None:
    value = _given(raw)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 16):
        raise DomainError("Enter a whole number.", field=field)
    return int(value)


def _severity_filter(raw: str | None) -> str | None:
    value = _given(raw)
    if value is None:
        return None
    severity = normalise_severity(value)
    if severity is None:
        raise DomainError(NOT_A_CHOICE.format(value=value) + " Use Critical, High, Medium or Low.", field="severity")
    return severity


def _instant_filter(raw: str | None, field: str) -> str | None:
    """An ISO datetime (Z, an offset, or naive meaning UTC) in storage form."""
    value = _given(raw)
    if value is None:
        return None
    try:
        return iso_ms(to_ms(parse_iso(value)))
    except (ValueError, OverflowError, OSError):
        raise DomainError(BAD_DATETIME, field=field) from None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _log_line(tag: str, email: str | None, notes: str | None) -> str:
    """`[Reconhecimento] ana@x.com: checked on site`; nothing when no notes were given."""
    text = (notes or "").strip()
    if not text:
        return ""
    return f"{tag} {email}: {text}" if email else f"{tag} {text}"


# ---- rules: views ----------------------------------------------------------------------------


def parameter_view(parameter: RuleParameterAttribute) -> RuleParameter:
    return RuleParameter(
        id=int(parameter.id),
        parameter_key=parameter.parameter_key,
        variable_key=parameter.variable_key or "",
        operator=parameter.operator,
        threshold=_number(parameter.threshold),
        unit=parameter.unit or "",
        duration=int(parameter.duration),
        cooldown=int(parameter.cooldown),
        severity=parameter.severity,
        message_template=parameter.message_template or "",
        order=int(parameter.order),
        device=int(parameter.device_id) if parameter.device_id is not None else None,
    )


def _condition_text(rule: RuleItem, first: RuleParameter | None) -> str:
    if first is None:
        return ""
    if rule.rule_kind == NO_DATA:
        return NO_DATA_DISPLAY.format(sensor=first.parameter_key, duration=first.duration)
    return condition_display(first.parameter_key, first.operator, first.threshold, first.unit)


def rule_view(rule: RuleItem, asset: AssetItem | None = None) -> Rule:
    """A rule as API.md §4.7 shows it; names from the live asset, else the rule's snapshot."""
    parameters = [parameter_view(parameter) for parameter in rule.parameters or []]
    first = parameters[0] if parameters else None
    return Rule(
        id=int(rule.id),
        name=rule.name,
        description=rule.description or "",
        equipment=int(rule.asset_id),
        equipment_name=asset.name if asset is not None else rule.asset_name,
        equipment_tag=asset.tag if asset is not None else rule.asset_tag,
        parameters=parameters,
        parameter_key=first.parameter_key if first else "",
        variable_key=first.variable_key if first else "",
        operator=first.operator if first else "",
        threshold=first.threshold if first else None,
        unit=first.unit if first else "",
        duration=first.duration if first else 0,
        severity=first.severity if first else "Medium",
        actions=list(rule.actions or []),
        enabled=bool(rule.enabled),
        created_at=rule.created_at,
        updated_at=rule.updated_at,
        created_by=int(rule.created_by) if rule.created_by is not None else None,
        created_by_email=rule.created_by_email or "",
        condition_display=_condition_text(rule, first),
        kind=rule.rule_kind,
        create_work_order=bool(rule.create_work_order),
        cooldown=first.cooldown if first else 0,
    )


def first_severity(rule: RuleItem) -> str:
    parameters = rule.parameters or []
    return str(parameters[0].severity) if parameters else "Medium"


# ---- rules: reads ----------------------------------------------------------------------------


def list_rules(repo: AlertRepository, filters: Mapping[str, str | None]) -> list[Rule]:
    """Newest first. `equipment_id` (alias `equipment`): the asset's rules; `enabled`;
    `severity` (any case): the first parameter's severity."""
    enabled = _bool_filter(filters.get("enabled"), "enabled")
    severity = _severity_filter(filters.get("severity"))
    equipment_field = "equipment_id" if _given(filters.get("equipment_id")) else "equipment"
    equipment = _int_filter(filters.get(equipment_field), equipment_field)
    if equipment is not None:
        rules = sorted(repo.rules_of_asset(equipment), key=lambda rule: int(rule.id), reverse=True)
    else:
        rules = repo.list_rules()
    rules = [
        rule
        for rule in rules
        if (enabled is None or bool(rule.enabled) == enabled) and (severity is None or first_severity(rule) == severity)
    ]
    assets = {int(asset.id): asset for asset in repo.registry.list_assets()} if rules else {}
    return [rule_view(rule, assets.get(int(rule.asset_id))) for rule in rules]


def get_rule(repo: AlertRepository, rule_id: int) -> Rule:
    rule = _require(repo.get_rule(rule_id))
    return rule_view(rule, repo.registry.get_asset(int(rule.asset_id)))


def rule_statistics(repo: AlertRepository) -> RuleStatistics:
    rules = repo.list_rules()
    enabled = sum(1 for rule in rules if rule.enabled)
    counts = Counter(first_severity(rule) for rule in rules)
    by_severity = {severity: counts[severity] for severity in SEVERITIES}
    by_severity.update({severity.upper(): counts[severity] for severity in SEVERITIES})
    return RuleStatistics(total=len(rules), enabled=enabled, disabled=len(rules) - enabled, by_severity=by_severity)


# ---- rules: writes ---------------------------------------------------------------------------


def create_rule(repo: AlertRepository, caller: Principal, body: RuleWrite) -> Rule:
    now = utc_now_iso()
    rule = RuleItem(
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
        created_by_email=caller.email,
    )
    asset = _apply(repo, rule, body, whole=True)
    rule.id = repo.new_rule_id()
    repo.save_rule(rule, create=True)
    return rule_view(rule, asset)


def replace_rule(repo: AlertRepository, rule_id: int, body: RuleWrite) -> Rule:
    """PUT: the body is the whole rule; what it leaves out takes its default."""
    rule = _require(repo.get_rule(rule_id))
    asset = _apply(repo, rule, body, whole=True)
    rule.updated_at = utc_now_iso()
    repo.save_rule(rule)
    return rule_view(rule, asset)


def update_rule(repo: AlertRepository, rule_id: int, body: RulePatch) -> Rule:
    """PATCH: `parameters` present replaces them all; legacy fields change the first one."""
    rule = _require(repo.get_rule(rule_id))
    for name in ("name", "equipment", "parameters", "actions", "enabled", "kind", "create_work_order"):
        if name in body.model_fields_set and getattr(body, name) is None:
            raise DomainError(NOT_NULL, field=name)
    asset = _apply(repo, rule, body, whole=False)
    rule.updated_at = utc_now_iso()
    repo.save_rule(rule)
    return rule_view(rule, asset)


def toggle_rule(repo: AlertRepository, rule_id: int) -> RuleToggleResult:
    rule = _require(repo.get_rule(rule_id))
    rule.enabled = not rule.enabled
    asset = repo.registry.get_asset(int(rule.asset_id))
    if asset is not None:  # refresh the snapshot; a rule whose asset is gone can still be turned off
        _snapshot(rule, asset)
    rule.updated_at = utc_now_iso()
    repo.save_rule(rule)
    return RuleToggleResult(status="enabled" if rule.enabled else "disabled", rule=rule_view(rule, asset))


def delete_rule(repo: AlertRepository, rule_id: int) -> None:
    repo.delete_rule(_require(repo.get_rule(rule_id)))


def _snapshot(rule: RuleItem, asset: AssetItem) -> None:
    rule.asset_id = int(asset.id)
    rule.asset_tag = asset.tag
    rule.asset_name = asset.name
    rule.site_id = int(asset.site_id) if asset.site_id is not None else None


def _apply(repo: AlertRepository, rule: RuleItem, body: RuleWrite | RulePatch, *, whole: bool) -> AssetItem:
    """Validate `body` against `rule` as stored (a new rule: empty) and write it into `rule`.

    `whole` (create, PUT): what the body leaves out takes its default; otherwise (PATCH) it
    keeps the stored value. Parameters are re-resolved against the asset's sensors whenever they,
    the asset or the kind change. Returns the rule's asset."""
    stored_parameters = list(rule.parameters or [])
    stored_asset = int(rule.asset_id) if rule.asset_id is not None else None
    stored_kind = rule.rule_kind if rule.id is not None else None

    def value(name: str, default: Any, stored: Any) -> Any:
        given = getattr(body, name)
        if given is not None:
            return given
        return default if whole else stored

    name = str(value("name", "", rule.name) or "").strip()
    if not name:
        raise DomainError(BLANK, field="name")
    asset_id = value("equipment", None, stored_asset)
    if asset_id is None:
        raise DomainError("This field is required.", field="equipment")
    asset = repo.registry.get_asset(int(asset_id))
    if asset is None:
        raise DomainError(f'Invalid pk "{asset_id}" - object does not exist.', field="equipment")
    kind = value("kind", THRESHOLD, rule.rule_kind)
    written = _written_parameters(body, stored_parameters, whole=whole)
    if written is None and (int(asset_id) != stored_asset or kind != stored_kind):
        written = [_as_write(parameter) for parameter in stored_parameters]

    rule.name = name
    rule.description = value("description", "", rule.description) or ""
    rule.enabled = bool(value("enabled", True, rule.enabled))
    rule.rule_kind = kind
    rule.create_work_order = bool(value("create_work_order", False, rule.create_work_order))
    if body.actions is not None:
        rule.actions = _actions(body.actions)
    elif whole:
        rule.actions = list(DEFAULT_ACTIONS)
    if written is not None:
        rule.parameters = _resolve_parameters(repo, asset, kind, written, stored_parameters)
    _snapshot(rule, asset)
    if written is not None:
        _check_asset_capacity(repo, rule)
    return asset


# An asset's evaluation state is one item read with every ingest batch: its conditions are capped
# (far below DynamoDB's 400 KB item limit, and a batch's evaluation stays cheap).
MAX_PARAMETERS_PER_ASSET = 200


def _check_asset_capacity(repo: AlertRepository, rule: RuleItem) -> None:
    others = sum(
        len(other.parameters or []) for other in repo.rules_of_asset(int(rule.asset_id)) if other.id != rule.id
    )
    if others + len(rule.parameters or []) > MAX_PARAMETERS_PER_ASSET:
        raise DomainError(
            f"An asset's rules can have at most {MAX_PARAMETERS_PER_ASSET} parameters in all "
            f"({others} already on this asset).",
            field="parameters",
        )


def _written_parameters(
    body: RuleFields, stored: Sequence[RuleParameterAttribute], *, whole: bool
) -> list[RuleParameterWrite] | None:
    """The parameters the body asks for, in either form; None: leave them as stored (PATCH)."""
    legacy = {name: getattr(body, name) for name in LEGACY_FIELDS if getattr(body, name) is not None}
    if body.parameters is not None:
        if not body.parameters:
            raise DomainError(NO_PARAMETERS, field="parameters")
        return list(body.parameters)
    if whole:
        if "parameter_key" not in legacy:
            raise DomainError(NO_FORM, field="parameters")
        return [RuleParameterWrite(**legacy)]
    if not legacy:
        return None
    current = [_as_write(parameter) for parameter in stored]
    merged = {**(current[0].model_dump() if current else {}), **legacy}
    if "parameter_key" not in merged:
        raise DomainError(NO_FORM, field="parameters")
    return [RuleParameterWrite(**merged), *current[1:]]


def _as_write(parameter: RuleParameterAttribute) -> RuleParameterWrite:
    """A stored parameter as a write (validated when it was stored), its device as the hint."""
    view = parameter_view(parameter).model_dump()
    return RuleParameterWrite.model_construct(
        **{name: view[name] for name in RuleParameterWrite.model_fields if name in view}
    )


def _actions(raw: Sequence[str]) -> list[str]:
    chosen: list[str] = []
    for given in raw:
        action = given.strip().upper()
        if action not in ACTIONS:
            raise DomainError(NOT_A_CHOICE.format(value=given), field="actions")
        if action not in chosen:
            chosen.append(action)
    if not chosen:
        raise DomainError(NO_ACTIONS, field="actions")
    return chosen


def _sensor_of(key: str, device_hint: Any, sensors: Sequence[SensorItem]) -> SensorItem | None:
    """The asset's sensor a parameter names: by tag, else legacy `sensor_<sensor id>`. When
    several devices of the asset have that tag, the frontend's `device` decides, else the
    oldest sensor."""
    candidates = [sensor for sensor in sensors if sensor.tag == key]
    legacy = LEGACY_SENSOR.fullmatch(key)
    if not candidates and legacy:
        candidates = [sensor for sensor in sensors if int(sensor.id) == int(legacy.group(1))]
    hinted = [sensor for sensor in candidates if str(sensor.device_id) == str(device_hint)]
    ordered = sorted(hinted or candidates, key=lambda sensor: int(sensor.id))
    return ordered[0] if ordered else None


def _resolve_parameters(
    repo: AlertRepository,
    asset: AssetItem,
    kind: str,
    written: Sequence[RuleParameterWrite],
    stored: Sequence[RuleParameterAttribute],
) -> list[RuleParameterAttribute]:
    """Validated, stored parameters in order. A parameter keeps its id when it stays at its
    position on the same sensor (as the evaluator keeps its running episode); others get new ids."""
    sensors = repo.registry.sensors_of_asset(int(asset.id))
    resolved: list[tuple[RuleParameterWrite, SensorItem]] = []
    for position, parameter in enumerate(written, start=1):
        if kind == THRESHOLD and parameter.threshold is None:
            raise DomainError(
                THRESHOLD_REQUIRED.format(position=position, sensor=parameter.parameter_key), field="parameters"
            )
        sensor = _sensor_of(parameter.parameter_key, parameter.device, sensors)
        if sensor is None:
            message = NOT_A_SENSOR.format(position=position, sensor=parameter.parameter_key, asset=asset.tag)
            raise DomainError(message, field="parameters")
        resolved.append((parameter, sensor))
    kept = [
        int(stored[index].id) if index < len(stored) and stored[index].parameter_key == sensor.tag else None
        for index, (_, sensor) in enumerate(resolved)
    ]
    fresh = iter(repo.new_parameter_ids(kept.count(None)))
    return [
        RuleParameterAttribute(
            id=kept_id if kept_id is not None else next(fresh),
            parameter_key=sensor.tag,
            variable_key=parameter.variable_key,
            device_id=int(sensor.device_id),
            operator=parameter.operator,
            threshold=parameter.threshold if kind == THRESHOLD else None,
            unit=parameter.unit,
            duration=parameter.duration,
            cooldown=parameter.cooldown,
            severity=parameter.severity,
            message_template=parameter.message_template,
            order=order,
        )
        for order, ((parameter, sensor), kept_id) in enumerate(zip(resolved, kept, strict=True))
    ]


# ---- alerts: views ---------------------------------------------------------------------------


def alert_view(alert: AlertItem, rule: RuleItem | None) -> Alert:
    """An alert as API.md §4.6 shows it; `rule` is its rule if it still exists."""
    return Alert(
        id=int(alert.id),
        rule=int(rule.id) if rule is not None else None,
        rule_name=rule.name if rule is not None else DELETED_RULE,
        equipment_name=alert.equipment_name or alert.asset_tag,
        message=alert.message,
        severity=alert.severity,
        severity_display=SEVERITY_DISPLAY.get(alert.severity, alert.severity),
        asset_tag=alert.asset_tag,
        parameter_key=alert.parameter_key,
        parameter_value=_number(alert.parameter_value),
        threshold=_number(alert.threshold),
        triggered_at=alert.triggered_at,
        acknowledged=bool(alert.acknowledged),
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=int(alert.acknowledged_by) if alert.acknowledged_by is not None else None,
        acknowledged_by_email=alert.acknowledged_by_email,
        resolved=bool(alert.resolved),
        resolved_at=alert.resolved_at,
        resolved_by=int(alert.resolved_by) if alert.resolved_by is not None else None,
        resolved_by_email=alert.resolved_by_email,
        work_order=int(alert.work_order_id) if alert.work_order_id is not None else None,
        work_order_number=alert.work_order_number,
        notes="\n".join(alert.notes or []),
        is_active=not alert.resolved,
        status=alert.status,
        asset=int(alert.asset_id) if alert.asset_id is not None else None,
        site=int(alert.site_id) if alert.site_id is not None else None,
        resolution=alert.resolution,
        kind=alert.rule_kind,
        unit=alert.unit or "",
        operator=alert.operator or "",
    )


def alert_views(repo: AlertRepository, alerts: Sequence[AlertItem]) -> list[Alert]:
    """Views of a page of alerts: their rules in one batch read."""
    rules = repo.rules_by_id(int(alert.rule_id) for alert in alerts if alert.rule_id is not None)
    return [alert_view(alert, rules.get(int(alert.rule_id)) if alert.rule_id is not None else None) for alert in alerts]


def _alert_view(repo: AlertRepository, alert: AlertItem) -> Alert:
    return alert_views(repo, [alert])[0]


# ---- alerts: reads ---------------------------------------------------------------------------


def _id_is(attribute: str, wanted: int) -> Callable[[AlertItem], bool]:
    def matches(alert: AlertItem) -> bool:
        value = getattr(alert, attribute)
        return value is not None and int(value) == wanted

    return matches


@dataclass
class AlertListing:
    """What the route paginates with `core.http.cursor_paginate`."""

    fetch: Callable[[str | None, bool, int], list[tuple[str, AlertItem]]]
    count: Callable[[], int]


def list_alerts(repo: AlertRepository, filters: Mapping[str, str | None]) -> AlertListing:
    """Newest first: with `status`, by triggered_at (its index partition); without, by id.
    Filters: `severity` (any case), `rule_id`, `asset_tag` (substring, any case), `asset`,
    `site`, `triggered_after` (inclusive) and `triggered_before` (exclusive), ISO datetimes."""
    status = _given(filters.get("status"))
    status = status.lower() if status is not None else None
    if status is not None and status not in ALERT_STATUSES:
        raise DomainError(NOT_A_CHOICE.format(value=status), field="status")
    predicates: list[Callable[[AlertItem], bool]] = []
    severity = _severity_filter(filters.get("severity"))
    if severity is not None:
        predicates.append(lambda alert: alert.severity == severity)
    for field, attribute in (("rule_id", "rule_id"), ("asset", "asset_id"), ("site", "site_id")):
        wanted = _int_filter(filters.get(field), field)
        if wanted is not None:
            predicates.append(_id_is(attribute, wanted))
    tag = _given(filters.get("asset_tag"))
    if tag is not None:
        needle = tag.casefold()
        predicates.append(lambda alert: needle in (alert.asset_tag or "").casefold())
    after = _instant_filter(filters.get("triggered_after"), "triggered_after")
    if after is not None:
        predicates.append(lambda alert: alert.triggered_at >= after)
    before = _instant_filter(filters.get("triggered_before"), "triggered_before")
    if before is not None:
        predicates.append(lambda alert: alert.triggered_at < before)

    def matches(alert: AlertItem) -> bool:
        return all(predicate(alert) for predicate in predicates)

    def fetch(position: str | None, backwards: bool, limit: int) -> list[tuple[str, AlertItem]]:
        found: list[tuple[str, AlertItem]] = []
        for key, alert in repo.alerts(status, position, oldest_first=backwards):
            if matches(alert):
                found.append((key, alert))
                if len(found) >= limit:
                    break
        return found

    def count() -> int:
        if not predicates:  # the dashboard counters answer without reading the alerts
            stats = repo.stats()
            return int(getattr(stats, status) if status is not None else stats.total)
        return sum(1 for _, alert in repo.alerts(status, None, oldest_first=False) if matches(alert))

    return AlertListing(fetch=fetch, count=count)


def active_alert_counts(registry: RegistryRepository, asset_tags: Iterable[str]) -> Mapping[str, int]:
    """Active alerts per asset tag, for the registry's asset and site views: the implementation
    of the hook `climatrak.registry.logic.active_alert_counts` (one read of the active index)."""
    wanted = set(asset_tags)
    if not wanted:
        return {}
    repo = AlertRepository(registry.tenant, registry.settings)
    active = repo.alerts(ACTIVE, None, oldest_first=False)
    return dict(Counter(alert.asset_tag for _, alert in active if alert.asset_tag in wanted))


def get_alert(repo: AlertRepository, alert_id: int) -> Alert:
    return _alert_view(repo, _require(repo.get_alert(alert_id)))


def alert_statistics(repo: AlertRepository) -> AlertStatistics:
    stats = repo.stats()
    return AlertStatistics(
        total=int(stats.total),
        active=int(stats.active),
        acknowledged=int(stats.acknowledged),
        resolved=int(stats.resolved),
        by_severity={severity.upper(): int(getattr(stats, severity.lower())) for severity in SEVERITIES},
    )


# ---- alerts: actions -------------------------------------------------------------------------


def acknowledge_alert(repo: AlertRepository, caller: Principal, alert_id: int, notes: str | None) -> AlertActionResult:
    alert = _require(repo.get_alert(alert_id))
    if alert.resolved:
        raise DomainError(ALREADY_RESOLVED, code="already_resolved")
    if alert.acknowledged:
        raise DomainError(ALREADY_ACKNOWLEDGED, code="already_acknowledged")
    before = alert.status
    mark_acknowledged(alert, caller.user_id or None, caller.email or None, utc_now_iso())
    add_note(alert, _log_line(ACKNOWLEDGE_NOTE, caller.email, notes))
    repo.change_alert(alert, before, [acknowledged_event(repo.tenant, alert)])
    return AlertActionResult(status="acknowledged", alert=_alert_view(repo, alert))


def resolve_alert(
    repo: AlertRepository, alert_id: int, user_id: int | None, email: str | None, note: str, resolution: str
) -> AlertItem:
    """Resolve an alert (acknowledging it too if needed), appending `note` (a whole log line;
    "" for none), with its `alert.resolved` event and counters. DomainError if it already is
    resolved, NotFound if it does not exist, Conflict if it changed meanwhile."""
    alert = _require(repo.get_alert(alert_id))
    if alert.resolved:
        raise DomainError(ALREADY_RESOLVED, code="already_resolved")
    before = alert.status
    mark_resolved(alert, user_id, email, resolution, utc_now_iso())
    add_note(alert, note)
    repo.change_alert(alert, before, [resolved_event(repo.tenant, alert)])
    return alert


def resolve_by_hand(repo: AlertRepository, caller: Principal, alert_id: int, notes: str | None) -> AlertActionResult:
    note = _log_line(RESOLVE_NOTE, caller.email, notes)
    alert = resolve_alert(repo, alert_id, caller.user_id or None, caller.email or None, note, MANUAL)
    return AlertActionResult(status="resolved", alert=_alert_view(repo, alert))


def _work_order_id(raw: Any) -> int:
    if isinstance(raw, bool):
        raise DomainError(BAD_WORK_ORDER_ID, code="invalid_work_order")
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit() and len(raw.strip()) <= 16:
        raw = int(raw.strip())
    if not isinstance(raw, int) or not 1 <= raw <= MAX_ID:
        raise DomainError(BAD_WORK_ORDER_ID, code="invalid_work_order")
    return raw


def link_work_order(repo: AlertRepository, caller: Principal, alert_id: int, raw_work_order_id: Any) -> LinkResult:
    """Link an alert to a work order of the tenant, acknowledging it if it is still active.
    Linking it again to the same work order changes nothing."""
    alert = _require(repo.get_alert(alert_id))
    work_order_id = _work_order_id(raw_work_order_id)
    work_order = CmmsRepository(repo.tenant, repo.settings).get_work_order(work_order_id)
    if work_order is None:
        raise NotFound(WORK_ORDER_NOT_FOUND)
    number = str(work_order.number)
    if alert.work_order_id is None or int(alert.work_order_id) != work_order_id:
        repo.link_work_order(
            alert,
            work_order_id,
            number,
            LINK_NOTE.format(number=number),
            user_id=caller.user_id or None,
            email=caller.email or None,
        )
    return LinkResult(status="linked", alert=_alert_view(repo, alert), work_order_number=number)


def delete_alert(repo: AlertRepository, alert_id: int) -> None:
    repo.delete_alert(_require(repo.get_alert(alert_id)))
