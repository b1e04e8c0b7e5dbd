"""Energy tariffs (the Django reference's `/trakledger/energy-tariffs/`) and the month's tariff
flag (a tenant setting): the rules, over `EnergyTariffRepository`.

A tariff prices kWh by time of use: peak (weekdays, local time), an optional intermediate window
(it may enclose the peak, as the Tarifa Branca's does) and off-peak, plus a surcharge per kWh for
the month's flag (verde, amarela, vermelha_1, vermelha_2). Periods of active tariffs of a tenant
never overlap, so `tariff_in_force` is unambiguous: every tariff write checks and bumps the set
guard inside its transaction (as rate cards do), so two writers cannot both slip one in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from typing import Any

from climatrak.core.errors import DomainError
from climatrak.core.identity import Principal
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.energy_calendar import DEFAULT_HOLIDAY_CALENDAR, peak_free_holidays
from climatrak.ledger.energy_items import EnergyMonthFlagItem, EnergySettingsItem, EnergyTariffItem
from climatrak.ledger.energy_models import (
    DEFAULT_FLAG,
    RATE_PLACES,
    EnergySettings,
    EnergySettingsUpdate,
    EnergyTariff,
    EnergyTariffCreate,
    EnergyTariffPatch,
)
from climatrak.ledger.energy_repository import EnergyTariffRepository
from climatrak.ledger.months import parse_month
from climatrak.ledger.parsing import (
    contains,
    local_today,
    not_null,
    optional,
    ordered,
    parse_bool,
    parse_date,
    parse_decimal,
    require,
)
from climatrak.ledger.store import MAX_TRANSACTION_ITEMS

__all__ = [
    "EnergyTariff",
    "EnergyTariffRepository",
    "create_energy_tariff",
    "delete_energy_tariff",
    "energy_settings",
    "flag_for",
    "get_energy_tariff",
    "holidays_for",
    "list_energy_tariffs",
    "tariff_in_force",
    "update_energy_settings",
    "update_energy_tariff",
]

TARIFF_ORDERINGS = {"name", "distributor", "effective_from", "rate_off_peak", "rate_peak", "created_at"}
RATE_FIELDS = ("rate_off_peak", "rate_peak", "flag_verde", "flag_amarela", "flag_vermelha_1", "flag_vermelha_2")
# the rate filters of the reference (min_rate_off_peak=..., max_rate_peak=...)
RATE_FILTERS = {f"{bound}_{name}": (bound, name) for bound in ("min", "max") for name in ("rate_off_peak", "rate_peak")}
MAX_FLAG_MONTHS = MAX_TRANSACTION_ITEMS - 1  # one PUT is one transaction (plus the settings item)
MAX_EXTRA_HOLIDAYS = 366


# ---- the tariff in force ---------------------------------------------------------------------


def _in_force(item: EnergyTariffItem, on: str) -> bool:
    return item.effective_from <= on and (item.effective_to is None or item.effective_to >= on)


def tariff_in_force(repo: EnergyTariffRepository, day: date | str) -> EnergyTariff | None:
    """The active tariff whose period contains `day` (a business day, `YYYY-MM-DD`); None if none."""
    on = day.isoformat() if isinstance(day, date) else parse_date(day, "date").isoformat()
    found = [item for item in repo.list_tariffs() if item.is_active and _in_force(item, on)]
    best = max(found, key=lambda item: (item.effective_from, item.created_at), default=None)
    return tariff_view(best, local_today(repo.timezone)) if best is not None else None


# ---- views and checks --------------------------------------------------------------------------


def _rate(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(RATE_PLACES)


def _clock(moment: time | None) -> str | None:
    """Local time of day as served and stored: HH:MM (HH:MM:SS only when seconds are given)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=None).isoformat(timespec="seconds" if moment.second else "minutes")


def tariff_view(item: EnergyTariffItem, today: date) -> EnergyTariff:
    return EnergyTariff(
        id=item.id,
        name=item.name,
        distributor=item.distributor,
        tariff_class=item.tariff_class or "",
        description=item.description or "",
        rate_off_peak=Decimal(item.rate_off_peak).quantize(RATE_PLACES),
        rate_peak=Decimal(item.rate_peak).quantize(RATE_PLACES),
        rate_intermediate=_rate(item.rate_intermediate),
        peak_start=item.peak_start,
        peak_end=item.peak_end,
        intermediate_start=item.intermediate_start,
        intermediate_end=item.intermediate_end,
        flag_verde=Decimal(item.flag_verde).quantize(RATE_PLACES),
        flag_amarela=Decimal(item.flag_amarela).quantize(RATE_PLACES),
        flag_vermelha_1=Decimal(item.flag_vermelha_1).quantize(RATE_PLACES),
        flag_vermelha_2=Decimal(item.flag_vermelha_2).quantize(RATE_PLACES),
        effective_from=item.effective_from,
        effective_to=item.effective_to,
        is_current=bool(item.is_active) and _in_force(item, today.isoformat()),
        currency=item.currency,
        is_active=bool(item.is_active),
        created_at=item.created_at,
        updated_at=item.updated_at,
        created_by=int(item.created_by) if item.created_by is not None else None,
    )


