"""CMMS API (API.md §3.1): work orders, their actions and stats, and their cost inputs.

Routes only: identity and permission, parse, call climatrak.cmms.logic, shape the response.
Paths are declared without the /api prefix (the resolver strips it) and with a trailing slash.
"""

import re
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel

from climatrak.cmms import logic
from climatrak.cmms.models import (
    CancelWorkOrder,
    CompleteWorkOrder,
    ExternalCost,
    ExternalCostCreate,
    ExternalCostPatch,
    PartUsage,
    PartUsageCreate,
    PartUsagePatch,
    PostCostsResult,
    StartWorkOrder,
    TimeEntry,
    TimeEntryCreate,
    TimeEntryPatch,
    WorkOrder,
    WorkOrderCreate,
    WorkOrderListItem,
    WorkOrderPatch,
    WorkOrderStats,
)
from climatrak.cmms.repository import CmmsRepository
from climatrak.core.errors import DomainError
from climatrak.core.http import json_response, principal, requires
from climatrak.core.identity import Permission

from .route_support import caller_name, doc, int_id, no_content, page, query, tenant_repository

router = APIGatewayRouter()

READ = Permission.CMMS_READ
MANAGE = Permission.WORK_ORDER_MANAGE
EXECUTE = Permission.WORK_ORDER_EXECUTE

_repo = tenant_repository(router, CmmsRepository)

# If-Match: one work-order version, bare or as a (weak) entity tag: 3, "3", W/"3"; "*" = any.
_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,16})"?\s*$')
BAD_IF_MATCH = 'If-Match must be the work order\'s version, e.g. "3".'


def _expected_version() -> int | None:
    """The version the client edited, from the optional If-Match header (None: no check)."""
    value = (router.current_event.headers or {}).get("if-match")
    if value is None or not value.strip() or value.strip() == "*":
        return None
    match = _IF_MATCH.match(value)
    if match is None:
        raise DomainError(BAD_IF_MATCH, code="invalid_if_match")
    return int(match.group(1))


def _work_order_response(status: int, work_order: WorkOrder) -> Response[Any]:
    """A work-order detail with its version as the ETag (the If-Match value for the next write)."""
    return json_response(status, work_order, {"ETag": f'"{work_order.version}"'})


# ---- work orders ----------------------------------------------------------------------------


@router.get("/cmms/work-orders/", responses=doc(list[WorkOrderListItem]))
@requires(router, READ)
def list_work_orders() -> Response[Any]:
    return page(router, logic.list_work_orders(_repo(), query(router, *logic.WORK_ORDER_FILTERS)))


@router.get("/cmms/work-orders/stats/", responses=doc(WorkOrderStats))
@requires(router, READ)
def work_order_stats() -> Response[Any]:
    return json_response(200, logic.work_order_stats(_repo(), query(router, *logic.WORK_ORDER_FILTERS)))


@router.post("/cmms/work-orders/", responses=doc(WorkOrder, 201))
@requires(router, MANAGE)
def create_work_order(body: WorkOrderCreate) -> Response[Any]:
    return _work_order_response(201, logic.create_work_order(_repo(), principal(router), caller_name(router), body))


@router.get("/cmms/work-orders/<work_order_id>/", responses=doc(WorkOrder))
@requires(router, READ)
def get_work_order(work_order_id: str) -> Response[Any]:
    return _work_order_response(200, logic.get_work_order(_repo(), int_id(work_order_id)))


@router.patch("/cmms/work-orders/<work_order_id>/", responses=doc(WorkOrder))
@requires(router, MANAGE)
def update_work_order(work_order_id: str, body: WorkOrderPatch) -> Response[Any]:
    work_order = logic.update_work_order(_repo(), int_id(work_order_id), body, _expected_version())
    return _work_order_response(200, work_order)


@router.delete("/cmms/work-orders/<work_order_id>/")
@requires(router, MANAGE)
def delete_work_order(work_order_id: str) -> Response[Any]:
    logic.delete_work_order(_repo(), int_id(work_order_id))
    return no_content()


# start, complete and cancel: the body may be absent (the frontend posts some actions without one)
@router.post("/cmms/work-orders/<work_order_id>/start/", responses=doc(WorkOrder))
@requires(router, EXECUTE)
def start_work_order(work_order_id: str, body: StartWorkOrder | None = None) -> Response[Any]:
    work_order = logic.start_work_order(
        _repo(), principal(router), int_id(work_order_id), body or StartWorkOrder(), _expected_version()
    )
    return _work_order_response(200, work_order)


@router.post("/cmms/work-orders/<work_order_id>/complete/", responses=doc(WorkOrder))
@requires(router, EXECUTE)
def complete_work_order(work_order_id: str, body: CompleteWorkOrder | None = None) -> Response[Any]:
    work_order = logic.complete_work_order(
        _repo(), principal(router), int_id(work_order_id), body or CompleteWorkOrder(), _expected_version()
    )
    return _work_order_response(200, work_order)


@router.post("/cmms/work-orders/<work_order_id>/cancel/", responses=doc(WorkOrder))
@requires(router, MANAGE)
def cancel_work_order(work_order_id: str, body: CancelWorkOrder | None = None) -> Response[Any]:
    work_order = logic.cancel_work_order(_repo(), int_id(work_order_id), body or CancelWorkOrder(), _expected_version())
    return _work_order_response(200, work_order)


