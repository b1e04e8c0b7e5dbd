"""Cost centres (API.md §5.1): hierarchy, per-tenant unique codes, the default, deletion rules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from climatrak.core.errors import Conflict
from climatrak.ledger.cost_centers import CostCenters
from climatrak.ledger.cost_engine import post_commitment, post_work_order_costs
from climatrak.ledger.items import CostCenterItem
from climatrak.ledger.repository import LedgerRepository
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


# ---- deletion rules are conditions of the delete (in_use, children_count) ---------------------


def stored(ledger: LedgerWorld, cost_center_id: str) -> CostCenterItem | None:
    return ledger.repo().get_cost_center(cost_center_id)


def assert_refused_and_kept(ledger: LedgerWorld, cost_center_id: str, says: str) -> None:
    status, body = ledger.api.delete(f"{CC}{cost_center_id}/")
    assert status == 400 and body["error"] == body["detail"] and says in body["detail"], body
    assert ledger.ok(ledger.api.get(f"{CC}{cost_center_id}/"))["id"] == cost_center_id
    code = ledger.ok(ledger.api.get(f"{CC}{cost_center_id}/"))["code"]
    assert ledger.api.post(CC, {"code": code, "name": "Code still taken"}).status == 400


def test_a_centre_that_carried_a_posting_cannot_be_deleted(ledger: LedgerWorld) -> None:
    center = ledger.cost_center("POSTED")
    manual = {
        "transaction_type": "adjustment",
        "category": "corrective",
        "amount": 10,
        "occurred_at": "2026-03-10T09:30",
        "description": "Nota fiscal corrigida",
        "cost_center": center["id"],
    }
    posted = ledger.ok(ledger.api.post("/api/trakledger/transactions/", manual), 201)
    # even once the posting itself is gone: the centre has carried postings
    assert ledger.api.delete(f"/api/trakledger/transactions/{posted['id']}/").status == 204

    assert_refused_and_kept(ledger, center["id"], "used")
    assert ledger.summary("2026-03-01", center["id"])["actual"] == 0


def test_envelopes_commitments_and_savings_mark_their_centre_in_use(ledger: LedgerWorld) -> None:
    enveloped, committed, saved = ledger.cost_center("E"), ledger.cost_center("C"), ledger.cost_center("S")
    ledger.envelope(ledger.plan()["id"], enveloped["id"])
    ledger.commitment(committed["id"], 100, submit=False)
    savings = {
        "event_type": "other",
        "occurred_at": "2026-03-10T10:00",
        "savings_amount": 10,
        "currency": "BRL",
        "confidence": "low",
        "cost_center_id": saved["id"],
    }
    ledger.ok(ledger.api.post("/api/trakledger/savings-events/", savings), 201)

    for center in (enveloped, committed, saved):
        assert (item := stored(ledger, center["id"])) is not None and item.in_use is True
        assert_refused_and_kept(ledger, center["id"], "used")


def test_a_posting_that_lands_between_the_delete_s_reads_and_its_write_refuses_it(
    ledger: LedgerWorld, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    center = ledger.cost_center("RACE")
    real_delete = LedgerRepository.delete_cost_center

    def posting_lands_first(self: LedgerRepository, item: CostCenterItem, parent_exists: bool) -> None:
        # the delete read the centre unused; the cost engine posts on it before the delete writes
        work_order = {"work_order_id": 1, "cost_center_id": center["id"], "completed_at": "2026-03-10T18:00:00Z"}
        work_order["third_party"] = [{"external_cost_id": 1, "amount": "300.00"}]
        post_work_order_costs(settings, "acme", work_order)
        real_delete(self, item, parent_exists)

    monkeypatch.setattr(LedgerRepository, "delete_cost_center", posting_lands_first)
    status, body = ledger.api.delete(f"{CC}{center['id']}/")
    monkeypatch.undo()

    assert status == 400 and "used" in body["detail"], body
    assert ledger.summary("2026-03-01", center["id"])["actual"] == 300  # still in its own subtree
    assert_refused_and_kept(ledger, center["id"], "used")


def test_a_child_created_between_the_delete_s_reads_and_its_write_refuses_it(
    ledger: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = ledger.cost_center("PARENT")
    real_delete = LedgerRepository.delete_cost_center

    def child_lands_first(self: LedgerRepository, item: CostCenterItem, parent_exists: bool) -> None:
        now = "2026-03-10T10:00:00.000Z"
        child = CostCenterItem(
            id=str(uuid.uuid4()), code="CHILD", name="Child", parent_id=item.id, created_at=now, updated_at=now
        )
        self.create_cost_center(child, item)
        real_delete(self, item, parent_exists)

    monkeypatch.setattr(LedgerRepository, "delete_cost_center", child_lands_first)
    status, body = ledger.api.delete(f"{CC}{parent['id']}/")
    monkeypatch.undo()

    assert status == 400 and "child" in body["detail"], body
    assert ledger.ok(ledger.api.get(f"{CC}{parent['id']}/"))["children_count"] == 1


def test_children_count_follows_creates_moves_and_deletes(ledger: LedgerWorld) -> None:
    first, second = ledger.cost_center("FIRST"), ledger.cost_center("SECOND")
    child = ledger.cost_center("CHILD", parent=first["id"])
    grandchild = ledger.cost_center("GRAND", parent=child["id"])

    def counts(*centers: dict[str, Any]) -> tuple[float, ...]:
        return tuple(getattr(stored(ledger, center["id"]), "children_count", None) or 0 for center in centers)

    assert counts(first, second, child) == (1, 0, 1)
    ledger.ok(ledger.api.patch(f"{CC}{child['id']}/", {"parent_id": second["id"]}))
    assert counts(first, second, child) == (0, 1, 1)
    # down its own chain: the parent it leaves (CHILD) is also an ancestor of the new one
    sibling = ledger.cost_center("SIBLING", parent=child["id"])
    ledger.ok(ledger.api.patch(f"{CC}{grandchild['id']}/", {"parent_id": sibling["id"]}))
    assert counts(second, child, sibling) == (1, 1, 1)
    ledger.ok(ledger.api.patch(f"{CC}{grandchild['id']}/", {"parent_id": None}))
    assert counts(second, child, sibling) == (1, 1, 0)

    assert ledger.api.delete(f"{CC}{first['id']}/").status == 204
    assert_refused_and_kept(ledger, second["id"], "child")
    assert ledger.api.delete(f"{CC}{sibling['id']}/").status == 204
    assert ledger.api.delete(f"{CC}{child['id']}/").status == 204
    assert counts(second) == (0,)
    assert ledger.api.delete(f"{CC}{second['id']}/").status == 204


def test_an_edit_read_before_a_posting_keeps_the_centre_in_use(ledger: LedgerWorld, settings) -> None:
    """Edits write only the editable attributes: an edit made from a read taken before the
    centre's first posting neither clears `in_use` nor is refused because of it."""
    center = ledger.cost_center("EDIT")
    repo = ledger.repo()
    before = repo.get_cost_center(center["id"])
    assert before is not None and before.in_use is None
    post_commitment(
        settings,
        "acme",
        {"commitment_id": "c-1", "cost_center_id": center["id"], "amount": "10.00", "budget_month": "2026-03-01"},
    )
    before.name = "Renamed"
    repo.save_cost_center(before, before.code, [], before.parent_id)

    after = stored(ledger, center["id"])
    assert after is not None and after.name == "Renamed" and after.in_use is True
    assert_refused_and_kept(ledger, center["id"], "used")
