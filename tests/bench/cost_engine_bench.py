"""Cost-engine benchmark: postings per second for `work_order.closed` events, on moto in-process,
against baselines measured in the same run on the same moto.

What is compared (all on one moto, one process, serial):
- engine:     `post_work_order_costs` for N events (3 postings each: labour priced half from
              entry rates and half from the rate card, parts, third party). Each event is one
              TransactWrite (month lock condition, 3 x (posting, key guard, work-order link,
              outbox event), summary and asset counters) after two reads (the tenant's time
              zone, the rate cards).
- naive:      one plain PutItem per posting — the ledger row only, no key, no lock, no
              projection, no event: what a non-idempotent engine would write.
- same items: every item the engine wrote, re-written as plain single-item PutItems — the
              same data without the transaction and without the reads.
- redelivery: 20 of the events again (every key already posted): the duplicate path — the
              transaction is refused by the key guards, then the guards and postings are read.
Ratios are engine / baseline (postings per second); also DynamoDB requests per event.

moto's TransactWriteItems deep-copies the whole table once per operation of the transaction
(a rollback snapshot); here that snapshot is taken once per transaction (identical content,
see `one_snapshot_per_transaction`) and the table has no stream (moto keeps stream records on
the table and copies them too). Even so a moto transaction costs O(table size), so absolute
figures say little about DynamoDB; the requests per event are the portable number.
"""

from __future__ import annotations

import copy
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import boto3
import botocore.client
from moto import mock_aws

from climatrak.core.config import Settings
from climatrak.core.items import bind_main_table
from climatrak.core.resources import MAIN_TABLE
from climatrak.core.timeutil import utc_now_iso
from climatrak.ledger.cost_engine import post_work_order_costs
from climatrak.ledger.items import CostCenterItem, LedgerKeys, RateCardItem
from climatrak.registry.logic import create_tenant
from climatrak_local.provision import create_table

REGION = "us-east-1"
TENANT = "bench"
EVENTS = 100
COST_CENTERS = 5
REDELIVERED = 20  # a duplicate costs a refused transaction: rare, and slow on moto
ENGINE_TABLE = "bench-cost-engine"
BASELINE_TABLE = "bench-baseline"


def closed_event(number: int) -> dict[str, Any]:
    """A work order with two labour lines (one priced by the rate card), two parts, one service."""
    return {
        "work_order_id": number,
        "work_order_number": f"OS-{number:06d}",
        "asset_id": number % 50 + 1,
        "asset_tag": f"CH-{number % 50 + 1:03d}",
        "cost_center_id": f"cc-{number % COST_CENTERS}",
        "work_order_type": "PREVENTIVE" if number % 2 else "CORRECTIVE",
        "category": "preventive" if number % 2 else "corrective",
        "completed_at": f"2026-03-{1 + number % 28:02d}T{number % 24:02d}:15:00Z",
        "labor": [
            {"time_entry_id": 2 * number, "role": "Técnico", "hours": "2.50", "hourly_rate": "80.00"},
            {"time_entry_id": 2 * number + 1, "role": "Eletricista", "hours": "1.25", "hourly_rate": None},
        ],
        "parts": [
            {"part_usage_id": number, "part_name": "Filtro", "quantity": "2.000", "unit": "UN", "unit_cost": "12.50"},
            {"part_usage_id": -number, "part_name": "Correia", "quantity": "1.000", "unit": "UN", "unit_cost": "48.90"},
        ],
        "third_party": [{"external_cost_id": number, "supplier_name": "Frio Service", "amount": "300.00"}],
    }


