"""TrakLedger API (API.md §5.1-5.3, §5.5-5.7): cost centres, rate cards, budget plans and
envelopes, commitments, savings events, the budget summary and top costs.

Routes only: identity and permission, parse, call the climatrak.ledger rule modules, shape the response.
Ledger transactions and month locks live in ledger_transactions_routes.py.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.core.http import json_response, principal, requires
from climatrak.core.identity import Permission
from climatrak.ledger import budgets, commitments, cost_centers, rate_cards, savings, summary
from climatrak.ledger.models import (
    BudgetPlan,
    BudgetPlanCreate,
    BudgetPlanDetail,
    BudgetPlanPatch,
    BudgetSummary,
    Commitment,
    CommitmentApproved,
    CommitmentCancel,
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
from climatrak.ledger.parsing import parse_id
from climatrak.ledger.repository import LedgerRepository

from .route_support import doc, no_content, page, query, tenant_repository

router = APIGatewayRouter()

READ = Permission.LEDGER_READ
WRITE = Permission.LEDGER_WRITE
APPROVE = Permission.COMMITMENT_APPROVE

_repo = tenant_repository(router, LedgerRepository)


# ---- cost centres ---------------------------------------------------------------------------

COST_CENTER_FILTERS = ("code", "name", "parent", "parent_id", "is_root", "is_active", "has_tag", "search", "ordering")


@router.get("/trakledger/cost-centers/", responses=doc(list[CostCenter]))
@requires(router, READ)
def list_cost_centers() -> Response[Any]:
    return page(router, cost_centers.list_cost_centers(_repo(), query(router, *COST_CENTER_FILTERS)))


@router.post("/trakledger/cost-centers/", responses=doc(CostCenter, 201))
@requires(router, WRITE)
def create_cost_center(body: CostCenterCreate) -> Response[Any]:
    return json_response(201, cost_centers.create_cost_center(_repo(), principal(router), body))


@router.get("/trakledger/cost-centers/<cost_center_id>/", responses=doc(CostCenter))
@requires(router, READ)
def get_cost_center(cost_center_id: str) -> Response[Any]:
    return json_response(200, cost_centers.get_cost_center(_repo(), parse_id(cost_center_id)))


@router.patch("/trakledger/cost-centers/<cost_center_id>/", responses=doc(CostCenter))
@requires(router, WRITE)
def update_cost_center(cost_center_id: str, body: CostCenterPatch) -> Response[Any]:
    return json_response(200, cost_centers.update_cost_center(_repo(), parse_id(cost_center_id), body))


@router.delete("/trakledger/cost-centers/<cost_center_id>/")
@requires(router, WRITE)
def delete_cost_center(cost_center_id: str) -> Response[Any]:
    cost_centers.delete_cost_center(_repo(), parse_id(cost_center_id))
    return no_content()


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


@router.get("/trakledger/rate-cards/", responses=doc(list[RateCard]))
@requires(router, READ)
def list_rate_cards() -> Response[Any]:
    return page(router, rate_cards.list_rate_cards(_repo(), query(router, *RATE_CARD_FILTERS)))


@router.post("/trakledger/rate-cards/", responses=doc(RateCard, 201))
@requires(router, WRITE)
def create_rate_card(body: RateCardCreate) -> Response[Any]:
    return json_response(201, rate_cards.create_rate_card(_repo(), principal(router), body))


@router.get("/trakledger/rate-cards/<rate_card_id>/", responses=doc(RateCard))
@requires(router, READ)
def get_rate_card(rate_card_id: str) -> Response[Any]:
    return json_response(200, rate_cards.get_rate_card(_repo(), parse_id(rate_card_id)))


@router.patch("/trakledger/rate-cards/<rate_card_id>/", responses=doc(RateCard))
@requires(router, WRITE)
def update_rate_card(rate_card_id: str, body: RateCardPatch) -> Response[Any]:
    return json_response(200, rate_cards.update_rate_card(_repo(), parse_id(rate_card_id), body))


@router.delete("/trakledger/rate-cards/<rate_card_id>/")
@requires(router, WRITE)
def delete_rate_card(rate_card_id: str) -> Response[Any]:
    rate_cards.delete_rate_card(_repo(), parse_id(rate_card_id))
    return no_content()


# ---- budget plans ---------------------------------------------------------------------------

PLAN_FILTERS = ("year", "status", "search", "ordering")


@router.get("/trakledger/budget-plans/", responses=doc(list[BudgetPlan]))
@requires(router, READ)
def list_budget_plans() -> Response[Any]:
    return page(router, budgets.list_plans(_repo(), query(router, *PLAN_FILTERS)))


@router.post("/trakledger/budget-plans/", responses=doc(BudgetPlan, 201))
@requires(router, WRITE)
def create_budget_plan(body: BudgetPlanCreate) -> Response[Any]:
    return json_response(201, budgets.create_plan(_repo(), principal(router), body))


@router.get("/trakledger/budget-plans/<plan_id>/", responses=doc(BudgetPlanDetail))
@requires(router, READ)
def get_budget_plan(plan_id: str) -> Response[Any]:
    return json_response(200, budgets.get_plan(_repo(), parse_id(plan_id)))


@router.patch("/trakledger/budget-plans/<plan_id>/", responses=doc(BudgetPlan))
@requires(router, WRITE)
def update_budget_plan(plan_id: str, body: BudgetPlanPatch) -> Response[Any]:
    return json_response(200, budgets.update_plan(_repo(), parse_id(plan_id), body))


@router.delete("/trakledger/budget-plans/<plan_id>/")
@requires(router, WRITE)
def delete_budget_plan(plan_id: str) -> Response[Any]:
    budgets.delete_plan(_repo(), parse_id(plan_id))
    return no_content()


# ---- budget envelopes -----------------------------------------------------------------------

# ⚠ the frontend filters by budget_plan_id (API.md §5.3); budget_plan is accepted too.
ENVELOPE_FILTERS = ("budget_plan_id", "budget_plan", "cost_center", "cost_center_id", "category", "is_active", "search")


@router.get("/trakledger/budget-envelopes/", responses=doc(list[Envelope]))
@requires(router, READ)
def list_budget_envelopes() -> Response[Any]:
    return page(router, budgets.list_envelopes(_repo(), query(router, *ENVELOPE_FILTERS)))


@router.post("/trakledger/budget-envelopes/", responses=doc(Envelope, 201))
@requires(router, WRITE)
def create_budget_envelope(body: EnvelopeCreate) -> Response[Any]:
    return json_response(201, budgets.create_envelope(_repo(), body))


@router.get("/trakledger/budget-envelopes/<envelope_id>/", responses=doc(Envelope))
@requires(router, READ)
def get_budget_envelope(envelope_id: str) -> Response[Any]:
    return json_response(200, budgets.get_envelope(_repo(), parse_id(envelope_id)))


@router.patch("/trakledger/budget-envelopes/<envelope_id>/", responses=doc(Envelope))
@requires(router, WRITE)
def update_budget_envelope(envelope_id: str, body: EnvelopePatch) -> Response[Any]:
    return json_response(200, budgets.update_envelope(_repo(), parse_id(envelope_id), body))


@router.delete("/trakledger/budget-envelopes/<envelope_id>/")
@requires(router, WRITE)
def delete_budget_envelope(envelope_id: str) -> Response[Any]:
    budgets.delete_envelope(_repo(), parse_id(envelope_id))
    return no_content()


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


@router.get("/trakledger/commitments/", responses=doc(list[Commitment]))
@requires(router, READ)
def list_commitments() -> Response[Any]:
    return page(router, commitments.list_commitments(_repo(), query(router, *COMMITMENT_FILTERS)))


@router.post("/trakledger/commitments/", responses=doc(Commitment, 201))
@requires(router, WRITE)
def create_commitment(body: CommitmentCreate) -> Response[Any]:
    return json_response(201, commitments.create_commitment(_repo(), principal(router), body))


@router.get("/trakledger/commitments/<commitment_id>/", responses=doc(Commitment))
@requires(router, READ)
def get_commitment(commitment_id: str) -> Response[Any]:
    return json_response(200, commitments.get_commitment(_repo(), parse_id(commitment_id)))


@router.patch("/trakledger/commitments/<commitment_id>/", responses=doc(Commitment))
@requires(router, WRITE)
def update_commitment(commitment_id: str, body: CommitmentPatch) -> Response[Any]:
    return json_response(200, commitments.update_commitment(_repo(), parse_id(commitment_id), body))


@router.post("/trakledger/commitments/<commitment_id>/submit/", responses=doc(Commitment))
@requires(router, WRITE)
def submit_commitment(commitment_id: str) -> Response[Any]:
    return json_response(200, commitments.submit_commitment(_repo(), parse_id(commitment_id)))


@router.post("/trakledger/commitments/<commitment_id>/approve/", responses=doc(CommitmentApproved))
@requires(router, APPROVE)
def approve_commitment(commitment_id: str) -> Response[Any]:
    return json_response(200, commitments.approve_commitment(_repo(), principal(router), parse_id(commitment_id)))


@router.post("/trakledger/commitments/<commitment_id>/reject/", responses=doc(Commitment))
@requires(router, APPROVE)
def reject_commitment(commitment_id: str, body: CommitmentReject) -> Response[Any]:
    return json_response(200, commitments.reject_commitment(_repo(), parse_id(commitment_id), body))


@router.post("/trakledger/commitments/<commitment_id>/cancel/", responses=doc(Commitment))
@requires(router, WRITE)
def cancel_commitment(commitment_id: str, body: CommitmentCancel | None = None) -> Response[Any]:
    reason = body.reason if body else None
    return json_response(200, commitments.cancel_commitment(_repo(), parse_id(commitment_id), reason))


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


@router.get("/trakledger/savings-events/", responses=doc(list[SavingsEvent]))
@requires(router, READ)
def list_savings_events() -> Response[Any]:
    return page(router, savings.list_savings(_repo(), query(router, *SAVINGS_FILTERS)))


@router.post("/trakledger/savings-events/", responses=doc(SavingsEvent, 201))
@requires(router, WRITE)
def create_savings_event(body: SavingsCreate) -> Response[Any]:
    return json_response(201, savings.create_savings(_repo(), principal(router), body))


@router.get("/trakledger/savings-events/<savings_id>/", responses=doc(SavingsEvent))
@requires(router, READ)
def get_savings_event(savings_id: str) -> Response[Any]:
    return json_response(200, savings.get_savings(_repo(), parse_id(savings_id)))


# ---- budget summary and top costs -----------------------------------------------------------


@router.get("/trakledger/budget-summary/", responses=doc(BudgetSummary))
@requires(router, READ)
def budget_summary() -> Response[Any]:
    params = query(router, "month", "cost_center", "cost_center_id")
    cost_center = params["cost_center"] or params["cost_center_id"]
    return json_response(200, summary.budget_summary(_repo(), params["month"], cost_center))


@router.get("/trakledger/budget-summary/year/", responses=doc(YearSummary))
@requires(router, READ)
def budget_summary_year() -> Response[Any]:
    params = query(router, "year", "cost_center", "cost_center_id")
    cost_center = params["cost_center"] or params["cost_center_id"]
    return json_response(200, summary.year_summary(_repo(), params["year"], cost_center))


@router.get("/trakledger/top-costs/", responses=doc(TopCosts))
@requires(router, READ)
def top_costs() -> Response[Any]:
    return json_response(200, summary.top_costs(_repo(), query(router, "by", "start", "end", "limit")))
