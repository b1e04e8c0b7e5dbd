"""TrakLedger benchmark: budget-summary latency with 1,000 and with 100,000 ledger transactions
in one run, on moto in-process (target: ratio <= 1.2).

The ledger is seeded in bulk: raw TransactionItems (the production layout, checked against
PynamoDB's serialisation) written with BatchWriteItem, and the matching summary-projection rows
built by the same `ProjectionDeltas` the posting service uses, from the seeded amounts
aggregated per (month, cost centre, category) and per (month, asset); its updates are applied
one UpdateItem each (`ImmediateWrites`) since moto deep-copies the whole table for every item
of a TransactWriteItems. The bench checks that the summary equals the seeded ledger exactly,
month by month, before it measures anything.

The summary request goes through the real API handler (one Query of `T#{t}#SUMMARY#{YYYY-MM}`).
moto answers every Query by sorting ALL items of the table, so under plain moto any query's
latency grows with the table whatever the design; DynamoDB reads only the queried partition.
The headline figure therefore runs with moto's Query made partition-local (`partition_local`)
- the emulator behaving like DynamoDB, our code untouched - and the plain-moto figure is
printed beside it for information, with the items each summary reads (the same at both sizes).
Seeding also skips moto's per-attribute item-size re-measurement and the table stream (no
events here): emulator speed only, no effect on what is stored.

Hook it into `tests/bench/run.py`: `from tests.bench import ledger_summary_bench` and in
`main()`: `ledger_summary_bench.report(ledger_summary_bench.run())`.
Or alone: `python -m tests.bench.ledger_summary_bench` (about a minute).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import random
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from pynamodb.transactions import TransactWrite

TENANT = "bench"
YEAR = 2026
MONTH = f"{YEAR}-03"
COST_CENTERS = 5
ASSETS = 20
SMALL, LARGE = 1_000, 100_000
REPEAT = 60
RAW_REPEAT = 2
REGION = "us-east-1"
TYPES_CATEGORIES = (
    ("labor", "corrective"),
    ("labor", "preventive"),
    ("labor", "predictive"),
    ("parts", "parts"),
    ("third_party", "contracts"),
    ("third_party", "improvement"),
    ("energy", "energy"),
    ("adjustment", "other"),
)


def verdict(ok: bool) -> str:
    return "ok " if ok else "MISS"


# ---- moto -------------------------------------------------------------------------------------


@contextmanager
def moto_world() -> Iterator[Any]:
    """moto with the tables of core/resources.py, created as the local runtime creates them."""
    import boto3
    from moto import mock_aws

    from climatrak.core.resources import BUCKETS, TABLES
    from climatrak_local.provision import create_table

    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_DEV": "false",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **{spec.env_var: spec.local_name for spec in TABLES},
        **{spec.env_var: spec.local_name for spec in BUCKETS},
    }
    saved = {name: os.environ.get(name) for name in [*env, "AWS_ENDPOINT_URL"]}
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from climatrak.core.aws import reset_clients

    try:
        with mock_aws():
            reset_clients()
            client = boto3.client("dynamodb", region_name=REGION)
            # DynamoDB only, as the local runtime creates it but without the stream: the bench
            # emits no events, and moto copies every write into its stream.
            for table in TABLES:
                create_table(client, dataclasses.replace(table, stream=False))
            yield client
            reset_clients()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def partition_local() -> Iterator[None]:
    """Make moto's Query read only the queried partition, as DynamoDB does (moto sorts every
    item of the table on each Query). Base-table queries only; index queries are untouched."""
    from moto.dynamodb.models.table import Table

    original = Table.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition  # shadows the method for this call only
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = original  # type: ignore[method-assign]


# ---- seeding ----------------------------------------------------------------------------------


class Seeder:
    """Writes ledger transactions in bulk and the projection rows that count them.

    Transaction i books combination i mod (12 months x cost centres x categories) and asset
    i mod ASSETS, on a random day of that month (tenant time) with a random amount, so already
    the first 1,000 transactions touch every projection row the 100,000 touch: the two
    summaries read the same rows and differ only in the ledger beneath them."""

    def __init__(self, client: Any, table: str, cost_centers: list[str]) -> None:
        from climatrak.core.config import DEFAULT_TIMEZONE

        self.client = client
        self.table = table
        self.tz = DEFAULT_TIMEZONE
        self.rng = random.Random(3)
        self.combos = [
            (f"{YEAR}-{number:02d}", cost_center, category)
            for number in range(1, 13)
            for cost_center in cost_centers
            for _, category in TYPES_CATEGORIES
        ]
        self.type_of = {category: kind for kind, category in TYPES_CATEGORIES}
        self.seeded: dict[str, Decimal] = defaultdict(Decimal)  # month -> Σ amount
        self.count = 0

    def transactions(
        self, count: int
    ) -> tuple[list[dict[str, Any]], dict[tuple[str, str, str], Decimal], dict[tuple[str, int], Decimal]]:
        """Raw DynamoDB items (the TransactionItem layout: the first one is checked against
        PynamoDB's own serialisation) and the amounts per projection row."""
        from climatrak.core.timeutil import iso_ms, month_start, to_ms
        from climatrak.ledger.items import LedgerKeys, TransactionItem

        keys = LedgerKeys(TENANT)
        items: list[dict[str, Any]] = []
        rows: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        assets: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        starts = {month: to_ms(month_start(month, self.tz)) for month, _, _ in self.combos}
        for _ in range(count):
            index = self.count
            self.count += 1
            month, cost_center, category = self.combos[index % len(self.combos)]
            transaction_type = self.type_of[category]
            asset_id = index % ASSETS + 1
            tx_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            # a day 1..28 of the month, 08:00-18:00 tenant time
            occurred_at = iso_ms(starts[month] + (self.rng.randrange(28) * 24 + 8 + self.rng.randrange(10)) * 3_600_000)
            amount = Decimal(self.rng.randrange(100, 99_999)) / 100
            raw = {
                "pk": {"S": keys.ledger(month)},
                "sk": {"S": keys.transaction_sk(occurred_at, tx_id)},
                "kind": {"S": "ledger_transaction"},
                "id": {"S": tx_id},
                "month": {"S": month},
                "idempotency_key": {"S": f"wo:{index + 1}:{transaction_type}"},
                "transaction_type": {"S": transaction_type},
                "category": {"S": category},
                "amount": {"N": str(amount)},
                "currency": {"S": "BRL"},
                "occurred_at": {"S": occurred_at},
                "description": {"S": "seeded"},
                "meta": {"M": {"source": {"S": "bench"}}},
                "cost_center_id": {"S": cost_center},
                "asset_id": {"N": str(asset_id)},
                "work_order_id": {"N": str(index + 1)},
                "created_at": {"S": occurred_at},
                "updated_at": {"S": occurred_at},
                "gsi1pk": {"S": keys.transaction_index(tx_id)},
                "gsi1sk": {"S": "TX"},
                "version": {"N": "1"},
            }
            if not items:
                assert raw == TransactionItem.from_raw_data(raw).serialize(), "not the TransactionItem layout"
            items.append(raw)
            rows[(month, cost_center, category)] += amount
            assets[(month, asset_id)] += amount
            self.seeded[month] += amount
        return items, rows, assets

    def write(self, count: int) -> None:
        from climatrak.core.items import transaction_connection
        from climatrak.ledger.projection import ProjectionDeltas

        items, rows, assets = self.transactions(count)
        with cheap_item_size_checks():
            for start in range(0, len(items), 25):
                request = {self.table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
                while request:
                    request = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        # The projection rows, by the production writer (the same deltas and update actions).
        deltas = ProjectionDeltas(TENANT)
        for (month, cost_center, category), value in rows.items():
            deltas.add(month, cost_center, category, actual=value)
        for (month, asset_id), value in assets.items():
            deltas.add_asset(month, asset_id, value)
        deltas.write(ImmediateWrites(connection=transaction_connection()))


class ImmediateWrites(TransactWrite):
    """Seeding only: each update ProjectionDeltas adds is applied at once as its own UpdateItem
    (the same key and ADD actions as in a posting's transaction; here there is nothing to be
    atomic with). Never committed: nothing is queued."""

    def update(self, model: Any, actions: list[Any], condition: Any = None, *args: Any, **kwargs: Any) -> None:
        model.update(actions=actions, condition=condition)


@contextmanager
def cheap_item_size_checks() -> Iterator[None]:
    """Seeding only: moto re-measures the whole item on every attribute it sets (quadratic in
    attributes, ~1 ms per ledger item); our items are far below DynamoDB's 400 KB, so skip it."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    original = LimitedSizeDict.__setitem__
    LimitedSizeDict.__setitem__ = dict.__setitem__  # type: ignore[assignment]
    try:
        yield
    finally:
        LimitedSizeDict.__setitem__ = original  # type: ignore[method-assign]


# ---- measuring --------------------------------------------------------------------------------


def summary_event(month: str) -> dict[str, Any]:
    path = "/api/trakledger/budget-summary/"
    claims = {"custom:tenant_id": TENANT, "custom:role": "viewer", "custom:user_id": "1", "sub": "bench"}
    headers = {"Host": "bench", "X-Forwarded-Proto": "https"}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {"month": f"{month}-01"},
        "multiValueQueryStringParameters": {"month": [f"{month}-01"]},
        "pathParameters": {"proxy": path.removeprefix("/")},
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "GET",
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"claims": claims},
        },
        "body": None,
        "isBase64Encoded": False,
    }


class Context:
    function_name = "api"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:api"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def call_summary(month: str) -> dict[str, Any]:
    from functions.api.handler import handler

    response = handler(summary_event(month), Context())  # type: ignore[arg-type]
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])  # type: ignore[no-any-return]


def median_latency_s(month: str, repeat: int, warm_up: int = 5) -> float:
    gc.collect()
    for _ in range(warm_up):
        call_summary(month)
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call_summary(month)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def check_exact(seeder: Seeder, settings: Any) -> None:
    """The summary must equal the seeded ledger: every month exactly, and the API's figure."""
    from climatrak.core.money import money
    from tests.integration.ledger_world import projection_totals

    for number in range(1, 13):
        month = f"{YEAR}-{number:02d}"
        actual = projection_totals(settings, TENANT, month)["actual"]
        assert actual == money(seeder.seeded[month]), (month, actual, seeder.seeded[month])
    shown = Decimal(str(call_summary(MONTH)["actual"]))
    assert shown == money(seeder.seeded[MONTH]), (shown, seeder.seeded[MONTH])


def items_in(client: Any, table: str, pk: str, prefix: str | None = None) -> int:
    condition, values = "pk = :pk", {":pk": {"S": pk}}
    if prefix:
        condition, values = condition + " AND begins_with(sk, :prefix)", {**values, ":prefix": {"S": prefix}}
    pages = client.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression=condition, ExpressionAttributeValues=values, Select="COUNT"
    )
    return sum(int(page["Count"]) for page in pages)


def run() -> dict[str, Any]:
    began = time.perf_counter()
    with moto_world() as client:
        from climatrak.core.config import Settings
        from climatrak.ledger.items import LedgerKeys, ensure_default_cost_center
        from climatrak.registry.logic import create_tenant
        from functions.api.dependencies import settings as api_settings

        api_settings.cache_clear()
        settings = Settings.from_env()
        create_tenant(settings, TENANT, "Bench", "America/Sao_Paulo")
        ensure_default_cost_center(TENANT)
        cost_centers = [str(uuid.UUID(int=n + 1, version=4)) for n in range(COST_CENTERS)]
        seeder = Seeder(client, settings.main_table, cost_centers)
        keys = LedgerKeys(TENANT)
        figures: dict[str, Any] = {}
        for label, total in (("small", SMALL), ("large", LARGE)):
            seeding = time.perf_counter()
            seeder.write(total - seeder.count)
            figures[f"{label}_seed_s"] = time.perf_counter() - seeding
            with partition_local():
                check_exact(seeder, settings)
                figures[f"{label}_latency_s"] = median_latency_s(MONTH, REPEAT)
                figures[f"{label}_month_ledger_items"] = items_in(client, settings.main_table, keys.ledger(MONTH))
                figures[f"{label}_summary_items_read"] = items_in(
                    client, settings.main_table, keys.summary(MONTH), "CC#"
                )
            figures[f"{label}_raw_moto_latency_s"] = median_latency_s(MONTH, RAW_REPEAT, warm_up=0)
            figures[f"{label}_transactions"] = seeder.count
        api_settings.cache_clear()
    figures["ratio"] = figures["large_latency_s"] / figures["small_latency_s"]
    figures["raw_moto_ratio"] = figures["large_raw_moto_latency_s"] / figures["small_raw_moto_latency_s"]
    figures["summary_actual_matches_ledger"] = True  # check_exact raised otherwise
    figures["elapsed_s"] = time.perf_counter() - began
    return figures


def report(figures: dict[str, Any]) -> None:
    print("== TrakLedger budget summary ==")
    for label in ("small", "large"):
        latency, raw = figures[f"{label}_latency_s"] * 1000, figures[f"{label}_raw_moto_latency_s"] * 1000
        print(
            f"{figures[f'{label}_transactions']:>8,} transactions: summary p50 "
            f"{latency:7.2f} ms  (plain moto {raw:8.2f} ms); "
            f"reads {figures[f'{label}_summary_items_read']} projection rows, "
            f"{figures[f'{label}_month_ledger_items']:,} postings in {MONTH} untouched "
            f"(seeded in {figures[f'{label}_seed_s']:.1f} s)"
        )
    print("  summary.actual == Σ seeded ledger, every month, exactly: yes")
    ratio = figures["ratio"]
    print(f"  {verdict(ratio <= 1.2)} latency 100k / 1k = {ratio:.2f} (target <= 1.2; moto Query partition-local)")
    print(f"  info plain moto ratio = {figures['raw_moto_ratio']:.2f} (moto sorts the whole table on every Query)")
    print(f"  info bench time {figures['elapsed_s']:.0f} s")


if __name__ == "__main__":
    report(run())
