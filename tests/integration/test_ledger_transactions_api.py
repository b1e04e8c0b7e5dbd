"""GET/POST /trakledger/transactions/ and GET/PATCH/DELETE /trakledger/transactions/{id}/:
filters with the frontend's aliases, ordering, cursor pagination over month partitions, and the
rules for manual postings (API.md §5.4)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from pynamodb.connection.base import Connection

from climatrak.ledger.cost_engine import post_commitment, post_work_order_costs
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.ledger.postings import post
from tests.integration.ledger_world import LedgerWorld, ledger  # noqa: F401
from tests.integration.test_cost_engine import closed
from tests.integration.test_ledger_postings import (
    ledger_actuals,
    make_cost_center,
    posting,
    summary_actuals,
    table_items,
)

TRANSACTIONS = "/api/trakledger/transactions/"
FE_FIELDS = {
    "id",
    "idempotency_key",
    "transaction_type",
    "transaction_type_display",
    "category",
    "category_display",
    "amount",
    "currency",
    "occurred_at",
    "description",
    "meta",
    "cost_center",
    "cost_center_id",
    "cost_center_name",
    "cost_center_code",
    "asset",
    "asset_id",
    "asset_tag",
    "asset_name",
    "work_order",
    "work_order_id",
    "work_order_code",
    "work_order_number",
    "vendor_id",
    "is_locked",
    "locked_at",
    "locked_by",
    "locked_by_name",
    "is_editable",
    "created_at",
    "updated_at",
    "created_by",
    "created_by_name",
}


def manual(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transaction_type": "adjustment",
        "category": "corrective",
        "amount": 150.5,
        "currency": "BRL",
        "occurred_at": "2026-03-10T09:30",
        "description": "",
        "meta": {"reason": "Nota fiscal corrigida", "invoice": "NF-77"},
    }
    body.update(changes)
    return body


class World:
    """acme with cost centres A and B, asset CH-001, and postings of every source: work order
    901's costs (a payload only: cc A, the asset, March 10th), a commitment (cc B, April), a
    manual adjustment (cc A, February) and a manual energy posting (cc B, March 20th)."""

    def __init__(self, ledger: LedgerWorld, settings: Any) -> None:  # noqa: F811
        self.ledger, self.api, self.settings = ledger, ledger.api, settings
        self.a = ledger.cost_center("A", "Utilidades")["id"]
        self.b = ledger.cost_center("B", "Facilities")["id"]
        site = self.api.post("/api/sites/", {"name": "Plant"}).json["id"]
        self.asset = self.api.post(
            "/api/assets/", {"tag": "CH-001", "name": "Chiller 1", "site": site, "asset_type": "CHILLER"}
        ).json["id"]
        post_work_order_costs(settings, "acme", closed(901, cost_center_id=self.a, asset_id=self.asset))
        post_commitment(
            settings,
            "acme",
            {
                "commitment_id": "c-1",
                "cost_center_id": self.b,
                "category": "contracts",
                "amount": "1000.00",
                "budget_month": "2026-04-01",
                "description": "Contrato Frio Service",
                "vendor_name": "Frio Service",
            },
        )
        self.adjustment = self.ok(
            self.api.post(
                TRANSACTIONS, manual(cost_center=self.a, occurred_at="2026-02-15T10:00", amount=-20, category="other")
            ),
            201,
        )
        self.energy = self.ok(
            self.api.post(
                TRANSACTIONS,
                manual(
                    transaction_type="energy",
                    category="energy",
                    cost_center_id=self.b,
                    occurred_at="2026-03-20T10:00",
                    amount="75.25",
                    description="Conta de energia",
                    meta={},
                    idempotency_key="energy-2026-03",
                ),
            ),
            201,
        )

    @staticmethod
    def ok(response: Any, status: int = 200) -> Any:
        assert response.status == status, response
        return response.json

    def ids(self, **query: Any) -> list[str]:
        body = self.ok(self.api.get(TRANSACTIONS, query={"page_size": 1000, **query}))
        assert body["count"] == len(body["results"])
        return [row["id"] for row in body["results"]]

    def keys(self, **query: Any) -> set[str]:
        body = self.ok(self.api.get(TRANSACTIONS, query={"page_size": 1000, **query}))
        return {row["idempotency_key"] or row["description"] for row in body["results"]}


@pytest.fixture
def world(ledger: LedgerWorld, settings: Any) -> World:  # noqa: F811
    return World(ledger, settings)


WO_KEYS = {"wo:901:labor", "wo:901:parts", "wo:901:third_party"}


# ---- create ---------------------------------------------------------------------------------


def test_a_manual_adjustment_from_the_ledger_page(ledger: LedgerWorld) -> None:  # noqa: F811
    status, body = ledger.api.post(TRANSACTIONS, manual(), user_id=4)

    assert status == 201
    assert set(body) == FE_FIELDS
    assert body["amount"] == "150.50" and body["currency"] == "BRL"
    assert body["occurred_at"] == "2026-03-10T12:30:00.000Z"  # 09:30 in São Paulo
    assert body["description"] == "Nota fiscal corrigida"  # the reason, as the frontend would send it
    assert body["meta"] == {"reason": "Nota fiscal corrigida", "invoice": "NF-77", "source": "manual"}
    assert body["cost_center"] == body["cost_center_id"] == ledger.default_cost_center
    assert (body["cost_center_code"], body["cost_center_name"]) == ("GERAL", "Geral")
    assert body["is_editable"] is True and body["is_locked"] is False
    assert body["created_by"] == 4 and body["idempotency_key"] is None
    assert body["transaction_type_display"] == "Ajuste"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"description": "", "meta": {}}, "description"),  # an adjustment needs a reason
        ({"amount": 0}, "amount"),
        ({"transaction_type": "labor", "amount": -5}, "amount"),  # only adjustments are negative
        ({"cost_center": "5b0b8f86-0000-4000-8000-00000000dead"}, "cost_center"),
        ({"asset": 999}, "asset"),
        ({"occurred_at": "10/03/2026"}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:00"}, "occurred_at"),  # past the last storable instant in UTC
        ({"cost_center": "not-a-uuid"}, "cost_center"),
        ({"category": "misc"}, "category"),
        ({"transaction_type": "gift"}, "transaction_type"),
        ({"transaction_type": "parts", "work_order": 3}, "idempotency_key"),  # WO-linked postings need a key
    ],
)
def test_invalid_postings_are_field_errors_and_write_nothing(
    ledger: LedgerWorld,  # noqa: F811
    settings,
    changes: dict[str, Any],
    field: str,
) -> None:
    status, body = ledger.api.post(TRANSACTIONS, manual(**changes))

    assert status == 400, body
    assert field in body
    assert table_items(settings, "ledger_transaction") == []


def test_an_idempotency_key_is_unique_per_tenant(ledger: LedgerWorld, settings) -> None:  # noqa: F811
    from climatrak.registry.logic import create_tenant

    create_tenant(settings, "beta", "Beta", "America/Sao_Paulo")
    assert ledger.api.post(TRANSACTIONS, manual(idempotency_key="inv-1")).status == 201

    status, body = ledger.api.post(TRANSACTIONS, manual(idempotency_key="inv-1", amount=1))

    assert status == 400 and body == {"idempotency_key": ["transaction with this idempotency key already exists."]}
    assert ledger.api.post(TRANSACTIONS, manual(idempotency_key="inv-1"), tenant="beta").status == 201


# ---- reading ----------------------------------------------------------------------------------


def test_rows_carry_the_names_the_frontend_reads(world: World) -> None:
    rows = world.ok(world.api.get(TRANSACTIONS, query={"work_order": 901}))["results"]

    labor = next(row for row in rows if row["transaction_type"] == "labor")
    assert set(labor) == FE_FIELDS
    assert (labor["cost_center_id"], labor["cost_center_code"], labor["cost_center_name"]) == (
        world.a,
        "A",
        "Utilidades",
    )
    assert (labor["asset"], labor["asset_id"], labor["asset_tag"], labor["asset_name"]) == (
        world.asset,
        world.asset,
        "CH-001",
        "Chiller 1",
    )
    assert (labor["work_order"], labor["work_order_id"], labor["work_order_number"]) == (901, 901, "OS-000901")
    assert labor["amount"] == "200.00" and labor["is_editable"] is False
    assert labor["meta"]["source"] == "cost_engine"


def test_get_one_by_id(world: World) -> None:
    body = world.ok(world.api.get(f"{TRANSACTIONS}{world.energy['id']}/"))

    assert body == world.energy


def test_unknown_ids_are_not_found(world: World) -> None:
    assert world.api.get(f"{TRANSACTIONS}3f1e0c5e-0000-4000-8000-000000000000/").status == 404
    assert world.api.get(f"{TRANSACTIONS}not-a-uuid/").status == 404


def test_filters_and_the_frontend_aliases(world: World) -> None:
    everything = world.keys()
    assert everything == WO_KEYS | {"commitment:c-1", "energy-2026-03", "Nota fiscal corrigida"}
    march = world.keys(start_date="2026-03-01", end_date="2026-03-31")
    assert march == WO_KEYS | {"energy-2026-03"}
    assert world.keys(year=2026, month=3) == march == world.keys(month="2026-03-01")
    assert world.keys(cost_center=world.a) == world.keys(cost_center_id=world.a) == WO_KEYS | {"Nota fiscal corrigida"}
    assert world.keys(asset=world.asset) == world.keys(asset_id=world.asset) == WO_KEYS
    assert world.keys(work_order=901) == world.keys(work_order_id=901) == WO_KEYS
    assert world.keys(category="contracts") == {"commitment:c-1"}
    assert world.keys(type="labor") == world.keys(transaction_type="labor") == {"wo:901:labor"}
    assert world.keys(transaction_type__in="parts,third_party") == {"wo:901:parts", "wo:901:third_party"}
    assert world.keys(min_amount="100", max_amount="300") == {"wo:901:labor", "wo:901:third_party"}
    assert world.keys(description="energia") == {"energy-2026-03"}
    assert world.keys(search="nf-77") == {"Nota fiscal corrigida"}  # meta.invoice
    assert world.keys(search="frio") == {"commitment:c-1"}


def test_source_category_splits_entries_from_operations(world: World) -> None:
    # entries: commitments and manual postings; operations: labour and the cost engine's postings
    assert world.keys(source_category="entries") == {"commitment:c-1", "energy-2026-03", "Nota fiscal corrigida"}
    assert world.keys(source_category="operations") == WO_KEYS


def test_is_locked_filters_by_the_months_lock(world: World) -> None:
    everything = world.keys()
    locked = world.api.post("/api/trakledger/budget-months/lock/", {"month": "2026-02-01"})
    assert locked.status == 200, locked

    assert world.keys(is_locked="true") == {"Nota fiscal corrigida"}
    assert world.keys(is_locked="false") == everything - {"Nota fiscal corrigida"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"category": "misc"}, "category"),
        ({"type": "gift"}, "type"),
        ({"source_category": "both"}, "source_category"),
        ({"start_date": "03/01/2026"}, "start_date"),
        ({"asset": "abc"}, "asset"),
        ({"min_amount": "lots"}, "min_amount"),
        ({"is_locked": "maybe"}, "is_locked"),
        ({"year": "0"}, "year"),
        ({"year": "10000"}, "year"),
        ({"month": "2026-13-01"}, "month"),
    ],
)
def test_invalid_filters_are_400(world: World, query: dict[str, str], field: str) -> None:
    status, body = world.api.get(TRANSACTIONS, query=query)

    assert status == 400 and field in body


def test_an_end_date_on_the_last_day_of_the_calendar_bounds_nothing(world: World) -> None:
    assert sorted(world.ids(end_date="9999-12-31")) == sorted(world.ids())


def test_default_order_is_newest_first(world: World) -> None:
    rows = world.ok(world.api.get(TRANSACTIONS))["results"]

    occurred = [row["occurred_at"] for row in rows]
    assert occurred == sorted(occurred, reverse=True)
    assert rows[0]["idempotency_key"] == "commitment:c-1"
    # the three postings of one work order share occurred_at: the latest created comes first
    same_time = [row for row in rows if row["occurred_at"] == "2026-03-10T18:00:00.000Z"]
    assert [row["created_at"] for row in same_time] == sorted((row["created_at"] for row in same_time), reverse=True)


def test_other_orderings(world: World) -> None:
    by_amount = world.ok(world.api.get(TRANSACTIONS, query={"ordering": "amount"}))["results"]
    oldest_first = world.ok(world.api.get(TRANSACTIONS, query={"ordering": "occurred_at"}))["results"]

    assert [Decimal(row["amount"]) for row in by_amount] == sorted(Decimal(row["amount"]) for row in by_amount)
    assert oldest_first[0]["description"] == "Nota fiscal corrigida"
    assert [row["occurred_at"] for row in oldest_first] == sorted(row["occurred_at"] for row in oldest_first)


# ---- pagination ---------------------------------------------------------------------------------


def follow(api: Any, link: str) -> dict[str, Any]:
    parts = urlsplit(link)
    assert parts.scheme == "https" and parts.netloc == "testserver"  # absolute links
    response = api.get(parts.path, query=dict(parse_qsl(parts.query)))
    assert response.status == 200, response
    return response.json  # type: ignore[no-any-return]


@pytest.fixture
def many(ledger: LedgerWorld, settings) -> list[str]:  # noqa: F811
    """23 postings over four months and two cost centres; ids newest first."""
    repo = PostingRepository("acme", settings)
    for cost_center_id in ("cc-even", "cc-odd"):
        make_cost_center(settings, "acme", cost_center_id.upper(), cost_center_id=cost_center_id)
    postings = [
        posting(
            occurred_at=f"2026-{1 + n % 4:02d}-{1 + n:02d}T12:00:00Z",
            cost_center_id="cc-even" if n % 2 == 0 else "cc-odd",
            amount=Decimal(n + 1),
        )
        for n in range(23)
    ]
    for item in postings:
        post(repo, [item], automatic=True)
    rows = sorted(table_items(settings, "ledger_transaction"), key=lambda r: (r["occurred_at"], r["id"]), reverse=True)
    return [row["id"] for row in rows]


def test_cursor_pages_walk_every_month_partition_forwards_and_back(ledger: LedgerWorld, many: list[str]) -> None:  # noqa: F811
    first = ledger.ok(ledger.api.get(TRANSACTIONS, query={"page_size": 5}))
    pages = [first]
    while pages[-1]["next"]:
        assert "cursor=" in pages[-1]["next"] and "page=" not in pages[-1]["next"]
        pages.append(follow(ledger.api, pages[-1]["next"]))

    assert [len(page["results"]) for page in pages] == [5, 5, 5, 5, 3]
    assert [row["id"] for page in pages for row in page["results"]] == many
    assert {page["count"] for page in pages} == {23}
    assert first["previous"] is None

    back = [pages[-1]]
    while back[-1]["previous"]:
        back.append(follow(ledger.api, back[-1]["previous"]))
    assert [[row["id"] for row in page["results"]] for page in reversed(back)] == [
        [row["id"] for row in page["results"]] for page in pages
    ]


def test_cursor_links_keep_the_filters(ledger: LedgerWorld, many: list[str]) -> None:  # noqa: F811
    query = {"page_size": 3, "cost_center": "cc-odd", "start_date": "2026-02-01", "end_date": "2026-03-31"}
    page = ledger.ok(ledger.api.get(TRANSACTIONS, query=query))
    seen = [row for row in page["results"]]
    while page["next"]:
        assert "cost_center=cc-odd" in page["next"]
        page = follow(ledger.api, page["next"])
        seen += page["results"]

    assert {row["cost_center_id"] for row in seen} == {"cc-odd"}
    assert {row["occurred_at"][:7] for row in seen} <= {"2026-02", "2026-03"}
    assert len(seen) == page["count"] == 6


def test_page_numbers_still_work(ledger: LedgerWorld, many: list[str]) -> None:  # noqa: F811
    body = ledger.ok(ledger.api.get(TRANSACTIONS, query={"page": 2, "page_size": 5}))

    assert [row["id"] for row in body["results"]] == many[5:10]
    assert body["count"] == 23
    assert "page=3" in body["next"] and "page=1" in body["previous"]
    assert ledger.api.get(TRANSACTIONS, query={"page": 9, "page_size": 5}).status == 404


def test_a_bad_cursor_is_not_found(ledger: LedgerWorld, many: list[str]) -> None:  # noqa: F811
    assert ledger.api.get(TRANSACTIONS, query={"cursor": "garbage"}).status == 404


def test_a_previous_link_made_before_rows_were_deleted_still_reads_back(ledger: LedgerWorld) -> None:  # noqa: F811
    """In-memory orderings use index positions: a link to before index 6 of a list that has
    since shrunk to 3 rows reads back from its end (it used to be a 500)."""
    rows = [ledger.ok(ledger.api.post(TRANSACTIONS, manual(amount=n)), 201)["id"] for n in range(1, 8)]
    query = {"ordering": "amount", "page_size": 3}
    last = follow(ledger.api, follow(ledger.api, ledger.ok(ledger.api.get(TRANSACTIONS, query=query))["next"])["next"])
    assert [row["id"] for row in last["results"]] == rows[6:]
    for row in rows[3:]:
        assert ledger.api.delete(f"{TRANSACTIONS}{row}/").status == 204

    back = follow(ledger.api, last["previous"])

    assert [row["id"] for row in back["results"]] == rows[:3]


def test_page_size_is_capped_at_1000(ledger: LedgerWorld, many: list[str]) -> None:  # noqa: F811
    body = ledger.ok(ledger.api.get(TRANSACTIONS, query={"page_size": 5000}))

    assert len(body["results"]) == 23 and body["next"] is None


# ---- edit and delete ------------------------------------------------------------------------------


def test_patching_a_manual_row_moves_the_projection_with_it(world: World, settings) -> None:
    path = f"{TRANSACTIONS}{world.energy['id']}/"

    body = world.ok(world.api.patch(path, {"amount": 80, "category": "other", "cost_center": world.a}))

    assert body["amount"] == "80.00" and body["category"] == "other" and body["cost_center_id"] == world.a
    assert summary_actuals(settings, "acme") == ledger_actuals(settings, "acme")
    assert summary_actuals(settings, "acme")[("2026-03", world.a, "other")] == Decimal("80.00")
    assert ("2026-03", world.b, "energy") not in summary_actuals(settings, "acme")


def test_patching_the_date_moves_the_row_to_its_new_month(world: World, settings) -> None:
    path = f"{TRANSACTIONS}{world.energy['id']}/"

    body = world.ok(world.api.patch(path, {"occurred_at": "2026-05-02T08:00"}))

    assert body["occurred_at"] == "2026-05-02T11:00:00.000Z" and body["id"] == world.energy["id"]
    assert world.ok(world.api.get(path))["occurred_at"] == body["occurred_at"]
    assert world.keys(month="2026-05-01") == {"energy-2026-03"}
    assert "energy-2026-03" not in world.keys(month="2026-03-01")
    assert summary_actuals(settings, "acme") == ledger_actuals(settings, "acme")
    [guard] = [g for g in table_items(settings, "ledger_key") if g["sk"] == "energy-2026-03"]
    assert guard["month"] == "2026-05"


def work_order(world: World) -> dict[str, Any]:
    body = {"asset": world.asset, "type": "CORRECTIVE", "priority": "MEDIUM", "description": "Ruído"}
    return world.ok(world.api.post("/api/cmms/work-orders/", body), 201)  # type: ignore[no-any-return]


def test_linking_a_manual_row_to_another_work_order_moves_its_link(world: World) -> None:
    path = f"{TRANSACTIONS}{world.adjustment['id']}/"
    first, second = work_order(world), work_order(world)

    linked = world.ok(world.api.patch(path, {"work_order": first["id"]}))
    assert linked["work_order_id"] == first["id"] and linked["work_order_number"] == first["number"]
    assert world.ids(work_order=first["id"]) == [world.adjustment["id"]]
    world.ok(world.api.patch(path, {"work_order": second["id"]}))
    assert world.ids(work_order=first["id"]) == []
    assert world.ids(work_order=second["id"]) == [world.adjustment["id"]]


def test_a_manual_posting_links_only_to_an_existing_work_order(world: World) -> None:
    real = work_order(world)

    created = world.api.post(TRANSACTIONS, manual(work_order_id=real["id"]))
    missing = world.api.post(TRANSACTIONS, manual(work_order=4242))

    assert created.status == 201 and created.json["work_order_number"] == real["number"]
    assert world.ids(work_order=real["id"]) == [created.json["id"]]
    assert missing.status == 400 and "work_order" in missing.json


def test_an_adjustment_cannot_lose_its_reason(world: World) -> None:
    status, body = world.api.patch(f"{TRANSACTIONS}{world.adjustment['id']}/", {"description": "", "meta": {}})

    assert status == 400 and "description" in body


def test_automatic_postings_are_immutable(world: World, settings) -> None:
    labor = next(row for row in world.ok(world.api.get(TRANSACTIONS, query={"type": "labor"}))["results"])
    path = f"{TRANSACTIONS}{labor['id']}/"

    patched = world.api.patch(path, {"amount": 1})
    deleted = world.api.delete(path)

    assert (patched.status, deleted.status) == (409, 409)
    assert patched.json["code"] == "immutable"
    assert world.ok(world.api.get(path))["amount"] == "200.00"


def test_deleting_a_manual_row_takes_its_projection_and_key_with_it(world: World, settings) -> None:
    path = f"{TRANSACTIONS}{world.energy['id']}/"

    assert world.api.delete(path).status == 204

    assert world.api.get(path).status == 404
    assert ("2026-03", world.b, "energy") not in summary_actuals(settings, "acme")
    assert summary_actuals(settings, "acme") == ledger_actuals(settings, "acme")
    again = world.api.post(
        TRANSACTIONS, manual(transaction_type="energy", idempotency_key="energy-2026-03", description="x")
    )
    assert again.status == 201  # the key is free again


def test_a_stale_edit_is_409(world: World, settings, monkeypatch) -> None:
    repo = PostingRepository("acme", settings)
    stale = repo.get_transaction(world.energy["id"])
    world.ok(world.api.patch(f"{TRANSACTIONS}{world.energy['id']}/", {"amount": 90}))
    monkeypatch.setattr(PostingRepository, "get_transaction", lambda self, transaction_id: stale)

    status, body = world.api.patch(f"{TRANSACTIONS}{world.energy['id']}/", {"amount": 91})

    assert status == 409 and body["code"] == "conflict"
    assert summary_actuals(settings, "acme") == ledger_actuals(settings, "acme")


def test_the_work_order_costs_tab_reads_the_link_partition(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []
    for operation in ("query", "get_item", "scan", "batch_get_item"):
        original = getattr(Connection, operation)

        def recorded(
            self: Connection, *args: Any, _name: str = operation, _original: Any = original, **kwargs: Any
        ) -> Any:
            calls.append((_name, args[1] if len(args) > 1 else kwargs.get("hash_key")))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Connection, operation, recorded)

    body = world.ok(world.api.get(TRANSACTIONS, query={"work_order": 901, "page_size": 100}))

    assert body["count"] == 3
    assert {row["transaction_type"] for row in body["results"]} == {"labor", "parts", "third_party"}
    assert "scan" not in {name for name, _ in calls}
    # besides the tenant's own partition (its cost centres, month locks and registry rows), one
    # query: the work order's link partition; no ledger month partition is queried ...
    queries = [key for name, key in calls if name == "query" and key != "T#acme"]
    assert queries == ["T#acme#WO#00000901"]
    # ... its three postings are read by key
    read = [key for name, keys in calls if name == "batch_get_item" for key in keys]
    postings = [key for key in read if key["pk"].startswith("T#acme#LEDGER#")]
    assert {key["sk"].split("#")[1] for key in postings} == {row["id"] for row in body["results"]}
