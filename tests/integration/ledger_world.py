"""A TrakLedger world on moto for the ledger tests: builders through the public API, a few
helpers to look at what DynamoDB holds, and the `ledger` fixture.

Use it from a test module with `from tests.integration.ledger_world import LedgerWorld, ledger_fixture`
(importing the function registers the `ledger` fixture there; mark the import `# noqa: F401`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
import pytest

from climatrak.core.config import Settings
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.items import LedgerKeys, SummaryRow, default_cost_center_id
from climatrak.ledger.projection import COUNTERS
from climatrak.ledger.repository import LedgerRepository
from tests.integration.conftest import ApiClient, ApiResponse

YEAR = 2026


def projection_totals(settings: Settings, tenant: str, month: str) -> dict[str, Decimal]:
    """Σ of every summary counter of a tenant's month, read straight from its projection rows."""
    LedgerRepository(tenant, settings)  # binds the Main table
    totals = dict.fromkeys(COUNTERS, Decimal(0))
    for row in SummaryRow.query(LedgerKeys(tenant).summary(month), consistent_read=True):
        for name in COUNTERS:
            totals[name] += getattr(row, name)
    return totals


@dataclass
class LedgerWorld:
    api: ApiClient
    settings: Settings
    tenant: str = "acme"

    # ---- builders (through the API, as the owner) --------------------------------------------

    def ok(self, response: ApiResponse, status: int = 200) -> Any:
        assert response.status == status, response
        return response.json

    def cost_center(
        self, code: str, name: str | None = None, parent: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        body = {"code": code, "name": name or f"Cost centre {code}", "parent_id": parent, **extra}
        return self.ok(self.api.post("/api/trakledger/cost-centers/", body, tenant=self.tenant), 201)  # type: ignore[no-any-return]

    def rate_card(self, role: str, cost_per_hour: str, effective_from: str, **extra: Any) -> dict[str, Any]:
        body = {"role": role, "cost_per_hour": cost_per_hour, "effective_from": effective_from, **extra}
        return self.ok(self.api.post("/api/trakledger/rate-cards/", body, tenant=self.tenant), 201)  # type: ignore[no-any-return]

    def plan(self, year: int = YEAR, **extra: Any) -> dict[str, Any]:
        body = {
            "name": f"Budget {year}",
            "code": f"BUDGET-{year}-000001",
            "year": year,
            "start_date": f"{year}-01-01",
            "end_date": f"{year}-12-31",
            "currency": "BRL",
            "status": "draft",
            "description": "",
            **extra,
        }
        return self.ok(self.api.post("/api/trakledger/budget-plans/", body, tenant=self.tenant), 201)  # type: ignore[no-any-return]

    def envelope(
        self,
        plan: str,
        cost_center: str,
        category: str = "preventive",
        monthly: str | None = None,
        months: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """An envelope as the frontend makes one: create, then PATCH all 12 months."""
        body = {
            "budget_plan": plan,
            "name": category.title(),
            "category": category,
            "cost_center": cost_center,
            "amount": 0,
            "currency": "BRL",
            "description": "",
        }
        created = self.ok(self.api.post("/api/trakledger/budget-envelopes/", body, tenant=self.tenant), 201)
        if monthly is None and months is None:
            return created  # type: ignore[no-any-return]
        return self.set_months(created["id"], monthly=monthly, months=months)

    def set_months(
        self, envelope: str, monthly: str | None = None, months: dict[str, str] | None = None
    ) -> dict[str, Any]:
        values = {f"{YEAR}-{n:02d}-01": monthly or "0" for n in range(1, 13)}
        values.update(months or {})
        rows = [{"month": m, "planned_amount": v, "contingency_amount": 0} for m, v in sorted(values.items())]
        path = f"/api/trakledger/budget-envelopes/{envelope}/"
        return self.ok(self.api.patch(path, {"months": rows}, tenant=self.tenant))  # type: ignore[no-any-return]

    def commitment(
        self,
        cost_center: str,
        amount: Any,
        month: str = f"{YEAR}-03-01",
        category: str = "contracts",
        submit: bool = True,
    ) -> dict[str, Any]:
        body = {
            "cost_center": cost_center,
            "category": category,
            "amount": amount,
            "currency": "BRL",
            "budget_month": month,
            "description": "Chiller maintenance contract",
            "vendor_name": "Frio Service",
            "submit": submit,
        }
        return self.ok(self.api.post("/api/trakledger/commitments/", body, tenant=self.tenant), 201)  # type: ignore[no-any-return]

    def act(self, commitment: str, action: str, body: Any = None, status: int = 200) -> Any:
        path = f"/api/trakledger/commitments/{commitment}/{action}/"
        return self.ok(self.api.post(path, body, tenant=self.tenant), status)

    def summary(self, month: str, cost_center: str | None = None) -> dict[str, Any]:
        query = {"month": month, **({"cost_center": cost_center} if cost_center else {})}
        return self.ok(self.api.get("/api/trakledger/budget-summary/", query=query, tenant=self.tenant))  # type: ignore[no-any-return]

    # ---- looking inside ----------------------------------------------------------------------

    def repo(self) -> LedgerRepository:
        return LedgerRepository(self.tenant, self.settings)

    @property
    def default_cost_center(self) -> str:
        return default_cost_center_id(self.tenant)

    def totals(self, month: str) -> dict[str, Decimal]:
        """The month's projection counters, exact: summed from the stored rows here, not by the
        summary code under test."""
        return projection_totals(self.settings, self.tenant, month)

    def items(self, kind: str) -> list[dict[str, Any]]:
        """Every Main-table item of a kind (raw DynamoDB JSON), any tenant."""
        client = boto3.client("dynamodb")
        found: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=self.settings.main_table):
            found += [item for item in page["Items"] if item.get("kind", {}).get("S") == kind]
        return found

    def events(self, name: str) -> list[dict[str, Any]]:
        """Outbox envelopes of an event name, as plain dicts."""
        from boto3.dynamodb.types import TypeDeserializer

        decode = TypeDeserializer().deserialize
        return [decode(item["envelope"]) for item in self.items("outbox") if item["event_name"]["S"] == name]

    def lock(self, month: str) -> None:
        """Lock a business month the way the month-lock service stores it (absent = open)."""
        keys = LedgerKeys(self.tenant)
        boto3.client("dynamodb").put_item(
            TableName=self.settings.main_table,
            Item={
                "pk": {"S": keys.pk},
                "sk": {"S": keys.month(month)},
                "kind": {"S": "ledger_month"},
                "month": {"S": month[:7]},
                "locked": {"BOOL": True},
                "locked_at": {"S": utc_now_iso()},
                "locked_by": {"N": "1"},
                "updated_at": {"S": utc_now_iso()},
            },
        )


@pytest.fixture(name="ledger")
def ledger_fixture(api: ApiClient, tenant: str, settings: Settings) -> Iterator[LedgerWorld]:
    """Tenant acme (America/Sao_Paulo) with an empty ledger."""
    yield LedgerWorld(api, settings, tenant)


# The fixture under its own name too (older imports: `from ...ledger_world import ledger`).
ledger = ledger_fixture
