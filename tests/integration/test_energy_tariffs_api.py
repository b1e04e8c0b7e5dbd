"""Energy tariffs (`/api/trakledger/energy-tariffs/`, the Django reference's fields) and the month's
tariff flag (`/api/trakledger/energy-settings/`): validation, no overlapping periods (a condition
inside DynamoDB, not read-then-write), the tariff in force, permissions and tenant isolation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from climatrak.core.errors import Conflict
from climatrak.core.http import ROUTE_PERMISSIONS, build_resolver, normalise_path
from climatrak.core.identity import PERMISSIONS, Role
from climatrak.ledger.energy_items import EnergyTariffItem
from climatrak.ledger.energy_tariffs import (
    EnergyTariffRepository,
    energy_terms,
    flag_for,
    holidays_for,
    tariff_in_force,
)
from climatrak.registry.logic import create_tenant
from functions.api import energy_routes
from tests.integration.conftest import ApiClient, ApiResponse, LambdaContextStub

ET = "/api/trakledger/energy-tariffs/"
SETTINGS = "/api/trakledger/energy-settings/"
_STANDALONE: Any = None


class _StandaloneClient(ApiClient):
    """Until functions/api/handler.py includes energy_routes.router: the same router behind a
    resolver built the same way (build_resolver)."""

    def request(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        import json

        global _STANDALONE  # noqa: PLW0603 - one resolver per session: a router belongs to one resolver
        if _STANDALONE is None:
            _STANDALONE = build_resolver(["http://localhost:5173"])
            _STANDALONE.include_router(energy_routes.router)
        response = _STANDALONE.resolve(normalise_path(self.event(method, path, **kwargs)), LambdaContextStub())
        text = response.get("body") or ""
        return ApiResponse(response["statusCode"], json.loads(text) if text else None)


@pytest.fixture
def client(api: ApiClient, tenant: str) -> ApiClient:
    import functions.api.handler as main

    return api if energy_routes.router.api_resolver is main.app else _StandaloneClient()


def tariff_body(**extra: Any) -> dict[str, Any]:
    """A tariff as the reference's form sends it (numbers or decimal strings, HH:MM times)."""
    return {
        "name": "CEMIG B3 Comercial",
        "distributor": "CEMIG",
        "tariff_class": "B3",
        "rate_off_peak": "0.85",
        "rate_peak": 1.45,
        "peak_start": "18:00",
        "peak_end": "21:00",
        "flag_amarela": "0.01885",
        "flag_vermelha_1": "0.04463",
        "flag_vermelha_2": "0.07877",
        "effective_from": "2026-01-01",
        **extra,
    }


def ok(response: ApiResponse, status: int = 200) -> Any:
    assert response.status == status, response
    return response.json


def repo(settings: Any, tenant: str = "acme") -> EnergyTariffRepository:
    return EnergyTariffRepository(tenant, settings)


# ---- tariffs ---------------------------------------------------------------------------------


def test_a_tariff_with_the_reference_fields(client: ApiClient) -> None:
    created = ok(client.post(ET, tariff_body()), 201)
    assert created["rate_off_peak"] == "0.850000" and created["rate_peak"] == "1.450000"
    assert created["rate_intermediate"] is None and created["intermediate_start"] is None
    assert (created["peak_start"], created["peak_end"]) == ("18:00", "21:00")
    assert created["flag_verde"] == "0.000000" and created["flag_amarela"] == "0.018850"
    assert created["effective_from"] == "2026-01-01" and created["effective_to"] is None
    assert created["currency"] == "BRL" and created["is_active"] is True and created["is_current"] is True
    assert created["created_by"] == 1 and created["description"] == ""
    assert ok(client.get(f"{ET}{created['id']}/")) == created
    page = ok(client.get(ET))
    assert page["count"] == 1 and page["results"] == [created]


