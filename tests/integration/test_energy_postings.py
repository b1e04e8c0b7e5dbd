"""Energy cost into the ledger (ledger/energy_postings.py): one posting per asset and day, type and
category `energy`, key `energy:{asset}:{day}`; a rerun never posts twice (one that computed
another amount posts the difference as a revision), a locked month moves the posting, the budget
summary's actual grows by the amount."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from climatrak.core.identity import Principal, Role
from climatrak.ledger.energy_models import EnergySettingsUpdate, EnergyTariff, EnergyTariffCreate
from climatrak.ledger.energy_postings import post_energy
from climatrak.ledger.energy_tariffs import (
    EnergyTariffRepository,
    create_energy_tariff,
    flag_for,
    tariff_in_force,
    update_energy_settings,
)
from climatrak.registry.logic import create_tenant
from climatrak.reports.energy import EnergyCost, EnergyDay, kwh_from_power, price, split_by_time_of_use
from tests.integration.ledger_world import LedgerWorld, ledger_fixture  # noqa: F401

TZ = "America/Sao_Paulo"
DAY = "2026-11-25"  # a Wednesday
MINUTE = 60_000
TX = "/api/trakledger/transactions/"


@dataclass
class World:
    ledger: LedgerWorld
    chillers: str  # CH-001's own cost centre
    plant: str  # the site's cost centre (AHU-002 has none of its own)
    assets: dict[str, int]
    tariff: EnergyTariff

    def day_energy(self, day: str = DAY, base_kw: float = 80.0) -> tuple[EnergyDay, EnergyCost, str]:
        """A day of one-minute power readings, split and priced as the daily job does."""
        tz = ZoneInfo(TZ)
        start = int(datetime.combine(date.fromisoformat(day), datetime.min.time(), tz).timestamp() * 1000)
        ts = start + np.arange(1440, dtype=np.int64) * MINUTE
        kw = base_kw + 10 * np.sin(np.arange(1440) / 90)
        tariffs = EnergyTariffRepository(self.ledger.tenant, self.ledger.settings)
        tariff = tariff_in_force(tariffs, day)
        assert tariff is not None
        flag = flag_for(tariffs, day)
        window = (tariff.intermediate_start, tariff.intermediate_end) if tariff.intermediate_start else None
        energy = split_by_time_of_use(
            kwh_from_power(ts, kw, 15 * MINUTE), TZ, day, tariff.peak_start, tariff.peak_end, window
        )
        return energy, price(energy, tariff, flag), flag

    def post(self, asset: str, day: str = DAY, **kwargs: Any) -> Any:
        energy, cost, flag = self.day_energy(day, **kwargs)
        return post_energy(
            self.ledger.settings, self.ledger.tenant, self.assets[asset], day, energy, cost, self.tariff, flag
        )


@pytest.fixture
def world(ledger: LedgerWorld) -> World:
    api = ledger.api
    chillers = ledger.cost_center("CHILLERS")["id"]
    plant = ledger.cost_center("PLANT")["id"]
    site = ledger.ok(api.post("/api/sites/", {"name": "Plant 1", "cost_center": plant}), 201)["id"]
    bare_site = ledger.ok(api.post("/api/sites/", {"name": "Annex"}), 201)["id"]
    assets = {}
    for tag, on_site, center in (("CH-001", site, chillers), ("AHU-002", site, None), ("SPLIT-003", bare_site, None)):
        body = {"tag": tag, "name": tag, "site": on_site, "asset_type": "CHILLER", "cost_center": center}
        assets[tag] = ledger.ok(api.post("/api/assets/", body), 201)["id"]
    owner = Principal(tenant=ledger.tenant, role=Role.OWNER, user_id=1, email="owner@example.com", subject="s")
    tariffs = EnergyTariffRepository(ledger.tenant, ledger.settings)
    body = EnergyTariffCreate.model_validate(
        {
            "name": "CEMIG Branca",
            "distributor": "CEMIG",
            "rate_off_peak": "0.62",
            "rate_peak": "1.48",
            "rate_intermediate": "0.97",
            "peak_start": "18:00",
            "peak_end": "21:00",
            "intermediate_start": "17:00",
            "intermediate_end": "22:00",
            "flag_amarela": "0.01885",
            "effective_from": "2026-01-01",
        }
    )
    tariff = create_energy_tariff(tariffs, owner, body)
    update_energy_settings(tariffs, owner, EnergySettingsUpdate(tariff_flags={"2026-11": "amarela"}))
    return World(ledger, chillers, plant, assets, tariff)


def test_one_posting_per_asset_and_day_with_the_kwh_and_the_tariff_in_meta(world: World) -> None:
    energy, cost, flag = world.day_energy()
    assert flag == "amarela" and energy.kwh_peak > 0 and energy.kwh_intermediate > 0
    posted = world.post("CH-001")
    assert posted.created
    row = world.ledger.ok(world.ledger.api.get(f"{TX}{posted.transaction.id}/"))
    assert (row["transaction_type"], row["category"], row["transaction_type_display"]) == (
        "energy",
        "energy",
        "Energia",
    )
    assert Decimal(row["amount"]) == cost.amount and row["currency"] == "BRL"
    assert row["idempotency_key"] == f"energy:{world.assets['CH-001']}:{DAY}"
    assert row["occurred_at"] == "2026-11-25T15:00:00.000Z"  # local noon (UTC-3)
    assert row["asset_id"] == world.assets["CH-001"] and row["cost_center_id"] == world.chillers
    assert row["is_editable"] is False
    meta = row["meta"]
    assert meta["source"] == "energy_engine" and meta["date"] == DAY and meta["flag"] == "amarela"
    assert (meta["tariff_id"], meta["tariff_name"]) == (world.tariff.id, "CEMIG Branca")
    assert [Decimal(meta[name]) for name in ("kwh_total", "kwh_peak", "kwh_off_peak", "kwh_intermediate")] == [
        energy.kwh_total,
        energy.kwh_peak,
        energy.kwh_off_peak,
        energy.kwh_intermediate,
    ]
    assert Decimal(meta["breakdown"]["exact_amount"]).quantize(Decimal("0.01")) == cost.amount


def test_posting_a_day_twice_posts_once(world: World) -> None:
    first = world.post("CH-001")
    month_before = world.ledger.totals("2026-11")
    again = world.post("CH-001")  # a rerun that computed the same
    assert not again.created and again.transaction.id == first.transaction.id
    assert len(world.ledger.items("ledger_transaction")) == 1
    assert len(world.ledger.events("cost.entry_posted")) == 1
    assert world.ledger.totals("2026-11") == month_before
    # another day, or another asset, is another posting
    assert world.post("CH-001", day="2026-11-26").created
    assert world.post("AHU-002").created
    assert len(world.ledger.items("ledger_transaction")) == 3


def test_a_rerun_that_computes_another_amount_posts_the_difference_as_a_revision(world: World) -> None:
    first = world.post("CH-001")
    higher = world.day_energy(base_kw=95.0)[1].amount  # late readings raised the day's kWh
    revised = world.post("CH-001", base_kw=95.0)
    assert revised.created and revised.transaction.id != first.transaction.id
    tx = revised.transaction
    assert (tx.transaction_type, tx.category, tx.idempotency_key) == (
        "adjustment",
        "energy",
        f"energy:{world.assets['CH-001']}:{DAY}:rev:1",
    )
    assert tx.amount == higher - first.transaction.amount and tx.cost_center_id == world.chillers
    meta = tx.meta_dict()
    assert meta["revises"] == first.transaction.id and meta["revision"] == 1
    assert Decimal(meta["amount_before"]) == first.transaction.amount
    assert world.ledger.totals("2026-11")["actual"] == higher
    # the same again: nothing; back to the first figure: a second revision, negative
    assert not world.post("CH-001", base_kw=95.0).created
    back = world.post("CH-001")
    assert back.created and back.transaction.amount == first.transaction.amount - higher
    assert back.transaction.idempotency_key.endswith(":rev:2")
    assert world.ledger.totals("2026-11")["actual"] == first.transaction.amount
    assert len(world.ledger.events("cost.entry_posted")) == 3


def test_a_revision_of_a_locked_month_goes_to_the_next_open_one(world: World) -> None:
    first = world.post("CH-001")
    world.ledger.lock("2026-11")
    revised = world.post("CH-001", base_kw=95.0)
    assert revised.created and revised.transaction.month == "2026-12"
    assert world.ledger.totals("2026-11")["actual"] == first.transaction.amount
    assert world.ledger.totals("2026-12")["actual"] == revised.transaction.amount


def test_the_cost_centre_is_the_assets_else_its_sites_else_the_default(world: World) -> None:
    centres = {tag: world.post(tag).transaction.cost_center_id for tag in ("CH-001", "AHU-002", "SPLIT-003")}
    assert centres == {
        "CH-001": world.chillers,
        "AHU-002": world.plant,
        "SPLIT-003": world.ledger.default_cost_center,
    }


def test_a_locked_month_moves_the_posting_to_the_next_open_one(world: World) -> None:
    world.ledger.lock("2026-11")
    posted = world.post("CH-001")
    assert posted.created and posted.transaction.month == "2026-12"
    meta = posted.transaction.meta_dict()
    assert meta["moved_from_locked_month"] == "2026-11" and meta["original_occurred_at"] == "2026-11-25T15:00:00.000Z"
    assert world.ledger.totals("2026-11")["actual"] == 0
    assert world.ledger.totals("2026-12")["actual"] == posted.transaction.amount
    # the rerun finds it where it went
    assert world.post("CH-001").transaction.id == posted.transaction.id


def test_the_budget_summary_actual_grows_by_the_amount(world: World) -> None:
    plan = world.ledger.plan()["id"]
    world.ledger.envelope(plan, world.chillers, "energy", months={"2026-11-01": "5000.00"})
    before = world.ledger.summary("2026-11-01")
    posted = world.post("CH-001")
    after = world.ledger.summary("2026-11-01")
    amount = float(posted.transaction.amount)
    assert after["actual"] == pytest.approx(before["actual"] + amount)
    assert after["variance"] == pytest.approx(before["variance"] - amount)
    energy_row = next(row for row in after["by_category"] if row["category"] == "energy")
    assert energy_row["actual"] == pytest.approx(amount) and energy_row["planned"] == 5000
    by_centre = world.ledger.summary("2026-11-01", cost_center=world.chillers)
    assert by_centre["actual"] == pytest.approx(amount)


def test_noon_keeps_the_business_month_of_the_day_far_from_utc(world: World) -> None:
    """Auckland is UTC+13 in November: midnight of 1 December is still 30 November in UTC."""
    ledger = world.ledger
    create_tenant(ledger.settings, "kiwi", "Kiwi", "Pacific/Auckland")
    kiwi = LedgerWorld(ledger.api, ledger.settings, "kiwi")
    site = kiwi.ok(kiwi.api.post("/api/sites/", {"name": "Wellington"}, tenant="kiwi"), 201)["id"]
    asset = kiwi.ok(
        kiwi.api.post(
            "/api/assets/", {"tag": "CH-9", "name": "C", "site": site, "asset_type": "CHILLER"}, tenant="kiwi"
        ),
        201,
    )["id"]
    energy = EnergyDay(Decimal("10.000"), Decimal("0.000"), Decimal("10.000"), Decimal("0.000"))
    # priced with acme's tariff view: post_energy takes the tariff it is given
    posted = post_energy(
        ledger.settings,
        "kiwi",
        asset,
        "2026-12-01",
        energy,
        price(energy, world.tariff, "verde"),
        world.tariff,
        "verde",
    )
    assert posted.transaction.occurred_at == "2026-11-30T23:00:00.000Z"
    assert posted.transaction.month == "2026-12"
    assert posted.transaction.amount == Decimal("6.20")