def _periods_overlap(a: EnergyTariffItem, b: EnergyTariffItem) -> bool:
    far = "9999-12-31"
    return a.effective_from <= (b.effective_to or far) and b.effective_from <= (a.effective_to or far)


def _check(item: EnergyTariffItem, others: Iterable[EnergyTariffItem]) -> None:
    """The rules of one tariff, then: no other active tariff of the tenant overlaps its period."""
    if item.effective_to is not None and item.effective_to < item.effective_from:
        raise DomainError("The end date must be on or after the start date.", field="effective_to")
    if item.peak_start == item.peak_end:
        raise DomainError("The peak window must end at another time than it starts.", field="peak_end")
    window = (item.intermediate_start, item.intermediate_end)
    if item.rate_intermediate is not None:
        for name, value in zip(("intermediate_start", "intermediate_end"), window, strict=True):
            if value is None:
                raise DomainError("Required when the tariff has an intermediate rate.", field=name)
        if item.intermediate_start == item.intermediate_end:
            raise DomainError("The intermediate window must end at another time than it starts.", "intermediate_end")
    elif any(value is not None for value in window):
        raise DomainError("An intermediate window needs an intermediate rate.", field="rate_intermediate")
    if not item.is_active:
        return
    for other in others:
        if other.id != item.id and other.is_active and _periods_overlap(item, other):
            until = other.effective_to or "open-ended"
            raise DomainError(
                f"The tariff {other.name!r} is in force from {other.effective_from} to {until}; "
                "tariff periods cannot overlap (end the other one first).",
                field="effective_from",
            )


# ---- CRUD --------------------------------------------------------------------------------------


def list_energy_tariffs(repo: EnergyTariffRepository, filters: Mapping[str, str | None]) -> list[EnergyTariff]:
    """The reference's filters: name/distributor/tariff_class (contains), is_active, is_current,
    effective_date, min/max rates, search, ordering (default: newest period first)."""
    today = local_today(repo.timezone)
    rows = repo.list_tariffs()
    for name in ("name", "distributor", "tariff_class"):
        if needle := filters.get(name):
            rows = [row for row in rows if contains(needle, getattr(row, name))]
    if search := filters.get("search"):
        rows = [row for row in rows if contains(search, row.name, row.distributor, row.tariff_class, row.description)]
    is_active = optional(parse_bool, filters.get("is_active"), "is_active")
    if is_active is not None:
        rows = [row for row in rows if bool(row.is_active) == is_active]
    on = optional(parse_date, filters.get("effective_date"), "effective_date")
    if on is not None:
        rows = [row for row in rows if _in_force(row, on.isoformat())]
    for key, (bound, name) in RATE_FILTERS.items():
        limit = optional(parse_decimal, filters.get(key), key)
        if limit is not None:
            rows = [
                row for row in rows if (getattr(row, name) >= limit if bound == "min" else getattr(row, name) <= limit)
            ]
    views = [tariff_view(row, today) for row in rows]
    is_current = optional(parse_bool, filters.get("is_current"), "is_current")
    if is_current is not None:
        views = [view for view in views if view.is_current == is_current]
    views.sort(key=lambda view: view.distributor.lower())
    views.sort(key=lambda view: view.effective_from, reverse=True)
    ordering = filters.get("ordering")
    if ordering and ordering.lstrip("-") in TARIFF_ORDERINGS:
        views = ordered(views, ordering, "-effective_from", TARIFF_ORDERINGS)
    return views


def get_energy_tariff(repo: EnergyTariffRepository, tariff_id: str) -> EnergyTariff:
    return tariff_view(require(repo.get_tariff(tariff_id)), local_today(repo.timezone))


def create_energy_tariff(repo: EnergyTariffRepository, caller: Principal, body: EnergyTariffCreate) -> EnergyTariff:
    seq = repo.tariff_set_seq()
    now = utc_now_iso()
    item = EnergyTariffItem(
        id=str(uuid.uuid4()),
        created_at=now,
        updated_at=now,
        created_by=caller.user_id or None,
    )
    _assign(item, body.model_dump())
    _check(item, repo.list_tariffs())
    repo.save_tariff(item, seq)
    return tariff_view(item, local_today(repo.timezone))


def update_energy_tariff(repo: EnergyTariffRepository, tariff_id: str, body: EnergyTariffPatch) -> EnergyTariff:
    seq = repo.tariff_set_seq()
    item = require(repo.get_tariff(tariff_id))
    required = ("name", "distributor", "tariff_class", "description", "rate_off_peak", "rate_peak", "peak_start")
    not_null(body, (*required, "peak_end", "flag_verde", "flag_amarela", "flag_vermelha_1", "flag_vermelha_2"))
    not_null(body, ("effective_from", "currency", "is_active"))
    _assign(item, body.model_dump(exclude_unset=True))
    item.updated_at = utc_now_iso()
    _check(item, repo.list_tariffs())
    repo.save_tariff(item, seq)
    return tariff_view(item, local_today(repo.timezone))


