"""CMMS API (API.md §3.1): work orders, their actions and stats, and their cost inputs.

Routes only: identity and permission, parse, call climatrak.cmms.logic, shape the response.
Paths are declared without the /api prefix (the resolver strips it) and with a trailing slash.
"""

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
from climatrak.core.errors import NotFound
from climatrak.core.http import json_response, paginate, principal, requires
from climatrak.core.identity import Permission

from .dependencies import settings

router = APIGatewayRouter()

READ = Permission.CMMS_READ
MANAGE = Permission.WORK_ORDER_MANAGE
EXECUTE = Permission.WORK_ORDER_EXECUTE


def _doc(model: type[BaseModel] | Any, status: int = 200) -> dict[int, Any]:
    """OpenAPI response description for a route (bodies are built by json_response)."""
    return {status: {"description": "OK", "content": {"application/json": {"model": model}}}}


def _repo() -> CmmsRepository:
    return CmmsRepository(principal(router).tenant, settings())


def _id(raw: str) -> int:
    """Work order ids in paths are integers; anything else is simply not found."""
    if not raw.isdigit():
        raise NotFound("Not found.")
    return int(raw)


def _query(*names: str) -> dict[str, str | None]:
    params = router.current_event.query_string_parameters or {}
    return {name: params.get(name) for name in names}


def _page(rows: list[Any]) -> Response[Any]:
    return json_response(200, paginate(router, rows, settings().public_base_url))


def _no_content() -> Response[Any]:
    return Response(status_code=204, body="")


def _caller_name() -> str:
    claims = (router.current_event.request_context.authorizer.raw_event or {}).get("claims") or {}
    parts = [str(claims.get(name) or "") for name in ("given_name", "family_name")]
    return " ".join(part for part in parts if part) or str(claims.get("name") or "") or principal(router).email


# ---- work orders ----------------------------------------------------------------------------


@router.get("/cmms/work-orders/", responses=_doc(list[WorkOrderListItem]))
@requires(router, READ)
def list_work_orders() -> Response[Any]:
    return _page(logic.list_work_orders(_repo(), _query(*logic.WORK_ORDER_FILTERS)))


@router.get("/cmms/work-orders/stats/", responses=_doc(WorkOrderStats))
@requires(router, READ)
def work_order_stats() -> Response[Any]:
    return json_response(200, logic.work_order_stats(_repo(), _query(*logic.WORK_ORDER_FILTERS)))


@router.post("/cmms/work-orders/", responses=_doc(WorkOrder, 201))
@requires(router, MANAGE)
def create_work_order(body: WorkOrderCreate) -> Response[Any]:
    return json_response(201, logic.create_work_order(_repo(), principal(router), _caller_name(), body))


@router.get("/cmms/work-orders/<work_order_id>/", responses=_doc(WorkOrder))
@requires(router, READ)
def get_work_order(work_order_id: str) -> Response[Any]:
    return json_response(200, logic.get_work_order(_repo(), _id(work_order_id)))


@router.patch("/cmms/work-orders/<work_order_id>/", responses=_doc(WorkOrder))
@requires(router, MANAGE)
def update_work_order(work_order_id: str, body: WorkOrderPatch) -> Response[Any]:
    return json_response(200, logic.update_work_order(_repo(), _id(work_order_id), body))


@router.delete("/cmms/work-orders/<work_order_id>/")
@requires(router, MANAGE)
def delete_work_order(work_order_id: str) -> Response[Any]:
    logic.delete_work_order(_repo(), _id(work_order_id))
    return _no_content()


@router.post("/cmms/work-orders/<work_order_id>/start/", responses=_doc(WorkOrder))
@requires(router, EXECUTE)
def start_work_order(work_order_id: str, body: StartWorkOrder | None = None) -> Response[Any]:
    # the body may be absent (the frontend posts some actions without one)
    return json_response(
        200, logic.start_work_order(_repo(), principal(router), _id(work_order_id), body or StartWorkOrder())
    )


@router.post("/cmms/work-orders/<work_order_id>/complete/", responses=_doc(WorkOrder))
@requires(router, EXECUTE)
def complete_work_order(work_order_id: str, body: CompleteWorkOrder | None = None) -> Response[Any]:
    # the body may be absent (the frontend posts some actions without one)
    return json_response(
        200, logic.complete_work_order(_repo(), principal(router), _id(work_order_id), body or CompleteWorkOrder())
    )


@router.post("/cmms/work-orders/<work_order_id>/cancel/", responses=_doc(WorkOrder))
@requires(router, MANAGE)
def cancel_work_order(work_order_id: str, body: CancelWorkOrder | None = None) -> Response[Any]:
    # the body may be absent (the frontend posts some actions without one)
    return json_response(200, logic.cancel_work_order(_repo(), _id(work_order_id), body or CancelWorkOrder()))


