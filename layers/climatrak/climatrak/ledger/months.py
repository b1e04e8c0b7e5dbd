"""Business months (`YYYY-MM` in the tenant's time zone) and their locks (API.md §5.3 DJ
`/budget-months/lock/`, issue 3 §3).

A locked month accepts no insert, update or delete of its transactions: every posting's
TransactWrite checks the month item (`LEDGERMONTH#{YYYY-MM}`, absent = open), so a lock that
lands while a posting is in flight either precedes it (the posting is refused or, if automatic,
moves to the next open month) or follows it — never half of each. Corrections of a locked
month go in as adjustments in an open month.
"""

from __future__ import annotations

import re
from datetime import date

from climatrak.core.errors import DomainError
from climatrak.core.timeutil import month_start, next_month
from climatrak.ledger.parsing import iso
from climatrak.ledger.store import LedgerStore, MonthState
from climatrak.ledger.transaction_models import MonthLockState

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_FIRST_DAY = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])(-01)?$")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


# ---- business months -----------------------------------------------------------------------


def parse_month(raw: str | None, field: str = "month", *, any_day: bool = False) -> str:
    """`YYYY-MM-01` (the contract) or `YYYY-MM` → `YYYY-MM`; with `any_day`, any valid date
    (`YYYY-MM-DD`, also at the start of a datetime) names its month."""
    text = str(raw or "").strip()
    if any_day:
        try:
            return date.fromisoformat(f"{text}-01" if len(text) == 7 else text[:10]).isoformat()[:7]
        except ValueError:
            pass
    elif match := _FIRST_DAY.match(text):
        return f"{match.group(1)}-{match.group(2)}"
    raise DomainError("Enter a valid month (YYYY-MM-01).", field=field)


def first_of_month(raw: str, field: str) -> str:
    """`YYYY-MM`, `YYYY-MM-DD` (any day) → `YYYY-MM-01`."""
    return f"{parse_month(raw, field, any_day=True)}-01"


def month_name(month: str) -> str:
    """`2026-03-01` → `March/2026` (the Django reference's `%B/%Y`)."""
    return f"{MONTH_NAMES[int(month[5:7]) - 1]}/{month[:4]}"


def months_between(start: str, end: str) -> list[str]:
    """Business months `YYYY-MM` from start to end, inclusive."""
    months, current = [], start[:7]
    while current <= end[:7]:
        months.append(current)
        current = next_month(current)
    return months


def month_start_iso(month: str, tz_name: str) -> str:
    """The first instant of business month `YYYY-MM`, in storage form."""
    return iso(month_start(month[:7], tz_name))


# ---- locks ---------------------------------------------------------------------------------


def month_view(month: str, state: MonthState | None) -> MonthLockState:
    locked = bool(state and state.locked)
    return MonthLockState(
        month=f"{month}-01",
        is_locked=locked,
        locked_at=state.locked_at if state and locked else None,
        locked_by=state.locked_by if state and locked else None,
        updated_at=state.updated_at if state else None,
    )


def lock_month(repo: LedgerStore, raw_month: str | None, user_id: int | None) -> MonthLockState:
    """Lock a month (idempotent: locking a locked month keeps it locked)."""
    month = parse_month(raw_month)
    return month_view(month, repo.set_month_lock(month, True, user_id or None))


def unlock_month(repo: LedgerStore, raw_month: str | None, user_id: int | None) -> MonthLockState:
    """Unlock a month (idempotent). The month item stays, unlocked: it also marks the month as
    one with postings for listings."""
    month = parse_month(raw_month)
    return month_view(month, repo.set_month_lock(month, False, user_id or None))