def delete_energy_tariff(repo: EnergyTariffRepository, tariff_id: str) -> None:
    """Postings keep the tariff they were priced with (its id, name and rates in their meta),
    so a tariff can go."""
    seq = repo.tariff_set_seq()
    repo.delete_tariff(require(repo.get_tariff(tariff_id)), seq)


def _assign(item: EnergyTariffItem, changes: Mapping[str, Any]) -> None:
    """Request values onto the stored item: texts trimmed, rates to 6 places, times HH:MM, dates ISO."""
    for name, value in changes.items():
        setattr(item, name, _stored(name, value))


def _stored(name: str, value: Any) -> Any:
    if name in ("name", "distributor", "tariff_class"):
        return value.strip()
    if name in RATE_FIELDS or name == "rate_intermediate":
        return _rate(value)
    if name in ("peak_start", "peak_end", "intermediate_start", "intermediate_end"):
        return _clock(value)
    if name in ("effective_from", "effective_to"):
        return value.isoformat() if value is not None else None
    return value


# ---- the month's tariff flag -------------------------------------------------------------------


def energy_settings(repo: EnergyTariffRepository) -> EnergySettings:
    stored = repo.energy_settings()
    return EnergySettings.model_validate(
        {
            "tariff_flags": {item.month: item.flag for item in repo.month_flags()},
            "default_flag": (stored.default_flag if stored is not None else None) or DEFAULT_FLAG,
            "holiday_calendar": (stored.holiday_calendar if stored is not None else None) or DEFAULT_HOLIDAY_CALENDAR,
            "extra_holidays": sorted(str(day) for day in stored.extra_holidays or []) if stored is not None else [],
        }
    )


def update_energy_settings(
    repo: EnergyTariffRepository, caller: Principal, body: EnergySettingsUpdate
) -> EnergySettings:
    """PUT with a partial map: the months given are set (null removes one), the others kept;
    the other fields given replace theirs."""
    flags: dict[str, str | None] = {}
    for raw, flag in (body.tariff_flags or {}).items():
        flags[parse_month(raw, "tariff_flags", any_day=False)] = flag
    if len(flags) > MAX_FLAG_MONTHS:
        raise DomainError(f"Set at most {MAX_FLAG_MONTHS} months at a time.", field="tariff_flags")
    settings: dict[str, str | list[str]] = {}
    if body.default_flag is not None:
        settings["default_flag"] = body.default_flag
    if body.holiday_calendar is not None:
        settings["holiday_calendar"] = body.holiday_calendar
    if body.extra_holidays is not None:
        settings["extra_holidays"] = _holidays(body.extra_holidays)
    if flags or settings:
        repo.save_settings(flags, settings, caller.user_id or None)
    return energy_settings(repo)


def _holidays(raw: list[str]) -> list[str]:
    if len(raw) > MAX_EXTRA_HOLIDAYS:
        raise DomainError(f"List at most {MAX_EXTRA_HOLIDAYS} extra holidays.", field="extra_holidays")
    days = set()
    for value in raw:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
        if day is None or day.isoformat() != value:
            raise DomainError(f"'{value}' is not a date (YYYY-MM-DD).", field="extra_holidays")
        days.add(value)
    return sorted(days)


def flag_for(repo: EnergyTariffRepository, month: str) -> str:
    """The tariff flag of business month `YYYY-MM` (a date in it works too): its own, else the
    tenant's default, else verde."""
    found = repo.month_flag(parse_month(month, "month", any_day=True))
    return _flag(found, repo.energy_settings() if found is None else None)


def holidays_for(repo: EnergyTariffRepository, day: str) -> frozenset[date]:
    """The holidays of `day`'s year without a peak window (the tenant's calendar and its own)."""
    return _peak_free(repo.energy_settings(), day)


@dataclass(frozen=True)
class EnergyTerms:
    """What prices a business day's energy."""

    tariff: EnergyTariff | None  # in force that day
    flag: str  # the month's
    holidays: frozenset[date]  # of the day's year, without a peak window


def energy_terms(repo: EnergyTariffRepository, day: str) -> EnergyTerms:
    """`tariff_in_force`, `flag_for` and `holidays_for` of `day`, the settings item read once."""
    stored = repo.energy_settings()
    flag = _flag(repo.month_flag(parse_month(day, "month", any_day=True)), stored)
    return EnergyTerms(tariff_in_force(repo, day), flag, _peak_free(stored, day))


def _flag(month_flag: EnergyMonthFlagItem | None, stored: EnergySettingsItem | None) -> str:
    if month_flag is not None:
        return str(month_flag.flag)
    return str(stored.default_flag) if stored is not None and stored.default_flag else DEFAULT_FLAG


def _peak_free(stored: EnergySettingsItem | None, day: str) -> frozenset[date]:
    calendar = (stored.holiday_calendar if stored is not None else None) or DEFAULT_HOLIDAY_CALENDAR
    extra = [str(holiday) for holiday in stored.extra_holidays or []] if stored is not None else []
    return peak_free_holidays(calendar, date.fromisoformat(day[:10]).year, extra)
