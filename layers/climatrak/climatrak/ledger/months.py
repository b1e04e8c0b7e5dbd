"""Month locks (API.md §5.3 DJ `/budget-months/lock/`, issue 3 §3).

A locked month accepts no insert, update or delete of its transactions: every posting's
TransactWrite ConditionChecks the month item (`LEDGERMONTH#{YYYY-MM}`, absent = open), so a
lock that lands while a posting is in flight either precedes it (the posting is refused or, if
automatic, moves to the next open month) or follows it — never half of each. Corrections of a
locked month go in as adjustments in an open month.
"""

from __future__ import annotations

import re

from climatrak.core.errors import DomainError
from climatrak.ledger.posting_repository import MonthState, PostingRepository
from climatrak.ledger.transaction_models import MonthLockState

_MONTH_INPUT = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])(-01)?$")


def parse_month(raw: str | None, field: str = "month") -> str:
    """`YYYY-MM-01` (the contract) or `YYYY-MM` → `YYYY-MM`."""
    text = (raw or "").strip()
    match = _MONTH_INPUT.match(text)
    if not match:
        raise DomainError("Enter a valid month (YYYY-MM-01).", field=field)
    return f"{match.group(1)}-{match.group(2)}"


def month_view(month: str, state: MonthState | None) -> MonthLockState:
    return MonthLockState(
        month=f"{month}-01",
        is_locked=bool(state and state.locked),
        locked_at=state.locked_at if state and state.locked else None,
        locked_by=state.locked_by if state and state.locked else None,
        updated_at=state.updated_at if state else None,
    )


def lock_month(repo: PostingRepository, raw_month: str | None, user_id: int | None) -> MonthLockState:
    """Lock a month (idempotent: locking a locked month keeps it locked)."""
    month = parse_month(raw_month)
    return month_view(month, repo.set_month_lock(month, True, user_id or None))


def unlock_month(repo: PostingRepository, raw_month: str | None, user_id: int | None) -> MonthLockState:
    """Unlock a month (idempotent). The month item stays, unlocked: it also marks the month as
    one with postings for listings."""
    month = parse_month(raw_month)
    return month_view(month, repo.set_month_lock(month, False, user_id or None))


def locked_months(repo: PostingRepository) -> list[str]:
    """The tenant's locked months (`YYYY-MM`), oldest first."""
    return sorted(month for month, state in repo.month_states().items() if state.locked)