def test_an_intermediate_rate_needs_its_window(client: ApiClient) -> None:
    status, errors = client.post(ET, tariff_body(rate_intermediate="1.10"))
    assert status == 400 and "intermediate_start" in errors
    status, errors = client.post(ET, tariff_body(intermediate_start="17:00", intermediate_end="22:00"))
    assert status == 400 and "rate_intermediate" in errors
    branca = ok(
        client.post(ET, tariff_body(rate_intermediate="1.1", intermediate_start="17:00", intermediate_end="22:00:00")),
        201,
    )
    assert branca["rate_intermediate"] == "1.100000"
    assert (branca["intermediate_start"], branca["intermediate_end"]) == ("17:00", "22:00")
    # clearing the rate alone leaves a window without a rate; clearing all three is fine
    path = f"{ET}{branca['id']}/"
    assert client.patch(path, {"rate_intermediate": None}).status == 400
    cleared = ok(client.patch(path, {"rate_intermediate": None, "intermediate_start": "", "intermediate_end": None}))
    assert cleared["rate_intermediate"] is None and cleared["intermediate_end"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"distributor": None}, "distributor"),
        ({"rate_peak": "-0.01"}, "rate_peak"),
        ({"rate_off_peak": "0.1234567"}, "rate_off_peak"),  # more than 6 places
        ({"rate_off_peak": "abc"}, "rate_off_peak"),
        ({"peak_start": "25:00"}, "peak_start"),
        ({"peak_end": "18:00"}, "peak_end"),  # the same as the start
        ({"flag_amarela": "-1"}, "flag_amarela"),
        ({"effective_from": "2026-13-01"}, "effective_from"),
        ({"effective_to": "2025-12-31"}, "effective_to"),
        ({"currency": "real"}, "currency"),
    ],
)
def test_invalid_tariffs_are_field_errors(client: ApiClient, change: dict[str, Any], field: str) -> None:
    status, errors = client.post(ET, tariff_body(**change))
    assert status == 400 and field in errors, errors
    assert ok(client.get(ET))["count"] == 0


def test_required_fields(client: ApiClient) -> None:
    status, errors = client.post(ET, {})
    assert status == 400
    required = {"name", "distributor", "rate_off_peak", "rate_peak", "peak_start", "peak_end", "effective_from"}
    assert required <= set(errors)


def test_periods_of_active_tariffs_cannot_overlap(client: ApiClient) -> None:
    first = ok(client.post(ET, tariff_body()), 201)
    status, errors = client.post(ET, tariff_body(name="Next year", effective_from="2027-01-01"))
    assert status == 400 and "effective_from" in errors and "CEMIG B3 Comercial" in errors["effective_from"][0]
    # ending the first period makes room for the next one
    ok(client.patch(f"{ET}{first['id']}/", {"effective_to": "2026-12-31"}))
    second = ok(client.post(ET, tariff_body(name="Next year", effective_from="2027-01-01")), 201)
    # ... and re-opening the first over it is refused, the stored tariff unchanged
    assert client.patch(f"{ET}{first['id']}/", {"effective_to": None}).status == 400
    assert ok(client.get(f"{ET}{first['id']}/"))["effective_to"] == "2026-12-31"
    # an inactive tariff does not count; re-activating one that overlaps is refused
    ok(client.patch(f"{ET}{second['id']}/", {"is_active": False}))
    assert ok(client.post(ET, tariff_body(name="Replacement", effective_from="2027-02-01")), 201)["is_current"] is False
    assert client.patch(f"{ET}{second['id']}/", {"is_active": True}).status == 400


def test_two_writers_that_validated_the_same_tariffs_cannot_both_commit(client: ApiClient, settings: Any) -> None:
    """The overlap check reads the tariffs; the write is conditioned on the set not having moved."""
    tariffs = repo(settings)
    seq = tariffs.tariff_set_seq()  # writer A reads the set ...
    ok(client.post(ET, tariff_body()), 201)  # ... writer B commits an open-ended tariff
    late = EnergyTariffItem(
        id="a7f1c1c2-0000-4000-8000-000000000001",
        name="Overlapping",
        distributor="CEMIG",
        rate_off_peak=1,
        rate_peak=2,
        peak_start="18:00",
        peak_end="21:00",
        flag_verde=0,
        flag_amarela=0,
        flag_vermelha_1=0,
        flag_vermelha_2=0,
        effective_from="2026-06-01",
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
    )
    with pytest.raises(Conflict):
        tariffs.save_tariff(late, seq)  # A's write, validated before B's, is refused
    assert ok(client.get(ET))["count"] == 1


def test_update_and_delete(client: ApiClient) -> None:
    created = ok(client.post(ET, tariff_body()), 201)
    path = f"{ET}{created['id']}/"
    updated = ok(client.patch(path, {"rate_peak": "1.5", "name": " Renamed ", "peak_end": "21:30"}))
    assert updated["rate_peak"] == "1.500000" and updated["name"] == "Renamed" and updated["peak_end"] == "21:30"
    assert updated["rate_off_peak"] == created["rate_off_peak"] and updated["updated_at"] >= created["updated_at"]
    assert client.patch(path, {"rate_peak": None}).status == 400
    assert client.delete(path).status == 204
    assert client.get(path).status == 404
    assert client.delete(path).status == 404
    assert client.get(f"{ET}not-a-uuid/").status == 404


