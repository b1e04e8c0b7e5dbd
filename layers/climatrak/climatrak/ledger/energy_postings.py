"""Energy cost into the ledger: one automatic posting per asset and business day.

Type and category `energy`, idempotency key `energy:{asset_id}:{day}`, `occurred_at` the local
day's noon (so the business month is the day's month whatever the time zone), cost centre the
asset's, else its site's, else the tenant's default (the CMMS rule). The ledger is immutable: a
rerun of the day that computes the same amount writes nothing; one that computes another amount
(late readings arrived, a tariff was corrected) posts a revision, type `adjustment`, category
`energy`, for the difference, key `energy:{asset_id}:{day}:rev:{n}`, to the first posting's cost
centre, so the day's postings always add up to its latest computation. The posting service does
the rest: a locked month moves a posting to the first open month after it, a cost centre deleted
meanwhile sends it to the default one, the summary projection and the outbox event go in the
same transaction.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from climatrak.cmms.logic import Lookup
from climatrak.cmms.repository import CmmsRepository
from climatrak.core.config import Settings
from climatrak.core.timeutil import zone
from climatrak.ledger.energy_models import EnergyTariff
from climatrak.ledger.items import TransactionItem, ensure_default_cost_center
from climatrak.ledger.parsing import iso
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.postings import Posted, post
from climatrak.ledger.transaction_models import SOURCE_ENERGY, NewPosting

if TYPE_CHECKING:  # the computation (numpy) stays out of the ledger's imports
    from climatrak.reports.energy import EnergyCost, EnergyDay

logger = Logger(service="reports")

ENERGY = "energy"
ADJUSTMENT = "adjustment"
NOON = time(12)
# A day's revisions are read back in one BatchGet of their keys; past this many a rerun only logs.
MAX_REVISIONS = 20


def energy_key(asset_id: int, day: str) -> str:
    return f"energy:{asset_id}:{day}"


def revision_key(asset_id: int, day: str, number: int) -> str:
    return f"{energy_key(asset_id, day)}:rev:{number}"


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
    """Post the day's energy cost of one asset; a day posted before gets a revision for the
    difference when this run computed another amount (`Posted.created` is False when nothing was
    written: the day's first posting is returned). Pass `lookup` to share one tenant's asset and
    site reads across the assets of a run."""
    day = date.fromisoformat(day).isoformat()
    repo = PostingRepository(tenant, settings)
    look = lookup or Lookup(CmmsRepository(tenant, settings))
    asset = look.asset(asset_id)
    cost_center_id = look.cost_center_of(asset) or ensure_default_cost_center(tenant)
    label = asset.tag if asset is not None else f"#{asset_id}"
    meta = {"asset_tag": asset.tag if asset is not None else None, **_computation(day, energy, cost, tariff, flag)}
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
    posted = post(repo, [posting], automatic=True)[0]
    if posted.created:
        return posted
    return _revise(repo, asset_id, day, energy, cost, tariff, flag, posted.transaction)


def _revise(
    repo: PostingRepository,
    asset_id: int,
    day: str,
    energy: EnergyDay,
    cost: EnergyCost,
    tariff: EnergyTariff,
    flag: str,
    first: TransactionItem,
) -> Posted:
    """The day was posted before (`first`): post the difference between this run's amount and
    what its postings add up to, if any, as the next revision."""
    keys = [revision_key(asset_id, day, number) for number in range(1, MAX_REVISIONS + 1)]
    guards = repo.guards(keys)
    revisions = repo.by_guards(list(guards.values())).values()
    total = sum((Decimal(item.amount) for item in revisions), Decimal(first.amount))
    difference = cost.amount - total
    number = len(guards) + 1  # revisions are numbered without gaps
    if difference == 0:
        return Posted(first, created=False)
    if number > MAX_REVISIONS:
        logger.warning("energy day revised too often; not revised again", extra={"asset_id": asset_id, "date": day})
        return Posted(first, created=False)
    meta = {
        "revises": first.id,
        "revision": number,
        "amount_before": str(total),
        **_computation(day, energy, cost, tariff, flag),
    }
    revision = NewPosting(
        transaction_type=ADJUSTMENT,
        category=ENERGY,
        amount=difference,
        occurred_at=local_noon_iso(day, repo.timezone),
        cost_center_id=str(first.cost_center_id),
        currency=tariff.currency,
        description=f"Energia — revisão {number} — {energy.kwh_total} kWh — {day}",
        meta=meta,
        idempotency_key=revision_key(asset_id, day, number),
        asset_id=asset_id,
    )
    return post(repo, [revision], automatic=True)[0]


def _computation(day: str, energy: EnergyDay, cost: EnergyCost, tariff: EnergyTariff, flag: str) -> dict[str, Any]:
    """What a posting's meta records of the run that computed it."""
    return {
        "source": SOURCE_ENERGY,
        "date": day,
        "kwh_total": energy.kwh_total,
        "kwh_peak": energy.kwh_peak,
        "kwh_off_peak": energy.kwh_off_peak,
        "kwh_intermediate": energy.kwh_intermediate,
        "tariff_id": tariff.id,
        "tariff_name": tariff.name,
        "flag": flag,
        "breakdown": cost.breakdown,
    }
