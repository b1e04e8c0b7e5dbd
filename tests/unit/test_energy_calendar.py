"""The days without a peak window (ledger.energy_calendar) against dates read off the calendar."""

from __future__ import annotations

from datetime import date

import pytest

from climatrak.ledger.energy_calendar import aneel_holidays, peak_free_holidays

# Carnival Tuesday, Good Friday, Corpus Christi of three years (Easter: 5 Apr 2026, 28 Mar 2027,
# 16 Apr 2028)
MOVABLE = {
    2026: (date(2026, 2, 17), date(2026, 4, 3), date(2026, 6, 4)),
    2027: (date(2027, 2, 9), date(2027, 3, 26), date(2027, 5, 27)),
    2028: (date(2028, 2, 29), date(2028, 4, 14), date(2028, 6, 15)),
}
FIXED = ((1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (12, 25))


@pytest.mark.parametrize("year", sorted(MOVABLE))
def test_the_aneel_calendar_is_the_eight_fixed_holidays_and_three_easter_ones(year: int) -> None:
    expected = {date(year, month, day) for month, day in FIXED} | set(MOVABLE[year])
    assert aneel_holidays(year) == expected
    assert date(year, 11, 20) not in aneel_holidays(year)  # a tenant adds it if its distributor does


def test_the_tenants_own_dates_join_the_calendar_of_their_year_only() -> None:
    extra = ["2026-11-20", "2027-01-25"]
    assert peak_free_holidays("aneel", 2026, extra) == aneel_holidays(2026) | {date(2026, 11, 20)}
    assert peak_free_holidays("none", 2026, extra) == {date(2026, 11, 20)}
    assert peak_free_holidays("none", 2028, extra) == frozenset()
