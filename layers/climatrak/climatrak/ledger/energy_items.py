"""PynamoDB items of energy tariffs and tariff flags in the Main table (pk `T#{tenant}`).

| entity | sk | notable attributes |
|---|---|---|
| energy tariff | `ENERGYTARIFF#{uuid}` | API fields; rates DecimalAttribute (6 places) |
| tariff set guard | `ENERGYTARIFFS` | `seq`: every tariff write checks and bumps it (no overlapping periods) |
| energy settings | `ENERGYSETTINGS` | `default_flag`, `holiday_calendar`, `extra_holidays` |
| month flag | `ENERGYFLAG#{YYYY-MM}` | `flag` |
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute

from climatrak.core.items import DecimalAttribute, MainItem
from climatrak.core.money import DEFAULT_CURRENCY

ENERGY_TARIFF_PREFIX = "ENERGYTARIFF#"
ENERGY_TARIFF_SET_SK = "ENERGYTARIFFS"
ENERGY_SETTINGS_SK = "ENERGYSETTINGS"
ENERGY_FLAG_PREFIX = "ENERGYFLAG#"


class EnergyTariffItem(MainItem, discriminator="energy_tariff"):
    """The tariff in force on a date: active, effective_from <= date <= effective_to (open-ended
    when null). Active tariffs of a tenant never overlap (the set guard makes it hold)."""

    id = UnicodeAttribute()
    name = UnicodeAttribute()
    distributor = UnicodeAttribute()
    tariff_class = UnicodeAttribute(default="")
    description = UnicodeAttribute(default="")
    rate_off_peak = DecimalAttribute()
    rate_peak = DecimalAttribute()
    rate_intermediate = DecimalAttribute(null=True)
    peak_start = UnicodeAttribute()  # HH:MM, local time
    peak_end = UnicodeAttribute()
    intermediate_start = UnicodeAttribute(null=True)
    intermediate_end = UnicodeAttribute(null=True)
    flag_verde = DecimalAttribute()
    flag_amarela = DecimalAttribute()
    flag_vermelha_1 = DecimalAttribute()
    flag_vermelha_2 = DecimalAttribute()
    effective_from = UnicodeAttribute()  # YYYY-MM-DD
    effective_to = UnicodeAttribute(null=True)
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
    is_active = BooleanAttribute(default=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = NumberAttribute(null=True)
    version = VersionAttribute()


class EnergyTariffSetGuard(MainItem, discriminator="energy_tariff_set"):
    """A counter every tariff write moves conditionally, so two writers that validated the same
    set of tariffs (no overlapping periods) cannot both commit."""

    seq = NumberAttribute(default=0)


class EnergySettingsItem(MainItem, discriminator="energy_settings"):
    default_flag = UnicodeAttribute(null=True)  # absent: DEFAULT_FLAG
    holiday_calendar = UnicodeAttribute(null=True)  # absent: DEFAULT_HOLIDAY_CALENDAR
    extra_holidays = ListAttribute(of=UnicodeAttribute, null=True)  # YYYY-MM-DD, sorted
    updated_at = UnicodeAttribute()
    updated_by = NumberAttribute(null=True)


class EnergyMonthFlagItem(MainItem, discriminator="energy_month_flag"):
    """One business month's tariff flag; absent means the default flag."""

    month = UnicodeAttribute()  # YYYY-MM
    flag = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    updated_by = NumberAttribute(null=True)
