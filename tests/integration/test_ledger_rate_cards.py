"""Rate cards (API.md §5.2): periods of one role never overlap, so the rate in force on a date
is unambiguous; `rate_in_force` is the cost engine's lookup."""

from __future__ import annotations

from datetime import date

import pytest

from climatrak.core.errors import Conflict
from climatrak.ledger.rate_cards import rate_in_force
from tests.integration.ledger_world import LedgerWorld, ledger_fixture  # noqa: F401

RC = "/api/trakledger/rate-cards/"


def test_a_rate_card_as_the_frontend_creates_it(ledger: LedgerWorld) -> None:
    status, card = ledger.api.post(RC, {"role": "Técnico HVAC", "cost_per_hour": 85, "effective_from": "2025-01-01"})
    assert status == 201
    assert card["cost_per_hour"] == "85.00" and card["currency"] == "BRL"
    assert card["effective_from"] == "2025-01-01" and card["effective_to"] is None
    assert card["is_current"] is True and card["is_active"] is True and card["role_code"] == ""
    assert ledger.ok(ledger.api.get(f"{RC}{card['id']}/")) == card


def test_periods_of_one_role_cannot_overlap(ledger: LedgerWorld) -> None:
    first = ledger.rate_card("Technician", "80.00", "2025-01-01", role_code="TEC")
    status, body = ledger.api.post(RC, {"role": "technician", "cost_per_hour": 90, "effective_from": "2026-01-01"})
    assert status == 400 and "effective_from" in body
    # the same code under another name is the same role
    same_code = {"role": "Tech", "role_code": "tec", "cost_per_hour": 90, "effective_from": "2026-01-01"}
    assert ledger.api.post(RC, same_code).status == 400
    # another role is free
    assert (
        ledger.api.post(RC, {"role": "Electrician", "cost_per_hour": 90, "effective_from": "2026-01-01"}).status == 201
    )

    # ending the first period makes room for the next one
    ledger.ok(ledger.api.patch(f"{RC}{first['id']}/", {"effective_to": "2025-12-31"}))
    second = ledger.rate_card("Technician", "90.00", "2026-01-01", role_code="TEC")
    assert second["cost_per_hour"] == "90.00"
    # ... and moving it back over the second is refused
    assert ledger.api.patch(f"{RC}{first['id']}/", {"effective_to": None}).status == 400


def test_inactive_cards_do_not_count_as_overlapping(ledger: LedgerWorld) -> None:
    old = ledger.rate_card("Helper", "40.00", "2025-01-01")
    ledger.ok(ledger.api.patch(f"{RC}{old['id']}/", {"is_active": False}))
    assert ledger.rate_card("Helper", "45.00", "2025-06-01")["is_current"] is True
    assert ledger.api.patch(f"{RC}{old['id']}/", {"is_active": True}).status == 400


def test_an_end_before_the_start_is_refused(ledger: LedgerWorld) -> None:
    body = {"role": "X", "cost_per_hour": 1, "effective_from": "2026-02-01", "effective_to": "2026-01-31"}
    status, errors = ledger.api.post(RC, body)
    assert status == 400 and "effective_to" in errors
    assert ledger.api.post(RC, {"role": "X", "cost_per_hour": -1, "effective_from": "2026-02-01"}).status == 400


def test_list_filters(ledger: LedgerWorld) -> None:
    ledger.rate_card("Technician", "80.00", "2020-01-01", role_code="TEC", effective_to="2020-12-31")
    ledger.rate_card("Technician", "85.00", "2021-01-01", role_code="TEC")
    ledger.rate_card("Engineer", "150.00", "2021-01-01", is_active=False)

    def rates(**query: str) -> list[str]:
        return [row["cost_per_hour"] for row in ledger.ok(ledger.api.get(RC, query=query))["results"]]

    assert rates() == ["150.00", "85.00", "80.00"]  # role, then the newest period first
    assert rates(role="tech") == ["85.00", "80.00"]
    assert rates(role_code="tec") == ["85.00", "80.00"]
    assert rates(is_current="true") == ["85.00"]
    assert rates(is_active="false") == ["150.00"]
    assert rates(effective_date="2020-06-15") == ["80.00"]
    assert rates(min_cost="81", max_cost="149") == ["85.00"]


def test_rate_in_force_matches_code_then_role_on_the_date(ledger: LedgerWorld) -> None:
    ledger.rate_card("Refrigeration technician", "95.00", "2025-01-01", role_code="TEC-REF", effective_to="2025-12-31")
    ledger.rate_card("Refrigeration technician", "99.00", "2026-01-01", role_code="TEC-REF")
    ledger.rate_card("technician", "85.00", "2025-01-01", role_code="TEC")
    ledger.rate_card("Apprentice", "30.00", "2025-01-01", is_active=False)
    repo = ledger.repo()

    def rate(role: str, code: str | None, on: str) -> str | None:
        card = rate_in_force(repo, role, code, date.fromisoformat(on))
        return None if card is None else str(card.cost_per_hour)

    assert rate("anything", "tec-ref", "2025-07-01") == "95.00"
    assert rate("anything", "TEC-REF", "2026-07-01") == "99.00"
    assert rate("Technician", None, "2026-07-01") == "85.00"  # by name, case-insensitive
    assert rate("TEC", None, "2026-07-01") == "85.00"  # a role given as a code
    assert rate("technician", "UNKNOWN", "2026-07-01") == "85.00"  # no card with that code: by name
    assert rate("technician", None, "2024-12-31") is None  # before any period
    assert rate("Apprentice", None, "2026-01-01") is None  # inactive
    assert rate("Plumber", None, "2026-01-01") is None


def test_a_write_validated_against_a_stale_set_of_cards_is_409(ledger: LedgerWorld) -> None:
    repo = ledger.repo()
    seq = repo.rate_card_set_seq()
    card = repo.get_rate_card(ledger.rate_card("A", "1.00", "2026-01-01")["id"])
    assert card is not None
    # `seq` was read before that card was written: validating against it is stale now.
    card.cost_per_hour = card.cost_per_hour + 1
    with pytest.raises(Conflict):
        repo.save_rate_card(card, seq)


def test_delete(ledger: LedgerWorld) -> None:
    card = ledger.rate_card("A", "1.00", "2026-01-01")
    assert ledger.api.delete(f"{RC}{card['id']}/").status == 204
    assert ledger.api.get(f"{RC}{card['id']}/").status == 404
    assert ledger.rate_card("A", "2.00", "2026-01-01")["cost_per_hour"] == "2.00"
