"""The days without a peak window: weekends, and the national holidays of the tenant's holiday
calendar.

`aneel`: the holidays ANEEL's tariff rules exempt from the peak window (REN 414/2010 art. 2,
kept by REN 1000/2021): Carnival Tuesday, Good Friday, Corpus Christi and 1 Jan, 21 Apr, 1 May,
7 Sep, 12 Oct, 2 Nov, 15 Nov, 25 Dec. Other dates a distributor treats alike (20 Nov, a state
holiday) are the tenant's `extra_holidays`. `none`: weekends only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from dateutil.easter import easter

HolidayCalendar = Literal["aneel", "none"]
HOLIDAY_CALENDARS: tuple[HolidayCalendar, ...] = ("aneel", "none")
DEFAULT_HOLIDAY_CALENDAR: HolidayCalendar = "aneel"

_ANEEL_FIXED = ((1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (12, 25))
# days from Easter Sunday: Carnival Tuesday, Good Friday, Corpus Christi
_ANEEL_MOVABLE = (-47, -2, 60)


@lru_cache(maxsize=64)
def aneel_holidays(year: int) -> frozenset[date]:
    sunday = easter(year)
    return frozenset(
        [date(year, month, day) for month, day in _ANEEL_FIXED]
        + [sunday + timedelta(days=offset) for offset in _ANEEL_MOVABLE]
    )


def peak_free_holidays(calendar: str, year: int, extra: Iterable[str] = ()) -> frozenset[date]:
    """The holidays of `year` without a peak window: the calendar's and the tenant's own."""
    own = {day for day in (date.fromisoformat(raw) for raw in extra) if day.year == year}
    return (aneel_holidays(year) if calendar == "aneel" else frozenset()) | own
