"""TrakSense alerts API (API.md §4.6, §4.7): alert rules and the alert lifecycle.

Routes only: identity and permission, parse, call climatrak.alerts.logic, shape the response.
Reads ALERTS_READ, every write ALERTS_MANAGE. `statistics/` is declared before `{id}/` so it is
never taken for an id.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.alerts import logic
from climatrak.alerts.models import (
    Alert,
    AlertActionResult,
    AlertNotes,
    AlertStatistics,
    LinkResult,
    LinkWorkOrder,
    Rule,
    RulePatch,
    RuleStatistics,
    RuleToggleResult,
    RuleWrite,
)
from climatrak.alerts.repository import AlertRepository
from climatrak.core.http import cursor_paginate, json_response, principal, requires
from climatrak.core.identity import Permission

from .dependencies import settings
from .route_support import doc, int_id, no_content, page, query, tenant_repository

router = APIGatewayRouter()

READ = Permission.ALERTS_READ
MANAGE = Permission.ALERTS_MANAGE
RULES = "/alerts/rules/"
ALERTS = "/alerts/alerts/"

_repo = tenant_repository(router, AlertRepository)


# ---- rules ----------------------------------------------------------------------------------


@router.get(RULES, responses=doc(list[Rule]))
@requires(router, READ)
def list_rules() -> Response[Any]:
    return page(router, logic.list_rules(_repo(), query(router, *logic.RULE_FILTERS)))


@router.get(f"{RULES}statistics/", responses=doc(RuleStatistics))
@requires(router, READ)
def rule_statistics() -> Response[Any]:
    return json_response(200, logic.rule_statistics(_repo()))


@router.post(RULES, responses=doc(Rule, 201))
@requires(router, MANAGE)
def create_rule(body: RuleWrite) -> Response[Any]:
    return json_response(201, logic.create_rule(_repo(), principal(router), body))


@router.get(f"{RULES}<rule_id>/", responses=doc(Rule))
@requires(router, READ)
def get_rule(rule_id: str) -> Response[Any]:
    return json_response(200, logic.get_rule(_repo(), int_id(rule_id)))


@router.put(f"{RULES}<rule_id>/", responses=doc(Rule))
@requires(router, MANAGE)
def replace_rule(rule_id: str, body: RuleWrite) -> Response[Any]:
    return json_response(200, logic.replace_rule(_repo(), int_id(rule_id), body))


@router.patch(f"{RULES}<rule_id>/", responses=doc(Rule))
@requires(router, MANAGE)
def update_rule(rule_id: str, body: RulePatch) -> Response[Any]:
    return json_response(200, logic.update_rule(_repo(), int_id(rule_id), body))


@router.delete(f"{RULES}<rule_id>/")
@requires(router, MANAGE)
def delete_rule(rule_id: str) -> Response[Any]:
    logic.delete_rule(_repo(), int_id(rule_id))
    return no_content()


@router.post(f"{RULES}<rule_id>/toggle_status/", responses=doc(RuleToggleResult))
@requires(router, MANAGE)
def toggle_rule_status(rule_id: str) -> Response[Any]:
    return json_response(200, logic.toggle_rule(_repo(), int_id(rule_id)))


# ---- alerts ---------------------------------------------------------------------------------


@router.get(ALERTS, responses=doc(list[Alert]))
@requires(router, READ)
def list_alerts() -> Response[Any]:
    repo = _repo()
    listing = logic.list_alerts(repo, query(router, *logic.ALERT_FILTERS))
    found = cursor_paginate(router, listing.fetch, listing.count, settings().public_base_url)
    found["results"] = logic.alert_views(repo, found["results"])
    return json_response(200, found)


@router.get(f"{ALERTS}statistics/", responses=doc(AlertStatistics))
@requires(router, READ)
def alert_statistics() -> Response[Any]:
    return json_response(200, logic.alert_statistics(_repo()))


@router.get(f"{ALERTS}<alert_id>/", responses=doc(Alert))
@requires(router, READ)
def get_alert(alert_id: str) -> Response[Any]:
    return json_response(200, logic.get_alert(_repo(), int_id(alert_id)))


@router.delete(f"{ALERTS}<alert_id>/")
@requires(router, MANAGE)
def delete_alert(alert_id: str) -> Response[Any]:
    logic.delete_alert(_repo(), int_id(alert_id))
    return no_content()


# the frontend posts `{}` or `{notes}`; a missing body is accepted too
@router.post(f"{ALERTS}<alert_id>/acknowledge/", responses=doc(AlertActionResult))
@requires(router, MANAGE)
def acknowledge_alert(alert_id: str, body: AlertNotes | None = None) -> Response[Any]:
    notes = (body or AlertNotes()).notes
    return json_response(200, logic.acknowledge_alert(_repo(), principal(router), int_id(alert_id), notes))


@router.post(f"{ALERTS}<alert_id>/resolve/", responses=doc(AlertActionResult))
@requires(router, MANAGE)
def resolve_alert(alert_id: str, body: AlertNotes | None = None) -> Response[Any]:
    notes = (body or AlertNotes()).notes
    return json_response(200, logic.resolve_by_hand(_repo(), principal(router), int_id(alert_id), notes))


# bad bodies are 400 `{error}` and unknown work orders 404 `{error}` (DomainError → error_body)
@router.post(f"{ALERTS}<alert_id>/link_work_order/", responses=doc(LinkResult))
@requires(router, MANAGE)
def link_work_order(alert_id: str, body: LinkWorkOrder | None = None) -> Response[Any]:
    raw = (body or LinkWorkOrder()).work_order_id
    return json_response(200, logic.link_work_order(_repo(), principal(router), int_id(alert_id), raw))
