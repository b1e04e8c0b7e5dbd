"""TrakLedger API (API.md §5.1-5.3, §5.5-5.7): cost centres, rate cards, budget plans and
envelopes, commitments, savings events, the budget summary and top costs.

Routes only: identity and permission, parse, call climatrak.ledger.logic, shape the response.
Ledger transactions and month locks live in ledger_transactions_routes.py.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel

from climatrak.core.http import json_response, paginate, principal, requires
from climatrak.core.identity import Permission
from climatrak.ledger import logic
from climatrak.ledger.models import (
    BudgetPlan,
    BudgetPlanCreate,
    BudgetPlanDetail,
    BudgetPlanPatch,
    BudgetSummary,
    Commitment,
    CommitmentApproved,
    CommitmentCreate,
    CommitmentPatch,
    CommitmentReject,
    CostCenter,
    CostCenterCreate,
    CostCenterPatch,
    Envelope,
    EnvelopeCreate,
    EnvelopePatch,
    RateCard,
    RateCardCreate,
    RateCardPatch,
    SavingsCreate,
    SavingsEvent,
    TopCosts,
    YearSummary,
)
from climatrak.ledger.repository import LedgerRepository

from .dependencies import settings

router = APIGatewayRouter()

READ = Permission.LEDGER_READ
WRITE = Permission.LEDGER_WRITE
APPROVE = Permission.COMMITMENT_APPROVE


def _doc(model: type[BaseModel] | Any, status: int = 200) -> dict[int, Any]:
    """OpenAPI response description for a route (bodies are built by json_response)."""
    return {status: {"description": "OK", "content": {"application/json": {"model": model}}}}


def _repo() -> LedgerRepository:
    return LedgerRepository(principal(router).tenant, settings())


def _query(*names: str) -> dict[str, str | None]:
    params = router.current_event.query_string_parameters or {}
    return {name: params.get(name) for name in names}


def _page(rows: list[Any]) -> Response[Any]:
    return json_response(200, paginate(router, rows, settings().public_base_url))


def _no_content() -> Response[Any]:
    return Response(status_code=204, body="")


# ---- cost centres ---------------------------------------------------------------------------

COST_CENTER_FILTERS = ("code", "name", "parent", "parent_id", "is_root", "is_active", "has_tag", "search", "ordering")


@router.get("/trakledger/cost-centers/", responses=_doc(list[CostCenter]))
@requires(router, READ)
def list_cost_centers() -> Response[Any]:
    return _page(logic.list_cost_centers(_repo(), _query(*COST_CENTER_FILTERS)))


@router.post("/trakledger/cost-centers/", responses=_doc(CostCenter, 201))
@requires(router, WRITE)
def create_cost_center(body: CostCenterCreate) -> Response[Any]:
    return json_response(201, logic.create_cost_center(_repo(), principal(router), body))


@router.get("/trakledger/cost-centers/<cost_center_id>/", responses=_doc(CostCenter))
@requires(router, READ)
def get_cost_center(cost_center_id: str) -> Response[Any]:
    return json_response(200, logic.get_cost_center(_repo(), logic.parse_id(cost_center_id)))


@router.patch("/trakledger/cost-centers/<cost_center_id>/", responses=_doc(CostCenter))
@requires(router, WRITE)
def update_cost_center(cost_center_id: str, body: CostCenterPatch) -> Response[Any]:
    return json_response(200, logic.update_cost_center(_repo(), logic.parse_id(cost_center_id), body))


@router.delete("/trakledger/cost-centers/<cost_center_id>/")
@requires(router, WRITE)
def delete_cost_center(cost_center_id: str) -> Response[Any]:
    logic.delete_cost_center(_repo(), logic.parse_id(cost_center_id))
    return _no_content()


# ---- rate cards -----------------------------------------------------------------------------

RATE_CARD_FILTERS = (
    "role",
    "role_code",
    "is_active",
    "is_current",
    "effective_date",
    "min_cost",
    "max_cost",
    "ordering",
)


@router.get("/trakledger/rate-cards/", responses=_doc(list[RateCard]))
@requires(router, READ)
def list_rate_cards() -> Response[Any]:
    return _page(logic.list_rate_cards(_repo(), _query(*RATE_CARD_FILTERS)))


@router.post("/trakledger/rate-cards/", responses=_doc(RateCard, 201))
@requires(router, WRITE)
def create_rate_card(body: RateCardCreate) -> Response[Any]:
    return json_response(201, logic.create_rate_card(_repo(), principal(router), body))


@router.get("/trakledger/rate-cards/<rate_card_id>/", responses=_doc(RateCard))
@requires(router, READ)
def get_rate_card(rate_card_id: str) -> Response[Any]:
    return json_response(200, logic.get_rate_card(_repo(), logic.parse_id(rate_card_id)))


@router.patch("/trakledger/rate-cards/<rate_card_id>/", responses=_doc(RateCard))
@requires(router, WRITE)
def update_rate_card(rate_card_id: str, body: RateCardPatch) -> Response[Any]:
    return json_response(200, logic.update_rate_card(_repo(), logic.parse_id(rate_card_id), body))


@router.delete("/trakledger/rate-cards/<rate_card_id>/")
@requires(router, WRITE)
def delete_rate_card(rate_card_id: str) -> Response[Any]:
    logic.delete_rate_card(_repo(), logic.parse_id(rate_card_id))
    return _no_content()


# ---- budget plans ---------------------------------------------------------------------------

PLAN_FILTERS = ("year", "status", "search", "ordering")


@router.get("/trakledger/budget-plans/", responses=_doc(list[BudgetPlan]))
@requires(router, READ)
def list_budget_plans() -> Response[Any]:
    return _page(logic.list_plans(_repo(), _query(*PLAN_FILTERS)))


@router.post("/trakledger/budget-plans/", responses=_doc(BudgetPlan, 201))
@requires(router, WRITE)
def create_budget_plan(body: BudgetPlanCreate) -> Response[Any]:
    return json_response(201, logic.create_plan(_repo(), principal(router), body))


@router.get("/trakledger/budget-plans/<plan_id>/", responses=_doc(BudgetPlanDetail))
@requires(router, READ)
def get_budget_plan(plan_id: str) -> Response[Any]:
    return json_response(200, logic.get_plan(_repo(), logic.parse_id(plan_id)))


@router.patch("/trakledger/budget-plans/<plan_id>/", responses=_doc(BudgetPlan))
@requires(router, WRITE)
def update_budget_plan(plan_id: str, body: BudgetPlanPatch) -> Response[Any]:
    return json_response(200, logic.update_plan(_repo(), logic.parse_id(plan_id), body))


@router.delete("/trakledger/budget-plans/<plan_id>/")
@requires(router, WRITE)
def delete_budget_plan(plan_id: str) -> Response[Any]:
    logic.delete_plan(_repo(), logic.parse_id(plan_id))
    return _no_content()


# ---- budget envelopes -----------------------------------------------------------------------

# ⚠ the frontend filters by budget_plan_id (API.md §5.3); budget_plan is accepted too.
ENVELOPE_FILTERS = ("budget_plan_id", "budget_plan", "cost_center", "cost_center_id", "category", "is_active", "search")


@router.get("/trakledger/budget-envelopes/", responses=_doc(list[Envelope]))
@requires(router, READ)
def list_budget_envelopes() -> Response[Any]:
    return _page(logic.list_envelopes(_repo(), _query(*ENVELOPE_FILTERS)))


@router.post("/trakledger/budget-envelopes/", responses=_doc(Envelope, 201))
@requires(router, WRITE)
def create_budget_envelope(body: EnvelopeCreate) -> Response[Any]:
    return json_response(201, logic.create_envelope(_repo(), body))


@router.get("/trakledger/budget-envelopes/<envelope_id>/", responses=_doc(Envelope))
@requires(router, READ)
def get_budget_envelope(envelope_id: str) -> Response[Any]:
    return json_response(200, logic.get_envelope(_repo(), logic.parse_id(envelope_id)))


@router.patch("/trakledger/budget-envelopes/<envelope_id>/", responses=_doc(Envelope))
@requires(router, WRITE)
def update_budget_envelope(envelope_id: str, body: EnvelopePatch) -> Response[Any]:
    return json_response(200, logic.update_envelope(_repo(), logic.parse_id(envelope_id), body))


@router.delete("/trakledger/budget-envelopes/<envelope_id>/")
@requires(router, WRITE)
def delete_budget_envelope(envelope_id: str) -> Response[Any]:
    logic.delete_envelope(_repo(), logic.parse_id(envelope_id))
    return _no_content()


# ---- commitments ----------------------------------------------------------------------------

COMMITMENT_FILTERS = (
    "status",
    "status_in",
    "status__in",
    "cost_center",
    "cost_center_id",
    "budget_month",
    "budget_month_gte",
    "budget_month_lte",
    "budget_month__gte",
    "budget_month__lte",
    "category",
    "work_order",
    "work_order_id",
    "year",
    "min_amount",
    "max_amount",
    "search",
    "ordering",
)


@router.get("/trakledger/commitments/", responses=_doc(list[Commitment]))
@requires(router, READ)
def list_commitments() -> Response[Any]:
    return _page(logic.list_commitments(_repo(), _query(*COMMITMENT_FILTERS)))


@router.post("/trakledger/commitments/", responses=_doc(Commitment, 201))
@requires(router, WRITE)
def create_commitment(body: CommitmentCreate) -> Response[Any]:
    return json_response(201, logic.create_commitment(_repo(), principal(router), body))


@router.get("/trakledger/commitments/<commitment_id>/", responses=_doc(Commitment))
@requires(router, READ)
def get_commitment(commitment_id: str) -> Response[Any]:
    return json_response(200, logic.get_commitment(_repo(), logic.parse_id(commitment_id)))


@router.patch("/trakledger/commitments/<commitment_id>/", responses=_doc(Commitment))
@requires(router, WRITE)
def update_commitment(commitment_id: str, body: CommitmentPatch) -> Response[Any]:
    return json_response(200, logic.update_commitment(_repo(), logic.parse_id(commitment_id), body))


@router.post("/trakledger/commitments/<commitment_id>/submit/", responses=_doc(Commitment))
@requires(router, WRITE)
def submit_commitment(commitment_id: str) -> Response[Any]:
    return json_response(200, logic.submit_commitment(_repo(), logic.parse_id(commitment_id)))


@router.post("/trakledger/commitments/<commitment_id>/approve/", responses=_doc(CommitmentApproved))
@requires(router, APPROVE)
def approve_commitment(commitment_id: str) -> Response[Any]:
    return json_response(200, logic.approve_commitment(_repo(), principal(router), logic.parse_id(commitment_id)))


@router.post("/trakledger/commitments/<commitment_id>/reject/", responses=_doc(Commitment))
@requires(router, APPROVE)
def reject_commitment(commitment_id: str, body: CommitmentReject) -> Response[Any]:
    return json_response(200, logic.reject_commitment(_repo(), logic.parse_id(commitment_id), body))


@router.post("/trakledger/commitments/<commitment_id>/cancel/", responses=_doc(Commitment))
@requires(router, WRITE)
def cancel_commitment(commitment_id: str) -> Response[Any]:
    return json_response(200, logic.cancel_commitment(_repo(), logic.parse_id(commitment_id)))


# ---- savings events -------------------------------------------------------------------------

# ⚠ the frontend sends from/to and cost_center_id (API.md §5.6); the Django names are accepted too.
SAVINGS_FILTERS = (
    "from",
    "to",
    "start_date",
    "end_date",
    "cost_center",
    "cost_center_id",
    "event_type",
    "confidence",
    "asset",
    "asset_id",
    "work_order",
    "work_order_id",
    "search",
    "ordering",
)


@router.get("/trakledger/savings-events/", responses=_doc(list[SavingsEvent]))
@requires(router, READ)
def list_savings_events() -> Response[Any]:
    return _page(logic.list_savings(_repo(), _query(*SAVINGS_FILTERS)))


@router.post("/trakledger/savings-events/", responses=_doc(SavingsEvent, 201))
@requires(router, WRITE)
def create_savings_event(body: SavingsCreate) -> Response[Any]:
    return json_response(201, logic.create_savings(_repo(), principal(router), body))


@router.get("/trakledger/savings-events/<savings_id>/", responses=_doc(SavingsEvent))
@requires(router, READ)
def get_savings_event(savings_id: str) -> Response[Any]:
    return json_response(200, logic.get_savings(_repo(), logic.parse_id(savings_id)))


# ---- budget summary and top costs -----------------------------------------------------------


@router.get("/trakledger/budget-summary/", responses=_doc(BudgetSummary))
@requires(router, READ)
def budget_summary() -> Response[Any]:
    params = _query("month", "cost_center", "cost_center_id")
    cost_center = params["cost_center"] or params["cost_center_id"]
    return json_response(200, logic.budget_summary(_repo(), params["month"], cost_center))


@router.get("/trakledger/budget-summary/year/", responses=_doc(YearSummary))
@requires(router, READ)
def budget_summary_year() -> Response[Any]:
    params = _query("year", "cost_center", "cost_center_id")
    cost_center = params["cost_center"] or params["cost_center_id"]
    return json_response(200, logic.year_summary(_repo(), params["year"], cost_center))


@router.get("/trakledger/top-costs/", responses=_doc(TopCosts))
@requires(router, READ)
def top_costs() -> Response[Any]:
    return json_response(200, logic.top_costs(_repo(), _query("by", "start", "end", "limit")))