def test_list_filters_and_ordering(client: ApiClient) -> None:
    ok(client.post(ET, tariff_body(effective_to="2025-12-31", effective_from="2025-01-01", rate_off_peak="0.80")), 201)
    ok(client.post(ET, tariff_body(name="CPFL A4", distributor="CPFL", tariff_class="A4")), 201)
    ok(
        client.post(
            ET, tariff_body(name="Light B1", distributor="Light", effective_from="2024-01-01", is_active=False)
        ),
        201,
    )

    def names(**query: str) -> list[str]:
        return [row["name"] for row in ok(client.get(ET, query=query))["results"]]

    assert names() == ["CPFL A4", "CEMIG B3 Comercial", "Light B1"]  # newest period first
    assert names(distributor="cpfl") == names(tariff_class="a4") == names(search="a4") == ["CPFL A4"]
    assert names(is_current="true") == ["CPFL A4"]
    assert names(is_active="false") == ["Light B1"]
    assert names(effective_date="2025-06-01") == ["CEMIG B3 Comercial", "Light B1"]
    assert names(max_rate_off_peak="0.81") == ["CEMIG B3 Comercial"]
    assert names(ordering="distributor") == ["CEMIG B3 Comercial", "CPFL A4", "Light B1"]
    assert client.get(ET, query={"is_active": "maybe"}).status == 400


def test_the_tariff_in_force_on_a_day(client: ApiClient, settings: Any) -> None:
    old = ok(client.post(ET, tariff_body(name="2025", effective_from="2025-01-01", effective_to="2025-12-31")), 201)
    new = ok(client.post(ET, tariff_body(name="2026", effective_from="2026-01-01")), 201)
    tariffs = repo(settings)
    assert tariff_in_force(tariffs, "2024-12-31") is None
    assert tariff_in_force(tariffs, "2025-12-31").id == old["id"]  # type: ignore[union-attr]
    found = tariff_in_force(tariffs, date(2026, 11, 25))
    assert (
        found is not None
        and found.id == new["id"]
        and found.rate_peak == Decimal("1.45")
        and found.peak_start == "18:00"
    )
    ok(client.patch(f"{ET}{new['id']}/", {"is_active": False}))
    assert tariff_in_force(tariffs, "2026-11-25") is None


# ---- the month's tariff flag ------------------------------------------------------------------


DEFAULT_SETTINGS = {"tariff_flags": {}, "default_flag": "verde", "holiday_calendar": "aneel", "extra_holidays": []}
HOLIDAYS = {"holiday_calendar": "aneel", "extra_holidays": []}


def test_the_month_flags_are_a_partial_map_over_a_default(client: ApiClient, settings: Any) -> None:
    assert ok(client.get(SETTINGS)) == DEFAULT_SETTINGS
    first = ok(
        client.request("PUT", SETTINGS, body={"tariff_flags": {"2026-11": "amarela", "2026-12-01": "vermelha_1"}})
    )
    assert first == {
        "tariff_flags": {"2026-11": "amarela", "2026-12": "vermelha_1"},
        "default_flag": "verde",
        **HOLIDAYS,
    }
    # a second PUT changes only what it names; null removes a month
    second = ok(
        client.request(
            "PUT",
            SETTINGS,
            body={"tariff_flags": {"2026-12": None, "2027-01": "vermelha_2"}, "default_flag": "amarela"},
        )
    )
    assert second == {
        "tariff_flags": {"2026-11": "amarela", "2027-01": "vermelha_2"},
        "default_flag": "amarela",
        **HOLIDAYS,
    }
    assert ok(client.get(SETTINGS)) == second
    tariffs = repo(settings)
    assert flag_for(tariffs, "2026-11") == "amarela"
    assert flag_for(tariffs, "2026-12") == "amarela"  # the default
    assert flag_for(tariffs, "2027-01-15") == "vermelha_2"


def test_a_days_energy_terms_read_the_settings_item_once(client: ApiClient, settings: Any) -> None:
    ok(client.request("PUT", SETTINGS, body={"default_flag": "amarela", "extra_holidays": ["2026-12-24"]}))
    tariffs = repo(settings)
    reads = 0
    stored_settings = tariffs.energy_settings

    def counted() -> Any:
        nonlocal reads
        reads += 1
        return stored_settings()

    tariffs.energy_settings = counted  # type: ignore[method-assign]
    terms = energy_terms(tariffs, "2026-12-24")
    assert reads == 1
    assert terms.flag == "amarela" == flag_for(tariffs, "2026-12")
    assert date(2026, 12, 24) in terms.holidays and terms.holidays == holidays_for(tariffs, "2026-12-24")
    assert terms.tariff == tariff_in_force(tariffs, "2026-12-24")


