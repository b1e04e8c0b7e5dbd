"""Cost centres (API.md §5.1): hierarchy, per-tenant unique codes, the default, deletion rules."""

from __future__ import annotations

import pytest

from climatrak.core.errors import Conflict
from climatrak.ledger.cost_centers import CostCenters
from climatrak.registry.logic import create_tenant
from tests.integration.ledger_world import LedgerWorld, ledger_fixture  # noqa: F401

CC = "/api/trakledger/cost-centers/"


def test_a_cost_center_carries_its_place_in_the_hierarchy(ledger: LedgerWorld) -> None:
    hospital = ledger.cost_center("MANUT", "Hospital maintenance")
    plant = ledger.cost_center("MANUT-CP", "Central plant", parent=hospital["id"])
    chillers = ledger.cost_center("MANUT-CP-CH", "Chillers", parent=plant["id"], tags=["hvac"])

    assert chillers["parent_id"] == plant["id"] and chillers["parent_name"] == "Central plant"
    assert chillers["level"] == 2 and chillers["full_path"] == "Hospital maintenance > Central plant > Chillers"
    assert chillers["tags"] == ["hvac"] and chillers["is_active"] is True and chillers["created_by"] == 1
    top = ledger.ok(ledger.api.get(f"{CC}{hospital['id']}/"))
    assert top["level"] == 0 and top["parent_id"] is None and top["children_count"] == 1


def test_the_list_shows_the_tenant_default_and_orders_by_code(ledger: LedgerWorld) -> None:
    ledger.cost_center("ZZ")
    ledger.cost_center("AA")
    page = ledger.ok(ledger.api.get(CC))
    assert [row["code"] for row in page["results"]] == ["AA", "GERAL", "ZZ"]
    default = next(row for row in page["results"] if row["code"] == "GERAL")
    assert default["id"] == ledger.default_cost_center and default["is_default"] is True
    assert page["count"] == 3 and page["next"] is None


def test_list_filters(ledger: LedgerWorld) -> None:
    root = ledger.cost_center("ROOT", "Plant")
    child = ledger.cost_center("ROOT-1", "Boilers", parent=root["id"])
    ledger.cost_center("OLD", "Retired", is_active=False)

    def codes(**query: str) -> list[str]:
        return [row["code"] for row in ledger.ok(ledger.api.get(CC, query=query))["results"]]

    assert codes(parent=root["id"]) == ["ROOT-1"]
    assert codes(is_root="false") == ["ROOT-1"]
    assert codes(is_active="false") == ["OLD"]
    assert codes(code="root") == ["ROOT", "ROOT-1"]
    assert codes(search="boil") == ["ROOT-1"]
    assert codes(ordering="-code") == ["ROOT-1", "ROOT", "OLD", "GERAL"]
    assert child["id"] in {row["id"] for row in ledger.ok(ledger.api.get(CC, query={"name": "boilers"}))["results"]}
    assert ledger.api.get(CC, query={"is_root": "maybe"}).status == 400


def test_codes_are_unique_per_tenant_regardless_of_case(ledger: LedgerWorld, settings) -> None:
    ledger.cost_center("CP")
    status, body = ledger.api.post(CC, {"code": "cp", "name": "Again"})
    assert status == 400 and body == {"code": ["cost center with this code already exists."]}
    assert ledger.api.post(CC, {"code": "GERAL", "name": "Default twin"}).status == 400

    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    assert ledger.api.post(CC, {"code": "CP", "name": "Beta plant"}, tenant="beta").status == 201


def test_renaming_a_code_moves_its_guard(ledger: LedgerWorld) -> None:
    first = ledger.cost_center("A")
    ledger.cost_center("B")
    status, body = ledger.api.patch(f"{CC}{first['id']}/", {"code": "B"})
    assert status == 400 and body == {"code": ["cost center with this code already exists."]}
    assert ledger.ok(ledger.api.patch(f"{CC}{first['id']}/", {"code": "A2"}))["code"] == "A2"
    assert ledger.api.post(CC, {"code": "A", "name": "Reuses the freed code"}).status == 201
    assert ledger.api.post(CC, {"code": "A2", "name": "Taken"}).status == 400


