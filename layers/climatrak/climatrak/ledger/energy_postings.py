"""Energy cost into the ledger: one automatic posting per asset and business day.

Type and category `energy`, idempotency key `energy:{asset_id}:{day}` (a rerun of the day returns
the posting made first and writes nothing), `occurred_at` the local day's noon (so the business
month is the day's month whatever the time zone), cost centre the asset's, else its site's, else
the tenant's default (the CMMS rule). The posting service does the rest: a locked month moves
the posting to the first open month after it, a cost centre deleted meanwhile sends it to the
default one, the summary projection and the outbox event go in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from climatrak.cmms.logic import Lookup
from climatrak.cmms.repository import CmmsRepository
from climatrak.core.config import Settings
from climatrak.core.timeutil import zone
from climatrak.ledger.energy_models import EnergyTariff
from climatrak.ledger.items import ensure_default_cost_center
from climatrak.ledger.parsing import iso
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.postings import Posted, post
from climatrak.ledger.transaction_models import SOURCE_ENERGY, NewPosting

if TYPE_CHECKING:  # the computation (numpy) stays out of the ledger's imports
    from climatrak.reports.energy import EnergyCost, EnergyDay

ENERGY = "energy"
NOON = time(12)


def energy_key(asset_id: int, day: str) -> str:
    return f"energy:{asset_id}:{day}"


def local_noon_iso(day: str, tz_name: str) -> str:
    """Noon of business day `YYYY-MM-DD` in the tenant's time zone, in storage form (UTC)."""
    return iso(datetime.combine(date.fromisoformat(day), NOON, zone(tz_name)))


def post_energy(
    settings: Settings,
    tenant: str,
    asset_id: int,
    day: str,
    energy: EnergyDay,
    cost: EnergyCost,
    tariff: EnergyTariff,
    flag: str,
    *,
    lookup: Lookup | None = None,
) -> Posted:
    """Post the day's energy cost of one asset (`Posted.created` is False when the day was
    posted before: the earlier posting is returned, whatever this run computed). Pass `lookup`
    to share one tenant's asset and site reads across the assets of a run."""
    day = date.fromisoformat(day).isoformat()
    repo = PostingRepository(tenant, settings)
    look = lookup or Lookup(CmmsRepository(tenant, settings))
    asset = look.asset(asset_id)
    cost_center_id = look.cost_center_of(asset) or ensure_default_cost_center(tenant)
    label = asset.tag if asset is not None else f"#{asset_id}"
    meta: dict[str, Any] = {
        "source": SOURCE_ENERGY,
        "date": day,
        "asset_tag": asset.tag if asset is not None else None,
        "kwh_total": energy.kwh_total,
        "kwh_peak": energy.kwh_peak,
        "kwh_off_peak": energy.kwh_off_peak,
        "kwh_intermediate": energy.kwh_intermediate,
        "tariff_id": tariff.id,
        "tariff_name": tariff.name,
        "flag": flag,
        "breakdown": cost.breakdown,
    }
    posting = NewPosting(
        transaction_type=ENERGY,
        category=ENERGY,
        amount=cost.amount,
        occurred_at=local_noon_iso(day, repo.timezone),
        cost_center_id=cost_center_id,
        currency=tariff.currency,
        description=f"Energia — {energy.kwh_total} kWh — {label} — {day}",
        meta=meta,
        idempotency_key=energy_key(asset_id, day),
        asset_id=asset_id,
    )
    return post(repo, [posting], automatic=True)[0]