@router.post("/cmms/work-orders/<work_order_id>/post-costs/", responses=_doc(PostCostsResult))
@requires(router, MANAGE)
def post_work_order_costs(work_order_id: str) -> Response[Any]:
    return json_response(200, logic.post_costs(_repo(), _id(work_order_id)))


# ---- cost inputs ----------------------------------------------------------------------------


@router.get("/cmms/time-entries/", responses=_doc(list[TimeEntry]))
@requires(router, READ)
def list_time_entries() -> Response[Any]:
    return _page(logic.list_inputs(_repo(), logic.TIME_ENTRIES, _query("work_order")))


@router.post("/cmms/time-entries/", responses=_doc(TimeEntry, 201))
@requires(router, EXECUTE)
def create_time_entry(body: TimeEntryCreate) -> Response[Any]:
    return json_response(201, logic.create_input(_repo(), principal(router), logic.TIME_ENTRIES, body))


@router.get("/cmms/time-entries/<entry_id>/", responses=_doc(TimeEntry))
@requires(router, READ)
def get_time_entry(entry_id: str) -> Response[Any]:
    return json_response(200, logic.get_input(_repo(), logic.TIME_ENTRIES, entry_id))


@router.patch("/cmms/time-entries/<entry_id>/", responses=_doc(TimeEntry))
@requires(router, EXECUTE)
def update_time_entry(entry_id: str, body: TimeEntryPatch) -> Response[Any]:
    return json_response(200, logic.update_input(_repo(), principal(router), logic.TIME_ENTRIES, entry_id, body))


@router.delete("/cmms/time-entries/<entry_id>/")
@requires(router, EXECUTE)
def delete_time_entry(entry_id: str) -> Response[Any]:
    logic.delete_input(_repo(), principal(router), logic.TIME_ENTRIES, entry_id)
    return _no_content()


@router.get("/cmms/part-usages/", responses=_doc(list[PartUsage]))
@requires(router, READ)
def list_part_usages() -> Response[Any]:
    return _page(logic.list_inputs(_repo(), logic.PART_USAGES, _query("work_order")))


@router.post("/cmms/part-usages/", responses=_doc(PartUsage, 201))
@requires(router, EXECUTE)
def create_part_usage(body: PartUsageCreate) -> Response[Any]:
    return json_response(201, logic.create_input(_repo(), principal(router), logic.PART_USAGES, body))


@router.get("/cmms/part-usages/<usage_id>/", responses=_doc(PartUsage))
@requires(router, READ)
def get_part_usage(usage_id: str) -> Response[Any]:
    return json_response(200, logic.get_input(_repo(), logic.PART_USAGES, usage_id))


@router.patch("/cmms/part-usages/<usage_id>/", responses=_doc(PartUsage))
@requires(router, EXECUTE)
def update_part_usage(usage_id: str, body: PartUsagePatch) -> Response[Any]:
    return json_response(200, logic.update_input(_repo(), principal(router), logic.PART_USAGES, usage_id, body))


@router.delete("/cmms/part-usages/<usage_id>/")
@requires(router, EXECUTE)
def delete_part_usage(usage_id: str) -> Response[Any]:
    logic.delete_input(_repo(), principal(router), logic.PART_USAGES, usage_id)
    return _no_content()


@router.get("/cmms/external-costs/", responses=_doc(list[ExternalCost]))
@requires(router, READ)
def list_external_costs() -> Response[Any]:
    return _page(logic.list_inputs(_repo(), logic.EXTERNAL_COSTS, _query("work_order")))


@router.post("/cmms/external-costs/", responses=_doc(ExternalCost, 201))
@requires(router, EXECUTE)
def create_external_cost(body: ExternalCostCreate) -> Response[Any]:
    return json_response(201, logic.create_input(_repo(), principal(router), logic.EXTERNAL_COSTS, body))


@router.get("/cmms/external-costs/<cost_id>/", responses=_doc(ExternalCost))
@requires(router, READ)
def get_external_cost(cost_id: str) -> Response[Any]:
    return json_response(200, logic.get_input(_repo(), logic.EXTERNAL_COSTS, cost_id))


@router.patch("/cmms/external-costs/<cost_id>/", responses=_doc(ExternalCost))
@requires(router, EXECUTE)
def update_external_cost(cost_id: str, body: ExternalCostPatch) -> Response[Any]:
    return json_response(200, logic.update_input(_repo(), principal(router), logic.EXTERNAL_COSTS, cost_id, body))


@router.delete("/cmms/external-costs/<cost_id>/")
@requires(router, EXECUTE)
def delete_external_cost(cost_id: str) -> Response[Any]:
    logic.delete_input(_repo(), principal(router), logic.EXTERNAL_COSTS, cost_id)
    return _no_content()
