"""Permissions and tenant isolation across every route of ledger_routes.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from climatrak.core.http import ROUTE_PERMISSIONS
from climatrak.core.identity import PERMISSIONS, Permission, Role
from climatrak.registry.logic import create_tenant
from functions.api import ledger_routes
from tests.integration.ledger_world import YEAR, LedgerWorld, ledger_fixture  # noqa: F401

L = "/api/trakledger"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def world(ledger: LedgerWorld, settings: Any) -> dict[str, str]:
    """Tenant acme with one of everything (and spares for the deletes); tenant beta is empty."""
    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    center = ledger.cost_center("CP")["id"]
    plan = ledger.plan()["id"]
    savings = {
        "event_type": "other",
        "occurred_at": f"{YEAR}-03-10T10:00",
        "savings_amount": 5,
        "confidence": "low",
        "cost_center_id": center,
    }
    return {
        "center": center,
        "spare_center": ledger.cost_center("SPARE")["id"],
        "rate_card": ledger.rate_card("Technician", "80.00", "2025-01-01")["id"],
        "spare_rate_card": ledger.rate_card("Helper", "40.00", "2025-01-01")["id"],
        "plan": plan,
        "spare_plan": ledger.plan(code="SPARE")["id"],
        "envelope": ledger.envelope(plan, center, "preventive")["id"],
        "spare_envelope": ledger.envelope(plan, center, "corrective")["id"],
        "draft": ledger.commitment(center, "10", submit=False)["id"],
        "to_submit": ledger.commitment(center, "10", submit=False)["id"],
        "to_approve": ledger.commitment(center, "10")["id"],
        "to_reject": ledger.commitment(center, "10")["id"],
        "to_cancel": ledger.commitment(center, "10")["id"],
        "savings": ledger.ok(ledger.api.post(f"{L}/savings-events/", savings), 201)["id"],
    }


def _routes(ids: dict[str, str]) -> list[tuple[str, str, str, dict[str, Any] | None, dict[str, str] | None]]:
    """(route function, method, path, body, query) for every ledger route."""
    center, plan = ids["center"], ids["plan"]
    month = f"{YEAR}-03-01"
    months = [{"month": f"{YEAR}-{n:02d}-01", "planned_amount": 10, "contingency_amount": 0} for n in range(1, 13)]
    commitment = {"cost_center": center, "category": "parts", "amount": 5, "budget_month": month, "submit": True}
    savings = {
        "event_type": "energy_saving",
        "occurred_at": f"{YEAR}-03-11T10:00",
        "savings_amount": 7,
        "confidence": "high",
        "cost_center_id": center,
    }
    return [
        ("list_cost_centers", "GET", f"{L}/cost-centers/", None, None),
        ("create_cost_center", "POST", f"{L}/cost-centers/", {"code": "NEW", "name": "New"}, None),
        ("get_cost_center", "GET", f"{L}/cost-centers/{center}/", None, None),
        ("update_cost_center", "PATCH", f"{L}/cost-centers/{center}/", {"name": "Renamed"}, None),
        ("list_rate_cards", "GET", f"{L}/rate-cards/", None, None),
        (
            "create_rate_card",
            "POST",
            f"{L}/rate-cards/",
            {"role": "Engineer", "cost_per_hour": 1, "effective_from": "2026-01-01"},
            None,
        ),
        ("get_rate_card", "GET", f"{L}/rate-cards/{ids['rate_card']}/", None, None),
        ("update_rate_card", "PATCH", f"{L}/rate-cards/{ids['rate_card']}/", {"description": "x"}, None),
        ("list_budget_plans", "GET", f"{L}/budget-plans/", None, None),
        ("create_budget_plan", "POST", f"{L}/budget-plans/", {"name": "N", "year": YEAR}, None),
        ("get_budget_plan", "GET", f"{L}/budget-plans/{plan}/", None, None),
        ("update_budget_plan", "PATCH", f"{L}/budget-plans/{plan}/", {"description": "x"}, None),
        ("list_budget_envelopes", "GET", f"{L}/budget-envelopes/", None, {"budget_plan_id": plan}),
        (
            "create_budget_envelope",
            "POST",
            f"{L}/budget-envelopes/",
            {"budget_plan": plan, "name": "E", "category": "energy", "cost_center": center, "amount": 0},
            None,
        ),
        ("get_budget_envelope", "GET", f"{L}/budget-envelopes/{ids['envelope']}/", None, None),
        ("update_budget_envelope", "PATCH", f"{L}/budget-envelopes/{ids['envelope']}/", {"months": months}, None),
        ("list_commitments", "GET", f"{L}/commitments/", None, {"cost_center_id": center}),
        ("create_commitment", "POST", f"{L}/commitments/", commitment, None),
        ("get_commitment", "GET", f"{L}/commitments/{ids['draft']}/", None, None),
        ("update_commitment", "PATCH", f"{L}/commitments/{ids['draft']}/", {"notes": "x"}, None),
        ("submit_commitment", "POST", f"{L}/commitments/{ids['to_submit']}/submit/", None, None),
        ("approve_commitment", "POST", f"{L}/commitments/{ids['to_approve']}/approve/", None, None),
        (
            "reject_commitment",
            "POST",
            f"{L}/commitments/{ids['to_reject']}/reject/",
            {"reason": "Over the monthly budget"},
            None,
        ),
        ("cancel_commitment", "POST", f"{L}/commitments/{ids['to_cancel']}/cancel/", None, None),
        ("list_savings_events", "GET", f"{L}/savings-events/", None, {"from": f"{YEAR}-01-01"}),
        ("create_savings_event", "POST", f"{L}/savings-events/", savings, None),
        ("get_savings_event", "GET", f"{L}/savings-events/{ids['savings']}/", None, None),
        ("budget_summary", "GET", f"{L}/budget-summary/", None, {"month": month, "cost_center": center}),
        ("budget_summary_year", "GET", f"{L}/budget-summary/year/", None, {"year": str(YEAR), "cost_center": center}),
        ("top_costs", "GET", f"{L}/top-costs/", None, {"by": "category", "start": month, "end": month}),
        # Deletes last, of the spares.
        ("delete_budget_envelope", "DELETE", f"{L}/budget-envelopes/{ids['spare_envelope']}/", None, None),
        ("delete_budget_plan", "DELETE", f"{L}/budget-plans/{ids['spare_plan']}/", None, None),
        ("delete_rate_card", "DELETE", f"{L}/rate-cards/{ids['spare_rate_card']}/", None, None),
        ("delete_cost_center", "DELETE", f"{L}/cost-centers/{ids['spare_center']}/", None, None),
    ]


def _permission_of(route_name: str) -> Permission:
    for func in ledger_routes.router._routes.values():
        if func.__name__ == route_name:
            return ROUTE_PERMISSIONS[func.__qualname__]
    raise AssertionError(f"no route {route_name}")


def test_the_walk_covers_every_ledger_route() -> None:
    declared = {func.__name__ for func in ledger_routes.router._routes.values()}
    assert declared == {name for name, *_ in _routes({key: "x" for key in _ID_KEYS})}


_ID_KEYS = (
    "center",
    "spare_center",
    "rate_card",
    "spare_rate_card",
    "plan",
    "spare_plan",
    "envelope",
    "spare_envelope",
    "draft",
    "to_submit",
    "to_approve",
    "to_reject",
    "to_cancel",
    "savings",
)


def test_the_permission_table_for_the_ledger() -> None:
    managers = {Role.OWNER, Role.ADMIN, Role.OPERATOR}
    assert PERMISSIONS[Permission.LEDGER_READ] == frozenset(Role)
    assert PERMISSIONS[Permission.LEDGER_WRITE] == managers
    assert PERMISSIONS[Permission.COMMITMENT_APPROVE] == managers
    assert _permission_of("approve_commitment") == _permission_of("reject_commitment") == Permission.COMMITMENT_APPROVE
    assert _permission_of("budget_summary") == Permission.LEDGER_READ
    assert _permission_of("create_commitment") == Permission.LEDGER_WRITE


@pytest.mark.parametrize("role", list(Role))
def test_every_route_with_every_role(ledger: LedgerWorld, world: dict[str, str], role: Role) -> None:
    for name, method, path, body, query in _routes(world):
        permission = _permission_of(name)
        status, response = ledger.api.request(method, path, role=role.value, body=body, query=query)
        if role in PERMISSIONS[permission]:
            assert status in (200, 201, 204), (name, role, status, response)
        else:
            assert status == 403, (name, role, status)
            assert response["detail"] == "You do not have permission to perform this action."


_COLLECTION_OF = {
    "center": "cost-centers",
    "spare_center": "cost-centers",
    "rate_card": "rate-cards",
    "spare_rate_card": "rate-cards",
    "plan": "budget-plans",
    "spare_plan": "budget-plans",
    "envelope": "budget-envelopes",
    "spare_envelope": "budget-envelopes",
    "draft": "commitments",
    "to_submit": "commitments",
    "to_approve": "commitments",
    "to_reject": "commitments",
    "to_cancel": "commitments",
    "savings": "savings-events",
}


def test_every_id_of_the_world_is_read_back() -> None:
    assert set(_COLLECTION_OF) == set(_ID_KEYS)


def _acme_reads(ledger: LedgerWorld, ids: dict[str, str]) -> dict[str, Any]:
    """Every read route of acme, by path and query: what nothing done by beta may change."""
    reads: dict[str, Any] = {}
    for name, method, path, _, query in _routes(ids):
        if method == "GET":
            reads[f"{name} {path} {query}"] = ledger.ok(ledger.api.get(path, query=query))
    for key, collection in _COLLECTION_OF.items():  # every id, not only the ones the get routes use
        reads[key] = ledger.ok(ledger.api.get(f"{L}/{collection}/{ids[key]}/"))
    reads["transactions"] = ledger.ok(ledger.api.get(f"{L}/transactions/"))
    reads["summary"] = ledger.summary(f"{YEAR}-03-01")
    return reads


def _acme_ids_in(value: Any, acme_ids: set[str]) -> bool:
    if isinstance(value, dict):
        return any(_acme_ids_in(item, acme_ids) for item in value.values())
    if isinstance(value, list):
        return any(_acme_ids_in(item, acme_ids) for item in value)
    return value in acme_ids


def test_another_tenant_gets_404_on_every_id_and_sees_no_rows(ledger: LedgerWorld, world: dict[str, str]) -> None:
    beta = LedgerWorld(ledger.api, ledger.settings, "beta")
    beta_center, beta_plan = beta.cost_center("BETA")["id"], beta.plan()["id"]
    acme_before = _acme_reads(ledger, world)
    acme_ids = set(world.values())

    for name, method, path, body, query in _routes(world):
        if not UUID.search(path) and not (query and any(UUID.fullmatch(value) for value in query.values())):
            continue
        status, response = ledger.api.request(method, path, tenant="beta", role="owner", body=body, query=query)
        if name in {"list_commitments", "list_budget_envelopes"}:  # a filter value, not a path id
            assert status == 200 and response["count"] == 0, name
            continue
        assert status == 404, (name, status, response)
        assert response["detail"] == "Not found."

    # acme's ids in a body are not beta's either: refused, nothing written in either tenant
    bodies = [(path, body) for _, method, path, body, _ in _routes(world) if method == "POST" and body]
    bodies = [(path, body) for path, body in bodies if _acme_ids_in(body, acme_ids)]
    assert {path for path, _ in bodies} == {f"{L}/budget-envelopes/", f"{L}/commitments/", f"{L}/savings-events/"}
    envelope = {"name": "E", "category": "energy", "amount": 0}
    bodies += [
        (f"{L}/budget-envelopes/", {**envelope, "budget_plan": world["plan"], "cost_center": beta_center}),
        (f"{L}/budget-envelopes/", {**envelope, "budget_plan": beta_plan, "cost_center": world["center"]}),
        (
            f"{L}/transactions/",
            {
                "transaction_type": "adjustment",
                "category": "other",
                "amount": 10,
                "occurred_at": f"{YEAR}-03-10T10:00",
                "description": "Ajuste",
                "cost_center": world["center"],
            },
        ),
    ]
    for path, body in bodies:
        status, response = ledger.api.post(path, body, tenant="beta")
        # a field error on (one of) the fields carrying acme's ids, as for an id that does not exist
        assert status == 400 and len(response) == 1, (path, body, status, response)
        [(field, [message])] = response.items()
        assert body[field] in acme_ids, (path, field)
        assert message == f'Invalid pk "{body[field]}" - object does not exist.'

    for path in ("cost-centers", "rate-cards", "budget-plans", "budget-envelopes", "commitments", "savings-events"):
        rows = ledger.ok(ledger.api.get(f"{L}/{path}/", tenant="beta"))["results"]
        assert not acme_ids & {row["id"] for row in rows}, path
    rows = ledger.ok(ledger.api.get(f"{L}/budget-envelopes/", tenant="beta", query={"budget_plan_id": beta_plan}))
    assert rows["results"] == []
    for path in ("rate-cards", "commitments", "savings-events", "transactions"):
        assert ledger.ok(ledger.api.get(f"{L}/{path}/", tenant="beta"))["results"] == [], path
    assert [row["id"] for row in ledger.ok(ledger.api.get(f"{L}/budget-plans/", tenant="beta"))["results"]] == [
        beta_plan
    ]
    summary = beta.summary(f"{YEAR}-03-01")
    assert (summary["planned"], summary["committed"], summary["savings"], summary["by_category"]) == (0, 0, 0, [])
    assert summary["actual"] == 0
    # Nothing of acme changed: every read answers as before.
    assert _acme_reads(ledger, world) == acme_before
