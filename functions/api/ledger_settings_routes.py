"""TrakLedger tenant settings (`/trakledger/settings/`): automatic month locking.

Routes only: identity and permission, parse, call climatrak.ledger.month_close, shape the response.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.core.http import json_response, requires
from climatrak.core.identity import Permission
from climatrak.ledger import month_close
from climatrak.ledger.month_close import LedgerSettings
from climatrak.ledger.repository import LedgerRepository

from .route_support import doc, tenant_repository

router = APIGatewayRouter()

_repo = tenant_repository(router, LedgerRepository)


@router.get("/trakledger/settings/", responses=doc(LedgerSettings))
@requires(router, Permission.LEDGER_READ)
def get_ledger_settings() -> Response[Any]:
    return json_response(200, month_close.get_settings(_repo()))


@router.put("/trakledger/settings/", responses=doc(LedgerSettings))
@requires(router, Permission.MONTH_LOCK)  # locking months is the owner's and admins' call
def update_ledger_settings(body: LedgerSettings) -> Response[Any]:
    return json_response(200, month_close.update_settings(_repo(), body))
