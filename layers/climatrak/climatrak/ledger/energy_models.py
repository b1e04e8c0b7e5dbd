"""Energy tariffs and the month's tariff flag (the Django reference's `/trakledger/energy-tariffs/`,
API.md §5.8): request and response shapes and the flag vocabulary.

Rates are R$/kWh with six decimal places (the reference's DecimalField(max_digits=10,
decimal_places=6)), served as strings like DRF ("0.850000"). Times of day are local wall-clock
times in the tenant's time zone, served as "HH:MM".
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field

from climatrak.ledger.energy_calendar import HolidayCalendar
from climatrak.ledger.models import Currency, OptionalDate, RequestModel, blank_to_none

TariffFlag = Literal["verde", "amarela", "vermelha_1", "vermelha_2"]
TARIFF_FLAGS: tuple[str, ...] = ("verde", "amarela", "vermelha_1", "vermelha_2")
FLAG_LABELS = {
    "verde": "Verde (sem acréscimo)",
    "amarela": "Amarela",
    "vermelha_1": "Vermelha Patamar 1",
    "vermelha_2": "Vermelha Patamar 2",
}
DEFAULT_FLAG = "verde"
RATE_PLACES = Decimal("0.000001")

Rate = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=6, allow_inf_nan=False)]
OptionalRate = Annotated[Rate | None, BeforeValidator(blank_to_none)]
OptionalTime = Annotated[time | None, BeforeValidator(blank_to_none)]


class EnergyTariffCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    distributor: str = Field(min_length=1, max_length=100)
    tariff_class: str = Field(default="", max_length=50)
    description: str = ""
    rate_off_peak: Rate
    rate_peak: Rate
    rate_intermediate: OptionalRate = None
    peak_start: time
    peak_end: time
    intermediate_start: OptionalTime = None
    intermediate_end: OptionalTime = None
    flag_verde: Rate = Decimal(0)
    flag_amarela: Rate = Decimal(0)
    flag_vermelha_1: Rate = Decimal(0)
    flag_vermelha_2: Rate = Decimal(0)
    effective_from: date
    effective_to: OptionalDate = None
    currency: Currency = "BRL"
    is_active: bool = True


class EnergyTariffPatch(RequestModel):
    """Fields absent from the body are kept; the optional ones may be cleared with null."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    distributor: str | None = Field(default=None, min_length=1, max_length=100)
    tariff_class: str | None = Field(default=None, max_length=50)
    description: str | None = None
    rate_off_peak: Rate | None = None
    rate_peak: Rate | None = None
    rate_intermediate: OptionalRate = None
    peak_start: time | None = None
    peak_end: time | None = None
    intermediate_start: OptionalTime = None
    intermediate_end: OptionalTime = None
    flag_verde: Rate | None = None
    flag_amarela: Rate | None = None
    flag_vermelha_1: Rate | None = None
    flag_vermelha_2: Rate | None = None
    effective_from: date | None = None
    effective_to: OptionalDate = None
    currency: Currency | None = None
    is_active: bool | None = None


class EnergyTariff(BaseModel):
    """A tariff as the API serves it (and as pricing reads it: reports.energy.TariffRates)."""

    id: str
    name: str
    distributor: str
    tariff_class: str
    description: str
    rate_off_peak: Decimal
    rate_peak: Decimal
    rate_intermediate: Decimal | None
    peak_start: str
    peak_end: str
    intermediate_start: str | None
    intermediate_end: str | None
    flag_verde: Decimal
    flag_amarela: Decimal
    flag_vermelha_1: Decimal
    flag_vermelha_2: Decimal
    effective_from: str
    effective_to: str | None
    is_current: bool
    currency: str
    is_active: bool
    created_at: str
    updated_at: str
    created_by: int | None


class EnergySettings(BaseModel):
    """The tenant's tariff flag per business month (`YYYY-MM`); months not listed use
    `default_flag`. The days without a peak window: weekends, the national holidays of
    `holiday_calendar` (`aneel`: those ANEEL's tariff rules exempt; `none`) and
    `extra_holidays` (dates, YYYY-MM-DD)."""

    tariff_flags: dict[str, TariffFlag]
    default_flag: TariffFlag
    holiday_calendar: HolidayCalendar
    extra_holidays: list[str]


class EnergySettingsUpdate(RequestModel):
    """A partial update: the months given are set (null removes a month's flag);
    `extra_holidays`, when given, replaces the list."""

    tariff_flags: dict[str, TariffFlag | None] | None = None
    default_flag: TariffFlag | None = None
    holiday_calendar: HolidayCalendar | None = None
    extra_holidays: list[str] | None = None
