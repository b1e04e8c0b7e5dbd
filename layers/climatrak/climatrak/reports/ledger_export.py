"""The ledger in the lake: a business month's postings as one Parquet object, rewritten by every
daily run of that month (so the file always equals the ledger; a locked month stops changing)."""

from __future__ import annotations

from typing import Any

from climatrak.core.resources import LEDGER_TRANSACTIONS_TABLE
from climatrak.core.timeutil import parse_iso
from climatrak.ledger.posting_repository import PostingRepository
from climatrak.reports.lake_objects import arrow_schema, write_rows

PAGE = 500


def ledger_key(tenant: str, month: str) -> str:
    return f"{LEDGER_TRANSACTIONS_TABLE.prefix}/tenant={tenant}/month={month}/part-0000.parquet"


def export_month(settings: Any, s3: Any, tenant: str, month: str) -> tuple[str, int]:
    """Write the month's postings (in the ledger's own order); returns (key, rows)."""
    repo = PostingRepository(tenant, settings)
    state = repo.month_states().get(month)
    locked = bool(state and state.locked)
    rows = [
        {
            "id": str(item.id),
            "occurred_at": parse_iso(str(item.occurred_at)),
            "transaction_type": str(item.transaction_type),
            "category": str(item.category),
            "amount": item.amount,
            "currency": str(item.currency),
            "cost_center_id": str(item.cost_center_id),
            "asset_id": int(item.asset_id) if item.asset_id is not None else None,
            "work_order_id": int(item.work_order_id) if item.work_order_id is not None else None,
            "description": str(item.description or ""),
            "idempotency_key": item.idempotency_key,
            "is_locked": locked,
            "created_at": parse_iso(str(item.created_at)),
        }
        for item in repo.query_month(month, None, None, descending=False, page_size=PAGE)
    ]
    key = write_rows(s3, settings.lake_bucket, ledger_key(tenant, month), rows, arrow_schema(LEDGER_TRANSACTIONS_TABLE))
    return key, len(rows)