@router.post("/cmms/work-orders/<work_order_id>/post-costs/", responses=doc(PostCostsResult))
@requires(router, MANAGE)
def post_work_order_costs(work_order_id: str) -> Response[Any]:
    return json_response(200, logic.post_costs(_repo(), int_id(work_order_id)))


# ---- cost inputs ----------------------------------------------------------------------------
# Time entries, part usages and external costs are three kinds of one resource (logic.InputKind):
# the same five routes each, declared one by one below, doing what these helpers say.


def _list_inputs(kind: logic.InputKind) -> Response[Any]:
    return page(router, logic.list_inputs(_repo(), kind, query(router, "work_order")))


def _create_input(kind: logic.InputKind, body: BaseModel) -> Response[Any]:
    return json_response(201, logic.create_input(_repo(), principal(router), kind, body))


def _get_input(kind: logic.InputKind, input_id: str) -> Response[Any]:
    return json_response(200, logic.get_input(_repo(), kind, input_id))


def _update_input(kind: logic.InputKind, input_id: str, body: BaseModel) -> Response[Any]:
    return json_response(200, logic.update_input(_repo(), principal(router), kind, input_id, body))


def _delete_input(kind: logic.InputKind, input_id: str) -> Response[Any]:
    logic.delete_input(_repo(), principal(router), kind, input_id)
    return no_content()


@router.get("/cmms/time-entries/", responses=doc(list[TimeEntry]))
@requires(router, READ)
def list_time_entries() -> Response[Any]:
    return _list_inputs(logic.TIME_ENTRIES)


@router.post("/cmms/time-entries/", responses=doc(TimeEntry, 201))
@requires(router, EXECUTE)
def create_time_entry(body: TimeEntryCreate) -> Response[Any]:
    return _create_input(logic.TIME_ENTRIES, body)


@router.get("/cmms/time-entries/<entry_id>/", responses=doc(TimeEntry))
@requires(router, READ)
def get_time_entry(entry_id: str) -> Response[Any]:
    return _get_input(logic.TIME_ENTRIES, entry_id)


@router.patch("/cmms/time-entries/<entry_id>/", responses=doc(TimeEntry))
@requires(router, EXECUTE)
def update_time_entry(entry_id: str, body: TimeEntryPatch) -> Response[Any]:
    return _update_input(logic.TIME_ENTRIES, entry_id, body)


@router.delete("/cmms/time-entries/<entry_id>/")
@requires(router, EXECUTE)
def delete_time_entry(entry_id: str) -> Response[Any]:
    return _delete_input(logic.TIME_ENTRIES, entry_id)


@router.get("/cmms/part-usages/", responses=doc(list[PartUsage]))
@requires(router, READ)
def list_part_usages() -> Response[Any]:
    return _list_inputs(logic.PART_USAGES)


@router.post("/cmms/part-usages/", responses=doc(PartUsage, 201))
@requires(router, EXECUTE)
def create_part_usage(body: PartUsageCreate) -> Response[Any]:
    return _create_input(logic.PART_USAGES, body)


@router.get("/cmms/part-usages/<usage_id>/", responses=doc(PartUsage))
@requires(router, READ)
def get_part_usage(usage_id: str) -> Response[Any]:
    return _get_input(logic.PART_USAGES, usage_id)


@router.patch("/cmms/part-usages/<usage_id>/", responses=doc(PartUsage))
@requires(router, EXECUTE)
def update_part_usage(usage_id: str, body: PartUsagePatch) -> Response[Any]:
    return _update_input(logic.PART_USAGES, usage_id, body)


@router.delete("/cmms/part-usages/<usage_id>/")
@requires(router, EXECUTE)
def delete_part_usage(usage_id: str) -> Response[Any]:
    return _delete_input(logic.PART_USAGES, usage_id)


@router.get("/cmms/external-costs/", responses=doc(list[ExternalCost]))
@requires(router, READ)
def list_external_costs() -> Response[Any]:
    return _list_inputs(logic.EXTERNAL_COSTS)


@router.post("/cmms/external-costs/", responses=doc(ExternalCost, 201))
@requires(router, EXECUTE)
def create_external_cost(body: ExternalCostCreate) -> Response[Any]:
    return _create_input(logic.EXTERNAL_COSTS, body)


@router.get("/cmms/external-costs/<cost_id>/", responses=doc(ExternalCost))
@requires(router, READ)
def get_external_cost(cost_id: str) -> Response[Any]:
    return _get_input(logic.EXTERNAL_COSTS, cost_id)


@router.patch("/cmms/external-costs/<cost_id>/", responses=doc(ExternalCost))
@requires(router, EXECUTE)
def update_external_cost(cost_id: str, body: ExternalCostPatch) -> Response[Any]:
    return _update_input(logic.EXTERNAL_COSTS, cost_id, body)


@router.delete("/cmms/external-costs/<cost_id>/")
@requires(router, EXECUTE)
def delete_external_cost(cost_id: str) -> Response[Any]:
    return _delete_input(logic.EXTERNAL_COSTS, cost_id)
