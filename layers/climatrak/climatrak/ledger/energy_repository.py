"""Tenant-scoped data access for energy tariffs and tariff flags (layout: ledger/energy_items.py).

Tariff writes carry the set guard's condition (`seq` as read before the tariffs were listed and
validated), so two writers that both found "no overlap" cannot both commit: the second gets 409.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pynamodb.expressions.update import Action

from climatrak.core.errors import Conflict
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.energy_items import (
    ENERGY_FLAG_PREFIX,
    ENERGY_SETTINGS_SK,
    ENERGY_TARIFF_PREFIX,
    ENERGY_TARIFF_SET_SK,
    EnergyMonthFlagItem,
    EnergySettingsItem,
    EnergyTariffItem,
    EnergyTariffSetGuard,
)
from climatrak.ledger.store import STALE_WRITE, LedgerStore, TaggedWrite, TransactionRefused


class EnergyTariffRepository(LedgerStore):
    # ---- tariffs -------------------------------------------------------------------------------

    def tariff_set_seq(self) -> int | None:
        """Read BEFORE listing the tariffs a write validates against (see save_tariff)."""
        guard = self._get(EnergyTariffSetGuard, ENERGY_TARIFF_SET_SK)
        return None if guard is None else int(guard.seq)

    def list_tariffs(self) -> list[EnergyTariffItem]:
        return self._query(EnergyTariffItem, ENERGY_TARIFF_PREFIX)

    def get_tariff(self, tariff_id: str) -> EnergyTariffItem | None:
        return self._get(EnergyTariffItem, f"{ENERGY_TARIFF_PREFIX}{tariff_id}")

    def save_tariff(self, item: EnergyTariffItem, seq: int | None) -> None:
        """Create or write back a tariff (version-checked); 409 if any tariff changed since `seq`."""
        item.pk, item.sk = self.pk, f"{ENERGY_TARIFF_PREFIX}{item.id}"
        with self._refused_as_stale() as tw:
            tw.save(item, tag="item")
            self._move_set(tw, seq)

    def delete_tariff(self, item: EnergyTariffItem, seq: int | None) -> None:
        with self._refused_as_stale() as tw:
            tw.delete(item, tag="item")
            self._move_set(tw, seq)

    def _move_set(self, tw: TaggedWrite, seq: int | None) -> None:
        guard = EnergyTariffSetGuard(self.pk, ENERGY_TARIFF_SET_SK)
        condition = EnergyTariffSetGuard.pk.does_not_exist() if seq is None else EnergyTariffSetGuard.seq == seq
        tw.update(
            guard,
            actions=[EnergyTariffSetGuard.kind.set(EnergyTariffSetGuard), EnergyTariffSetGuard.seq.add(1)],
            condition=condition,
            tag="set",
        )

    @contextmanager
    def _refused_as_stale(self) -> Iterator[TaggedWrite]:
        """One transaction; a failed condition (the set guard, a version) is a 409."""
        try:
            with self.transaction() as tw:
                yield tw
        except TransactionRefused as refused:
            raise Conflict(STALE_WRITE) from refused

    # ---- tariff flags --------------------------------------------------------------------------

    def energy_settings(self) -> EnergySettingsItem | None:
        return self._get(EnergySettingsItem, ENERGY_SETTINGS_SK)

    def month_flags(self) -> list[EnergyMonthFlagItem]:
        return self._query(EnergyMonthFlagItem, ENERGY_FLAG_PREFIX)

    def month_flag(self, month: str) -> EnergyMonthFlagItem | None:
        return self._get(EnergyMonthFlagItem, f"{ENERGY_FLAG_PREFIX}{month[:7]}")

    def save_settings(
        self,
        flags: Mapping[str, str | None],
        settings: Mapping[str, str | list[str]],
        user_id: int | None,
    ) -> None:
        """Set (or, for None, remove) the flags of the months given and the settings given
        (`default_flag`, `holiday_calendar`, `extra_holidays`), in one transaction. These are
        settings, not money: the last writer wins."""
        now = utc_now_iso()
        with self._refused_as_stale() as tw:
            for month, flag in sorted(flags.items()):
                sk = f"{ENERGY_FLAG_PREFIX}{month}"
                if flag is None:
                    tw.delete(EnergyMonthFlagItem(self.pk, sk), tag=f"month:{month}")
                else:
                    item = EnergyMonthFlagItem(self.pk, sk, month=month, flag=flag, updated_at=now, updated_by=user_id)
                    tw.save(item, tag=f"month:{month}")
            if settings:
                attributes = EnergySettingsItem.get_attributes()
                actions: list[Action] = [
                    EnergySettingsItem.kind.set(EnergySettingsItem),
                    EnergySettingsItem.updated_at.set(now),
                    *(attributes[name].set(value) for name, value in sorted(settings.items())),
                ]
                if user_id is not None:
                    actions.append(EnergySettingsItem.updated_by.set(user_id))
                tw.update_attributes(EnergySettingsItem, self.pk, ENERGY_SETTINGS_SK, actions, tag="settings")
