"""TrakLedger transactions and month locks (API.md §5.4; issue 3 §3 month lock/unlock).

Routes only: identity and permission, parse, call climatrak.ledger.postings / months, shape
the response. Reads LEDGER_READ, writes LEDGER_WRITE, locks MONTH_LOCK.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.core.errors import NotFound
from climatrak.core.http import cursor_paginate, json_response, principal, requires
from climatrak.core.identity import Permission
from climatrak.ledger import months, postings, transaction_listing
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.transaction_models import (
    CostTransaction,
    MonthLockRequest,
    MonthLockState,
    TransactionCreate,
    TransactionPatch,
)

from .dependencies import settings
from .route_support import doc, no_content, query_params, tenant_repository

router = APIGatewayRouter()

READ = Permission.LEDGER_READ
WRITE = Permission.LEDGER_WRITE
LOCK = Permission.MONTH_LOCK

_repo = tenant_repository(router, PostingRepository)


def _id(raw: str) -> str:
    """Transaction ids are UUIDs; anything else is simply not found."""
    if not raw or len(raw) > 64 or "#" in raw:
        raise NotFound("Not found.")
    return raw


@router.get("/trakledger/transactions/", responses=doc(list[CostTransaction]))
@requires(router, READ)
def list_transactions() -> Response[Any]:
    repo = _repo()
    listing = transaction_listing.list_transactions(repo, query_params(router))
    page = cursor_paginate(router, listing.fetch, listing.count, settings().public_base_url)
    page["results"] = postings.transaction_views(repo, page["results"], listing.states)
    return json_response(200, page)


@router.post("/trakledger/transactions/", responses=doc(CostTransaction, 201))
@requires(router, WRITE)
def create_transaction(body: TransactionCreate) -> Response[Any]:
    return json_response(201, postings.create_manual(_repo(), body, principal(router).user_id))


@router.get("/trakledger/transactions/<transaction_id>/", responses=doc(CostTransaction))
@requires(router, READ)
def get_transaction(transaction_id: str) -> Response[Any]:
    return json_response(200, postings.get_transaction(_repo(), _id(transaction_id)))


@router.patch("/trakledger/transactions/<transaction_id>/", responses=doc(CostTransaction))
@requires(router, WRITE)
def update_transaction(transaction_id: str, body: TransactionPatch) -> Response[Any]:
    return json_response(200, postings.update_manual(_repo(), _id(transaction_id), body))


@router.delete("/trakledger/transactions/<transaction_id>/")
@requires(router, WRITE)
def delete_transaction(transaction_id: str) -> Response[Any]:
    postings.delete_manual(_repo(), _id(transaction_id))
    return no_content()


@router.post("/trakledger/budget-months/lock/", responses=doc(MonthLockState))
@requires(router, LOCK)
def lock_month(body: MonthLockRequest) -> Response[Any]:
    return json_response(200, months.lock_month(_repo(), body.month, principal(router).user_id))


@router.post("/trakledger/budget-months/unlock/", responses=doc(MonthLockState))
@requires(router, LOCK)
def unlock_month(body: MonthLockRequest) -> Response[Any]:
    return json_response(200, months.unlock_month(_repo(), body.month, principal(router).user_id))
