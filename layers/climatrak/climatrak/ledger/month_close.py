"""Closing months automatically: a tenant setting `auto_lock_days` (None: off) makes the daily
report lock the previous business month once that many days have passed since it ended, so its
transactions become immutable without anyone remembering to lock it."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field
from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from climatrak.core.items import MainItem
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.models import RequestModel
from climatrak.ledger.store import LedgerStore

SETTINGS_SK = "LEDGERSETTINGS"
MAX_AUTO_LOCK_DAYS = 90


class LedgerSettingsItem(MainItem, discriminator="ledger_settings"):
    """pk `T#{t}`, sk `LEDGERSETTINGS`."""

    auto_lock_days = NumberAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)


class LedgerSettings(RequestModel):
    """`GET/PUT /api/trakledger/settings/`; `auto_lock_days` null turns automatic locking off."""

    auto_lock_days: int | None = Field(default=None, ge=1, le=MAX_AUTO_LOCK_DAYS)


def get_settings(repo: LedgerStore) -> LedgerSettings:
    try:
        item = LedgerSettingsItem.get(repo.pk, SETTINGS_SK, consistent_read=True)
    except LedgerSettingsItem.DoesNotExist:
        return LedgerSettings()
    days = item.auto_lock_days
    return LedgerSettings(auto_lock_days=int(days) if days is not None else None)


def update_settings(repo: LedgerStore, body: LedgerSettings) -> LedgerSettings:
    LedgerSettingsItem(repo.pk, SETTINGS_SK, auto_lock_days=body.auto_lock_days, updated_at=utc_now_iso()).save()
    return body


def lock_due_month(repo: LedgerStore, day: str) -> str | None:
    """Lock the month before `day`'s (a business day) when the tenant's `auto_lock_days` have
    passed since it ended and it is still open; returns the month locked, if any."""
    days = get_settings(repo).auto_lock_days
    if days is None:
        return None
    first_of_month = date.fromisoformat(day).replace(day=1)
    previous_end = first_of_month - timedelta(days=1)
    if date.fromisoformat(day) < previous_end + timedelta(days=days):
        return None
    month = previous_end.isoformat()[:7]
    state = repo.month_states().get(month)
    if state is not None and state.locked:
        return None
    repo.set_month_lock(month, True, None)
    return month