def test_the_days_without_a_peak_window_are_a_calendar_and_the_tenants_own_dates(
    client: ApiClient, settings: Any
) -> None:
    tariffs = repo(settings)
    good_friday, consciencia_negra = date(2026, 4, 3), date(2026, 11, 20)
    assert good_friday in holidays_for(tariffs, "2026-04-03") and consciencia_negra not in holidays_for(
        tariffs, "2026-11-20"
    )
    body = {"extra_holidays": ["2026-11-20", "2027-01-25", "2026-11-20"]}
    updated = ok(client.request("PUT", SETTINGS, body=body))
    assert updated["extra_holidays"] == ["2026-11-20", "2027-01-25"] and updated["holiday_calendar"] == "aneel"
    assert {good_friday, consciencia_negra} <= holidays_for(tariffs, "2026-06-01")
    assert date(2027, 1, 25) in holidays_for(tariffs, "2027-03-01")
    # weekends only, plus the tenant's own dates; the flags are untouched
    ok(client.request("PUT", SETTINGS, body={"holiday_calendar": "none", "tariff_flags": {"2026-11": "amarela"}}))
    assert holidays_for(tariffs, "2026-01-10") == frozenset({consciencia_negra})
    assert ok(client.get(SETTINGS))["extra_holidays"] == ["2026-11-20", "2027-01-25"]
    assert ok(client.request("PUT", SETTINGS, body={"extra_holidays": []}))["extra_holidays"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tariff_flags": {"2026-11": "roxa"}}, "tariff_flags.2026-11"),
        ({"tariff_flags": {"2026-13": "verde"}}, "tariff_flags"),
        ({"tariff_flags": {"november": "verde"}}, "tariff_flags"),
        ({"default_flag": "vermelha"}, "default_flag"),
        ({"tariff_flags": ["2026-11"]}, "tariff_flags"),
        ({"holiday_calendar": "us"}, "holiday_calendar"),
        ({"extra_holidays": ["2026-13-01"]}, "extra_holidays"),
        ({"extra_holidays": ["20261120"]}, "extra_holidays"),
        ({"extra_holidays": "2026-11-20"}, "extra_holidays"),
    ],
)
def test_invalid_settings_are_field_errors(client: ApiClient, body: dict[str, Any], field: str) -> None:
    status, errors = client.request("PUT", SETTINGS, body=body)
    assert status == 400 and field in errors, errors
    assert ok(client.get(SETTINGS)) == DEFAULT_SETTINGS


# ---- permissions and tenants ------------------------------------------------------------------


def _walk(tariff_id: str, spare_id: str) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    return [
        ("list_energy_tariffs", "GET", ET, None),
        ("create_energy_tariff", "POST", ET, tariff_body(effective_from="2030-01-01", effective_to="2030-01-01")),
        ("get_energy_tariff", "GET", f"{ET}{tariff_id}/", None),
        ("update_energy_tariff", "PATCH", f"{ET}{tariff_id}/", {"description": "x"}),
        ("get_energy_settings", "GET", SETTINGS, None),
        ("update_energy_settings", "PUT", SETTINGS, {"tariff_flags": {"2026-11": "amarela"}}),
        ("delete_energy_tariff", "DELETE", f"{ET}{spare_id}/", None),
    ]


def test_the_walk_covers_every_energy_route() -> None:
    declared = {func.__name__ for func in energy_routes.router._routes.values()}
    assert declared == {name for name, *_ in _walk("x", "y")}


@pytest.mark.parametrize("role", list(Role))
def test_every_route_with_every_role(client: ApiClient, role: Role) -> None:
    tariff = ok(client.post(ET, tariff_body(effective_to="2026-12-31")), 201)["id"]
    spare = ok(client.post(ET, tariff_body(effective_from="2028-01-01", effective_to="2028-12-31")), 201)["id"]
    routes = {func.__name__: func for func in energy_routes.router._routes.values()}
    for name, method, path, body in _walk(tariff, spare):
        permission = ROUTE_PERMISSIONS[routes[name].__qualname__]
        status, response = client.request(method, path, role=role.value, body=body)
        if role in PERMISSIONS[permission]:
            assert status in (200, 201, 204), (name, role, status, response)
        else:
            assert status == 403, (name, role, status)


def test_another_tenant_sees_nothing_of_acme(client: ApiClient, settings: Any) -> None:
    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    tariff = ok(client.post(ET, tariff_body()), 201)["id"]
    ok(client.request("PUT", SETTINGS, body={"tariff_flags": {"2026-11": "vermelha_2"}}))
    assert ok(client.get(ET, tenant="beta"))["count"] == 0
    assert client.get(f"{ET}{tariff}/", tenant="beta").status == 404
    assert client.patch(f"{ET}{tariff}/", {"name": "x"}, tenant="beta").status == 404
    assert client.delete(f"{ET}{tariff}/", tenant="beta").status == 404
    assert ok(client.get(SETTINGS, tenant="beta"))["tariff_flags"] == {}
    # beta's own tariff over the same period does not collide with acme's
    assert client.post(ET, tariff_body(), tenant="beta").status == 201
    assert flag_for(repo(settings, "beta"), "2026-11") == "verde"