@contextmanager
def one_snapshot_per_transaction() -> Iterator[None]:
    """moto snapshots the table with `copy.deepcopy` once per transaction *item*, all before any
    item is applied (so the copies are identical): keep the first copy per table per call."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items
    cache: dict[int, Any] = {}

    class CachedCopy:
        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if not isinstance(value, Table):  # items (update_item's own copy) are copied as ever
                return copy.deepcopy(value, memo)
            key = id(value)
            if key not in cache:
                cache[key] = copy.deepcopy(value, memo)
            return cache[key]

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        cache.clear()
        try:
            return original(self, transact_items)
        finally:
            cache.clear()

    models.copy = CachedCopy()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        models.copy = copy  # type: ignore[assignment]
        models.DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]


@contextmanager
def _counting_requests() -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        counts[operation] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def _environment() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


def _rate_card(settings: Settings) -> None:
    keys = LedgerKeys(TENANT)
    now = utc_now_iso()
    card_id = str(uuid.uuid4())
    RateCardItem(
        keys.pk,
        keys.rate_card(card_id),
        id=card_id,
        role="Eletricista",
        cost_per_hour=Decimal("100.00"),
        effective_from="2026-01-01",
        created_at=now,
        updated_at=now,
    ).save()


def _cost_centers() -> None:
    """The cost centres the events name (`cc-0`..`cc-4`): a posting's transaction requires its
    cost centre to exist (and marks it in use)."""
    keys = LedgerKeys(TENANT)
    now = utc_now_iso()
    for number in range(COST_CENTERS):
        cost_center_id = f"cc-{number}"
        CostCenterItem(
            keys.pk,
            keys.cost_center(cost_center_id),
            id=cost_center_id,
            code=cost_center_id.upper(),
            name=f"Centro {number}",
            created_at=now,
            updated_at=now,
        ).save()


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def run(events: int = EVENTS) -> dict[str, Any]:
    saved = {name: os.environ.get(name) for name in [*_environment(), "AWS_ENDPOINT_URL"]}
    os.environ.update(_environment())
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws(), one_snapshot_per_transaction():
            return _run(events)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    return [item for page in dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]


def _empty(dynamodb: Any, table: str) -> None:
    for item in _scan(dynamodb, table):
        dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


def _write_only_transactions(written: list[dict[str, Any]], events: int) -> list[list[dict[str, Any]]]:
    """Per event, the engine's own writes as ONE unconditional TransactWriteItems and no reads:
    the postings, key guards, work-order links and outbox events as Puts, the summary and
    asset counters as ADD updates. What an engine that skipped every check would send."""
    by_event: dict[int, list[dict[str, Any]]] = {number: [] for number in range(1, events + 1)}
    counters: dict[int, dict[tuple[str, str], Decimal]] = {number: {} for number in by_event}
    for item in written:
        kind = item["kind"]["S"]
        if kind == "ledger_transaction":
            number = int(item["work_order_id"]["N"])
            summary_pk = f"T#{TENANT}#SUMMARY#{item['month']['S']}"
            rows = counters[number]
            row = (summary_pk, f"CC#{item['cost_center_id']['S']}#CAT#{item['category']['S']}")
            rows[row] = rows.get(row, Decimal(0)) + Decimal(item["amount"]["N"])
            asset = (summary_pk, f"ASSET#{int(item['asset_id']['N']):08d}")
            rows[asset] = rows.get(asset, Decimal(0)) + Decimal(item["amount"]["N"])
        elif kind == "ledger_key":
            number = int(item["sk"]["S"].split(":")[1])
        elif kind == "work_order_transaction":
            number = int(item["pk"]["S"].rsplit("#", 1)[1])
        elif kind == "outbox":
            number = int(item["envelope"]["M"]["data"]["M"]["work_order_id"]["N"])
        else:
            continue
        by_event[number].append({"Put": {"TableName": BASELINE_TABLE, "Item": item}})
    for number, rows in counters.items():
        for (pk, sk), amount in rows.items():
            by_event[number].append(
                {
                    "Update": {
                        "TableName": BASELINE_TABLE,
                        "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                        "UpdateExpression": "ADD actual :amount",
                        "ExpressionAttributeValues": {":amount": {"N": str(amount)}},
                    }
                }
            )
    return list(by_event.values())


def _run(events: int) -> dict[str, Any]:
    from climatrak.core.aws import reset_clients

    reset_clients()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for name in (ENGINE_TABLE, BASELINE_TABLE):
        create_table(dynamodb, replace(MAIN_TABLE, local_name=name, stream=False, ttl_attribute=None))
    settings = Settings(main_table=ENGINE_TABLE)
    bind_main_table(ENGINE_TABLE)
    create_tenant(settings, TENANT, "Bench HVAC", "America/Sao_Paulo")
    _rate_card(settings)
    _cost_centers()
    payloads = [closed_event(number) for number in range(1, events + 1)]

    with _counting_requests() as engine_requests:
        started = time.perf_counter()
        created = sum(post_work_order_costs(settings, TENANT, data).transactions_created for data in payloads)
        engine_s = time.perf_counter() - started
    assert created == 3 * events, created

    redelivered = payloads[:REDELIVERED]
    with _counting_requests() as duplicate_requests:
        started = time.perf_counter()
        again = sum(post_work_order_costs(settings, TENANT, data).transactions_created for data in redelivered)
        duplicate_s = time.perf_counter() - started
    assert again == 0, again

    written = _scan(dynamodb, ENGINE_TABLE)
    started = time.perf_counter()
    for operations in _write_only_transactions(written, events):
        dynamodb.transact_write_items(TransactItems=operations)
    write_only_s = time.perf_counter() - started

    _empty(dynamodb, BASELINE_TABLE)
    started = time.perf_counter()
    for item in (item for item in written if item["kind"]["S"] == "ledger_transaction"):
        dynamodb.put_item(TableName=BASELINE_TABLE, Item=item)
    naive_s = time.perf_counter() - started

    postings = 3 * events
    engine = _rate(postings, engine_s)
    write_only = _rate(postings, write_only_s)
    naive = _rate(postings, naive_s)
    return {
        "events": events,
        "postings": postings,
        "items_written": len(written),
        "engine_postings_per_s": engine,
        "write_only_postings_per_s": write_only,
        "naive_postings_per_s": naive,
        "redelivered": len(redelivered),
        "redelivery_events_per_s": _rate(len(redelivered), duplicate_s),
        "engine_vs_write_only": engine / write_only,
        "engine_vs_naive": engine / naive,
        "requests_per_event": {name: count / events for name, count in sorted(engine_requests.items())},
        "requests_per_redelivery": {
            name: count / len(redelivered) for name, count in sorted(duplicate_requests.items())
        },
    }


def report(figures: dict[str, Any]) -> None:
    """The lines `make bench` prints for the cost engine."""
    print("== Cost engine (moto in-process: see tests/bench/cost_engine_bench.py for what moto distorts) ==")
    events, postings, items = figures["events"], figures["postings"], figures["items_written"]
    print(f"{events} work_order.closed events -> {postings} postings, {items} items")
    print(f"engine (post_work_order_costs)    : {figures['engine_postings_per_s']:>8,.0f} postings/s")
    print(f"write-only: same writes, 1 plain  : {figures['write_only_postings_per_s']:>8,.0f} postings/s (baseline:")
    print("    TransactWriteItems per event, no reads, no conditions)")
    print(f"naive: 1 PutItem per posting      : {figures['naive_postings_per_s']:>8,.0f} postings/s (second baseline)")
    print(f"redelivered events (all posted)   : {figures['redelivery_events_per_s']:>8,.0f} events/s")
    print(f"  info engine / write-only = {figures['engine_vs_write_only']:.2f}  (the cost of the reads and conditions)")
    print(f"  info engine / naive      = {figures['engine_vs_naive']:.2f}")
    print(
        "  DynamoDB requests per event: " + ", ".join(f"{k} {v:.2f}" for k, v in figures["requests_per_event"].items())
    )
    redelivery = ", ".join(f"{k} {v:.2f}" for k, v in figures["requests_per_redelivery"].items())
    print(f"  ... per redelivered event:  {redelivery}")


if __name__ == "__main__":
    report(run())
