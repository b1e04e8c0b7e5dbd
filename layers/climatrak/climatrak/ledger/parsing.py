"""Reading request values the one way every ledger rule does: path ids, references in bodies,
query filters (booleans, numbers, dates, choices), instants in the tenant's time zone, and the
DRF-style search and ordering of listed rows.

A malformed id in a path is simply not found (as DRF's router does); a malformed value in a
body or a filter is a 400 field error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from climatrak.core.errors import DomainError, NotFound
from climatrak.core.timeutil import iso_ms, to_ms, zone

T = TypeVar("T")

NOT_FOUND = "Not found."
BAD_DATE = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
BAD_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)


# ---- ids and references ----------------------------------------------------------------------


def require(item: T | None) -> T:
    if item is None:
        raise NotFound(NOT_FOUND)
    return item


def parse_id(raw: str) -> str:
    """Ledger ids are UUIDs; anything else is simply not found (as DRF's router does)."""
    try:
        return str(uuid.UUID(raw))
    except (ValueError, AttributeError, TypeError):
        raise NotFound(NOT_FOUND) from None


def reference(raw: str | None, field: str) -> str | None:
    """A UUID reference in a request body: a malformed one is a field error."""
    if raw is None:
        return None
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise DomainError(f'"{raw}" is not a valid UUID.', field=field) from None


def invalid_pk(raw: object, field: str) -> DomainError:
    return DomainError(f'Invalid pk "{raw}" - object does not exist.', field=field)


def not_null(patch: Any, names: Iterable[str]) -> None:
    """A PATCH body may omit these fields but not set them to null."""
    for name in names:
        if name in patch.model_fields_set and getattr(patch, name) is None:
            raise DomainError("This field may not be null.", field=name)


# ---- filter values -----------------------------------------------------------------------------


def optional(parse: Callable[[str, str], T], raw: str | None, field: str) -> T | None:
    """`parse(raw, field)`, or None for an absent or blank value."""
    if raw is None or not str(raw).strip():
        return None
    return parse(str(raw), field)


def parse_bool(raw: str, field: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise DomainError("Must be a valid boolean.", field=field)


def parse_int(raw: str, field: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise DomainError("Enter a whole number.", field=field) from None


def parse_decimal(raw: str, field: str) -> Decimal:
    """An exact number (a bound compared with amounts is not rounded)."""
    try:
        number = Decimal(raw.strip())
    except InvalidOperation:
        raise DomainError("Enter a number.", field=field) from None
    if not number.is_finite():
        raise DomainError("Enter a number.", field=field)
    return number


def parse_date(raw: str, field: str) -> date:
    try:
        return date.fromisoformat(raw.strip()[:10])
    except ValueError:
        raise DomainError(BAD_DATE, field=field) from None


def parse_choice(raw: str, choices: Iterable[str], field: str) -> str:
    if raw not in set(choices):
        raise DomainError(f"Select a valid choice. {raw} is not one of the available choices.", field=field)
    return raw


def parse_choices(raw: str, choices: Iterable[str], field: str) -> set[str]:
    """A comma-separated list of choices (`category__in=a,b`)."""
    allowed = set(choices)
    chosen = {part.strip() for part in raw.split(",") if part.strip()}
    for choice in sorted(chosen):
        parse_choice(choice, allowed, field)
    return chosen


# ---- instants and days in the tenant's time zone -------------------------------------------------


def iso(moment: datetime) -> str:
    """Storage form of an aware instant: UTC ISO with milliseconds and Z."""
    return iso_ms(to_ms(moment))


def parse_instant(raw: str, tz_name: str, field: str) -> str:
    """`YYYY-MM-DD` (local midnight), `YYYY-MM-DDTHH:mm[:ss]` (the tenant's local time, the
    finance forms' datetime-local) or full ISO with an offset or Z → storage form."""
    text = (raw or "").strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone(tz_name))
        return iso(moment.astimezone(UTC))
    except (ValueError, OverflowError):
        raise DomainError(BAD_DATETIME, field=field) from None


def local_today(tz_name: str) -> date:
    return datetime.now(zone(tz_name)).date()


def local_midnight_iso(day: date, tz_name: str) -> str:
    """The first instant of `day` in the tenant's time zone, in storage form."""
    return iso(datetime(day.year, day.month, day.day, tzinfo=zone(tz_name)))


def local_day_end_iso(day: date, tz_name: str) -> str | None:
    """The first instant after `day` (an exclusive upper bound); None after the last date."""
    if day == date.max:
        return None
    return local_midnight_iso(date.fromordinal(day.toordinal() + 1), tz_name)


# ---- listing: search and ordering ---------------------------------------------------------------


def contains(needle: str, *haystack: str | None) -> bool:
    needle = needle.lower()
    return any(needle in (text or "").lower() for text in haystack)


def sortable(value: Any) -> Any:
    """None sorts first; strings case-insensitively."""
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.lower())
    return (1, value)


def ordered(rows: list[T], ordering: str | None, default: str, allowed: set[str]) -> list[T]:
    """DRF-style `ordering=field|-field` over the rows' attributes; unknown fields fall back to
    the default."""
    chosen = ordering or default
    descending = chosen.startswith("-")
    name = chosen.lstrip("-")
    if name not in allowed:
        descending = default.startswith("-")
        name = default.lstrip("-")
    return sorted(rows, key=lambda row: sortable(getattr(row, name)), reverse=descending)
