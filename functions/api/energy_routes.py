"""TrakLedger energy: tariffs (`/trakledger/energy-tariffs/`, the Django reference's fields) and
the month's tariff flag (`/trakledger/energy-settings/`, a tenant setting).

Routes only: identity and permission, parse, call climatrak.ledger.energy_tariffs, shape the response.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from climatrak.core.http import json_response, principal, requires
from climatrak.core.identity import Permission
from climatrak.ledger import energy_tariffs
from climatrak.ledger.energy_models import (
    EnergySettings,
    EnergySettingsUpdate,
    EnergyTariff,
    EnergyTariffCreate,
    EnergyTariffPatch,
)
from climatrak.ledger.energy_repository import EnergyTariffRepository
from climatrak.ledger.parsing import parse_id

from .route_support import doc, no_content, page, query, tenant_repository

router = APIGatewayRouter()

READ = Permission.LEDGER_READ
WRITE = Permission.LEDGER_WRITE

_repo = tenant_repository(router, EnergyTariffRepository)

TARIFF_FILTERS = (
    "name",
    "distributor",
    "tariff_class",
    "is_active",
    "is_current",
    "effective_date",
    "min_rate_off_peak",
    "max_rate_off_peak",
    "min_rate_peak",
    "max_rate_peak",
    "search",
    "ordering",
)


@router.get("/trakledger/energy-tariffs/", responses=doc(list[EnergyTariff]))
@requires(router, READ)
def list_energy_tariffs() -> Response[Any]:
    return page(router, energy_tariffs.list_energy_tariffs(_repo(), query(router, *TARIFF_FILTERS)))


@router.post("/trakledger/energy-tariffs/", responses=doc(EnergyTariff, 201))
@requires(router, WRITE)
def create_energy_tariff(body: EnergyTariffCreate) -> Response[Any]:
    return json_response(201, energy_tariffs.create_energy_tariff(_repo(), principal(router), body))


@router.get("/trakledger/energy-tariffs/<tariff_id>/", responses=doc(EnergyTariff))
@requires(router, READ)
def get_energy_tariff(tariff_id: str) -> Response[Any]:
    return json_response(200, energy_tariffs.get_energy_tariff(_repo(), parse_id(tariff_id)))


@router.patch("/trakledger/energy-tariffs/<tariff_id>/", responses=doc(EnergyTariff))
@requires(router, WRITE)
def update_energy_tariff(tariff_id: str, body: EnergyTariffPatch) -> Response[Any]:
    return json_response(200, energy_tariffs.update_energy_tariff(_repo(), parse_id(tariff_id), body))


@router.delete("/trakledger/energy-tariffs/<tariff_id>/")
@requires(router, WRITE)
def delete_energy_tariff(tariff_id: str) -> Response[Any]:
    energy_tariffs.delete_energy_tariff(_repo(), parse_id(tariff_id))
    return no_content()


@router.get("/trakledger/energy-settings/", responses=doc(EnergySettings))
@requires(router, READ)
def get_energy_settings() -> Response[Any]:
    return json_response(200, energy_tariffs.energy_settings(_repo()))


@router.put("/trakledger/energy-settings/", responses=doc(EnergySettings))
@requires(router, WRITE)
def update_energy_settings(body: EnergySettingsUpdate) -> Response[Any]:
    return json_response(200, energy_tariffs.update_energy_settings(_repo(), principal(router), body))
