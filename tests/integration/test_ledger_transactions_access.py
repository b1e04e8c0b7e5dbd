"""Permissions and tenant isolation across every ledger-transaction and month-lock route."""

from __future__ import annotations

from typing import Any

import pytest

from climatrak.core.http import ROUTE_PERMISSIONS
from climatrak.core.identity import PERMISSIONS, Permission, Role
from climatrak.ledger.cost_engine import post_work_order_costs
from climatrak.registry.logic import create_tenant
from functions.api import ledger_transactions_routes
from tests.integration.ledger_world import LedgerWorld, ledger  # noqa: F401
from tests.integration.test_cost_engine import closed

TRANSACTIONS = "/api/trakledger/transactions/"


def adjustment(**changes: Any) -> dict[str, Any]:
    body = {
        "transaction_type": "adjustment",
        "category": "other",
        "amount": 10,
        "occurred_at": "2026-03-10T10:00",
        "description": "Ajuste",
    }
    body.update(changes)
    return body


@pytest.fixture
def world(ledger: LedgerWorld, settings) -> dict[str, str]:  # noqa: F811
    """acme with one manual row per role to edit and delete, plus a work order's postings;
    tenant beta exists and is empty."""
    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    post_work_order_costs(settings, "acme", closed(1, cost_center_id=None, asset_id=None))
    rows = {role.value: ledger.api.post(TRANSACTIONS, adjustment()).json["id"] for role in Role}
    return rows


def _routes(row: str) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(route function, method, path, body) for every route of the module."""
    return [
        ("list_transactions", "GET", TRANSACTIONS, None),
        ("create_transaction", "POST", TRANSACTIONS, adjustment()),
        ("get_transaction", "GET", f"{TRANSACTIONS}{row}/", None),
        ("update_transaction", "PATCH", f"{TRANSACTIONS}{row}/", {"amount": 11}),
        ("delete_transaction", "DELETE", f"{TRANSACTIONS}{row}/", None),
        # lock, then unlock: the month stays usable for the next role
        ("lock_month", "POST", "/api/trakledger/budget-months/lock/", {"month": "2026-07-01"}),
        ("unlock_month", "POST", "/api/trakledger/budget-months/unlock/", {"month": "2026-07-01"}),
    ]


def _permission_of(route_name: str) -> Permission:
    for func in ledger_transactions_routes.router._routes.values():
        if func.__name__ == route_name:
            return ROUTE_PERMISSIONS[func.__qualname__]
    raise AssertionError(f"no route {route_name}")


def test_the_walk_covers_every_route() -> None:
    declared = {func.__name__ for func in ledger_transactions_routes.router._routes.values()}
    assert declared == {name for name, *_ in _routes("x")}


def test_the_permission_table_for_these_routes() -> None:
    assert _permission_of("list_transactions") is Permission.LEDGER_READ
    assert _permission_of("get_transaction") is Permission.LEDGER_READ
    for name in ("create_transaction", "update_transaction", "delete_transaction"):
        assert _permission_of(name) is Permission.LEDGER_WRITE
    assert _permission_of("lock_month") is _permission_of("unlock_month") is Permission.MONTH_LOCK
    assert PERMISSIONS[Permission.MONTH_LOCK] == {Role.OWNER, Role.ADMIN}


@pytest.mark.parametrize("role", list(Role))
def test_every_route_with_every_role(ledger: LedgerWorld, world: dict[str, str], role: Role) -> None:  # noqa: F811
    for name, method, path, body in _routes(world[role.value]):
        status, response = ledger.api.request(method, path, role=role.value, body=body)
        if role in PERMISSIONS[_permission_of(name)]:
            assert status in (200, 201, 204), (name, role, status, response)
        else:
            assert status == 403, (name, role, status)
            assert response["detail"] == "You do not have permission to perform this action."


def test_another_tenant_sees_nothing_and_finds_nothing(ledger: LedgerWorld, world: dict[str, str]) -> None:  # noqa: F811
    row = world["owner"]
    listing = ledger.api.get(TRANSACTIONS, tenant="beta")
    wo_tab = ledger.api.get(TRANSACTIONS, tenant="beta", query={"work_order": 1})

    assert listing.status == 200 and listing.json["count"] == 0 and listing.json["results"] == []
    assert wo_tab.json["count"] == 0
    for method, body in (("GET", None), ("PATCH", {"amount": 1}), ("DELETE", None)):
        status, response = ledger.api.request(method, f"{TRANSACTIONS}{row}/", tenant="beta", body=body)
        assert status == 404 and response["detail"] == "Not found."
    assert ledger.api.get(f"{TRANSACTIONS}{row}/").json["amount"] == "10.00"


def test_a_tenant_header_that_disagrees_with_the_token_is_refused(ledger: LedgerWorld, world) -> None:  # noqa: F811
    status, _ = ledger.api.get(TRANSACTIONS, headers={"X-Tenant": "beta"})

    assert status == 403
