"""Rate cards (API.md §5.2): the cost per hour of a role over a period, and the rule that finds
the card in force for a role on a date (the cost engine prices labour with it).

Periods of one role never overlap among active cards; every card write moves the rate-card set
guard conditionally, so two writers that validated the same set cannot both commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date

from climatrak.core.errors import DomainError
from climatrak.core.identity import Principal
from climatrak.core.money import money
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.items import RateCardItem
from climatrak.ledger.models import RateCard, RateCardCreate, RateCardPatch
from climatrak.ledger.parsing import (
    local_today,
    not_null,
    optional,
    ordered,
    parse_bool,
    parse_date,
    parse_decimal,
    require,
)
from climatrak.ledger.repository import LedgerRepository
from climatrak.ledger.store import LedgerStore

RATE_CARD_ORDERINGS = {"role", "role_code", "cost_per_hour", "effective_from", "effective_to", "created_at"}


def _in_force(card: RateCardItem, on: date) -> bool:
    iso = on.isoformat()
    return card.effective_from <= iso and (card.effective_to is None or card.effective_to >= iso)


def card_in_force(cards: Iterable[RateCardItem], role: str, role_code: str | None, on: date) -> RateCardItem | None:
    """The card that prices `role`'s hours on `on`, among `cards`.

    Active cards whose period contains `on`; matched on `role_code` when one is given (case-
    insensitive), otherwise, or when no card carries that code, on the role name (a card's
    name or code equal to `role`, case-insensitive). The latest `effective_from` wins; periods
    of one role never overlap (create/update refuse it), so the answer is unambiguous."""
    cards = [card for card in cards if card.is_active and _in_force(card, on)]
    matches: list[RateCardItem] = []
    if role_code and role_code.strip():
        code = role_code.strip().casefold()
        matches = [card for card in cards if (card.role_code or "").casefold() == code]
    if not matches and role and role.strip():
        name = role.strip().casefold()
        matches = [card for card in cards if card.role.casefold() == name or (card.role_code or "").casefold() == name]
    return max(matches, key=lambda card: (card.effective_from, card.created_at), default=None)


def rate_in_force(repo: LedgerStore, role: str, role_code: str | None, on: date) -> RateCardItem | None:
    """The tenant's card in force for a role on a date (`card_in_force` over its cards)."""
    return card_in_force(repo.list_rate_cards(), role, role_code, on)


def _same_role(a: RateCardItem, b: RateCardItem) -> bool:
    if a.role.strip().casefold() == b.role.strip().casefold():
        return True
    code_a, code_b = (a.role_code or "").strip().casefold(), (b.role_code or "").strip().casefold()
    return bool(code_a) and code_a == code_b


def _periods_overlap(a: RateCardItem, b: RateCardItem) -> bool:
    far = "9999-12-31"
    return a.effective_from <= (b.effective_to or far) and b.effective_from <= (a.effective_to or far)


def _check_rate_card(card: RateCardItem, others: Iterable[RateCardItem]) -> None:
    if card.effective_to is not None and card.effective_to < card.effective_from:
        raise DomainError("The end date must be on or after the start date.", field="effective_to")
    if not card.is_active:
        return
    for other in others:
        if other.id != card.id and other.is_active and _same_role(card, other) and _periods_overlap(card, other):
            until = other.effective_to or "open-ended"
            raise DomainError(
                f"Another active rate card for this role is in force from {other.effective_from} to {until}; "
                "periods of one role cannot overlap (end the other one first).",
                field="effective_from",
            )


def rate_card_view(card: RateCardItem, today: date) -> RateCard:
    return RateCard(
        id=card.id,
        role=card.role,
        role_code=card.role_code or "",
        description=card.description,
        cost_per_hour=money(card.cost_per_hour),
        currency=card.currency,
        effective_from=card.effective_from,
        effective_to=card.effective_to,
        is_current=bool(card.is_active) and _in_force(card, today),
        is_active=bool(card.is_active),
        created_at=card.created_at,
        updated_at=card.updated_at,
        created_by=int(card.created_by) if card.created_by is not None else None,
    )