def test_a_parent_must_exist_in_the_same_tenant(ledger: LedgerWorld, settings) -> None:
    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    foreign = ledger.ok(ledger.api.post(CC, {"code": "X", "name": "Beta's"}, tenant="beta"), 201)
    status, body = ledger.api.post(CC, {"code": "C", "name": "C", "parent_id": foreign["id"]})
    assert status == 400 and "parent_id" in body
    assert ledger.api.post(CC, {"code": "C", "name": "C", "parent_id": "not-a-uuid"}).status == 400


def test_re_parenting_refuses_cycles(ledger: LedgerWorld) -> None:
    top = ledger.cost_center("T")
    middle = ledger.cost_center("M", parent=top["id"])
    bottom = ledger.cost_center("B", parent=middle["id"])
    for parent in (bottom["id"], top["id"]):
        status, body = ledger.api.patch(f"{CC}{top['id']}/", {"parent_id": parent})
        assert status == 400 and "parent_id" in body
    moved = ledger.ok(ledger.api.patch(f"{CC}{bottom['id']}/", {"parent_id": None}))
    assert moved["level"] == 0 and moved["full_path"] == bottom["name"]


def test_two_concurrent_re_parentings_cannot_build_a_cycle(ledger: LedgerWorld) -> None:
    a, b = ledger.cost_center("A"), ledger.cost_center("B")
    repo = ledger.repo()
    # Both writers read the hierarchy before either writes: A under B, and B under A.
    first, second = CostCenters.load(repo), CostCenters.load(repo)
    item_a = first.items[a["id"]]
    item_a.parent_id = b["id"]
    repo.save_cost_center(item_a, item_a.code, first.chain(b["id"]))
    item_b = second.items[b["id"]]
    item_b.parent_id = a["id"]
    with pytest.raises(Conflict):
        repo.save_cost_center(item_b, item_b.code, second.chain(a["id"]))
    assert ledger.ok(ledger.api.get(f"{CC}{b['id']}/"))["parent_id"] is None


def test_a_stale_write_is_409(ledger: LedgerWorld) -> None:
    center = ledger.cost_center("A")
    repo = ledger.repo()
    first, second = repo.get_cost_center(center["id"]), repo.get_cost_center(center["id"])
    assert first is not None and second is not None
    first.name = "first"
    repo.save_cost_center(first, first.code, [])
    second.name = "second"
    with pytest.raises(Conflict):
        repo.save_cost_center(second, second.code, [])
    assert ledger.ok(ledger.api.get(f"{CC}{center['id']}/"))["name"] == "first"


def test_delete_refuses_parents_used_centres_and_the_default(ledger: LedgerWorld) -> None:
    parent = ledger.cost_center("P")
    child = ledger.cost_center("C", parent=parent["id"])
    used = ledger.cost_center("U")
    ledger.commitment(used["id"], 100, submit=False)
    for target in (parent["id"], used["id"], ledger.default_cost_center):
        status, body = ledger.api.delete(f"{CC}{target}/")
        assert status == 400 and body["error"] == body["detail"] and body["detail"], (target, body)

    assert ledger.api.delete(f"{CC}{child['id']}/").status == 204
    assert ledger.api.delete(f"{CC}{parent['id']}/").status == 204
    assert ledger.api.get(f"{CC}{parent['id']}/").status == 404
    assert ledger.api.post(CC, {"code": "P", "name": "Code free again"}).status == 201


def test_centres_used_by_envelopes_or_savings_cannot_be_deleted(ledger: LedgerWorld) -> None:
    with_envelope, with_savings = ledger.cost_center("E"), ledger.cost_center("S")
    ledger.envelope(ledger.plan()["id"], with_envelope["id"])
    body = {
        "event_type": "other",
        "occurred_at": "2026-03-10T10:00",
        "savings_amount": 10,
        "currency": "BRL",
        "confidence": "low",
        "cost_center_id": with_savings["id"],
    }
    ledger.ok(ledger.api.post("/api/trakledger/savings-events/", body), 201)
    assert ledger.api.delete(f"{CC}{with_envelope['id']}/").status == 400
    assert ledger.api.delete(f"{CC}{with_savings['id']}/").status == 400


def test_unknown_and_malformed_ids_are_404(ledger: LedgerWorld) -> None:
    assert ledger.api.get(f"{CC}7f0c7a8e-2f7b-4c1e-9a4e-3d1c6f0b9a55/").json["detail"] == "Not found."
    assert ledger.api.get(f"{CC}42/").status == 404