def list_rate_cards(repo: LedgerRepository, filters: Mapping[str, str | None]) -> list[RateCard]:
    rows = repo.list_rate_cards()
    today = local_today(repo.timezone)
    role = filters.get("role")
    if role:
        rows = [row for row in rows if role.lower() in row.role.lower()]
    role_code = filters.get("role_code")
    if role_code:
        rows = [row for row in rows if (row.role_code or "").lower() == role_code.lower()]
    is_active = optional(parse_bool, filters.get("is_active"), "is_active")
    if is_active is not None:
        rows = [row for row in rows if bool(row.is_active) == is_active]
    is_current = optional(parse_bool, filters.get("is_current"), "is_current")
    if is_current is not None:
        rows = [row for row in rows if (bool(row.is_active) and _in_force(row, today)) == is_current]
    on = optional(parse_date, filters.get("effective_date"), "effective_date")
    if on is not None:
        rows = [row for row in rows if _in_force(row, on)]
    low = optional(parse_decimal, filters.get("min_cost"), "min_cost")
    if low is not None:
        rows = [row for row in rows if row.cost_per_hour >= low]
    high = optional(parse_decimal, filters.get("max_cost"), "max_cost")
    if high is not None:
        rows = [row for row in rows if row.cost_per_hour <= high]
    views = [rate_card_view(row, today) for row in rows]
    # Django's default: role, then the newest period first.
    views.sort(key=lambda view: view.effective_from, reverse=True)
    views.sort(key=lambda view: view.role.lower())
    ordering = filters.get("ordering")
    if ordering and ordering.lstrip("-") in RATE_CARD_ORDERINGS:
        views = ordered(views, ordering, "role", RATE_CARD_ORDERINGS)
    return views


def get_rate_card(repo: LedgerRepository, rate_card_id: str) -> RateCard:
    return rate_card_view(require(repo.get_rate_card(rate_card_id)), local_today(repo.timezone))


def create_rate_card(repo: LedgerRepository, caller: Principal, body: RateCardCreate) -> RateCard:
    seq = repo.rate_card_set_seq()
    now = utc_now_iso()
    card = RateCardItem(
        id=str(uuid.uuid4()),
        role=body.role.strip(),
        role_code=body.role_code.strip(),
        description=body.description,
        cost_per_hour=money(body.cost_per_hour),
        currency=body.currency,
        effective_from=body.effective_from.isoformat(),
        effective_to=body.effective_to.isoformat() if body.effective_to else None,
        is_active=body.is_active,
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    _check_rate_card(card, repo.list_rate_cards())
    repo.save_rate_card(card, seq)
    return rate_card_view(card, local_today(repo.timezone))


def update_rate_card(repo: LedgerRepository, rate_card_id: str, body: RateCardPatch) -> RateCard:
    seq = repo.rate_card_set_seq()
    card = require(repo.get_rate_card(rate_card_id))
    not_null(body, ("role", "role_code", "description", "cost_per_hour", "currency", "effective_from", "is_active"))
    changes = body.model_dump(exclude_unset=True)
    for name in ("role", "role_code"):
        if name in changes:
            setattr(card, name, changes[name].strip())
    if "description" in changes:
        card.description = changes["description"]
    if "cost_per_hour" in changes:
        card.cost_per_hour = money(changes["cost_per_hour"])
    if "currency" in changes:
        card.currency = changes["currency"]
    if "effective_from" in changes:
        card.effective_from = changes["effective_from"].isoformat()
    if "effective_to" in changes:
        card.effective_to = changes["effective_to"].isoformat() if changes["effective_to"] else None
    if "is_active" in changes:
        card.is_active = changes["is_active"]
    card.updated_at = utc_now_iso()
    _check_rate_card(card, repo.list_rate_cards())
    repo.save_rate_card(card, seq)
    return rate_card_view(card, local_today(repo.timezone))


def delete_rate_card(repo: LedgerRepository, rate_card_id: str) -> None:
    """Postings keep the rate they were priced with (in their meta), so a card is never
    referenced by id and can go."""
    seq = repo.rate_card_set_seq()
    repo.delete_rate_card(require(repo.get_rate_card(rate_card_id)), seq)
