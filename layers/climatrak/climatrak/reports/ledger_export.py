"""The ledger in the lake: a business month's postings as one Parquet object, rewritten by every
daily run of that month (so the file always equals the ledger; a locked month stops changing)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from climatrak.core.resources import LEDGER_TRANSACTIONS_TABLE
from climatrak.ledger.posting_repository import PostingRepository

_TIMESTAMP = pa.timestamp("ms", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("occurred_at", _TIMESTAMP, nullable=False),
        pa.field("transaction_type", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("amount", pa.decimal128(18, 2), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("cost_center_id", pa.string(), nullable=False),
        pa.field("asset_id", pa.int64()),
        pa.field("work_order_id", pa.int64()),
        pa.field("description", pa.string()),
        pa.field("idempotency_key", pa.string()),
        pa.field("is_locked", pa.bool_(), nullable=False),
        pa.field("created_at", _TIMESTAMP, nullable=False),
    ]
)
PAGE = 500


def ledger_key(tenant: str, month: str) -> str:
    return f"{LEDGER_TRANSACTIONS_TABLE.prefix}/tenant={tenant}/month={month}/part-0000.parquet"


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def export_month(settings: Any, s3: Any, tenant: str, month: str) -> tuple[str, int]:
    """Write the month's postings (in the ledger's own order); returns (key, rows)."""
    repo = PostingRepository(tenant, settings)
    state = repo.month_states().get(month)
    locked = bool(state and state.locked)
    rows = [
        {
            "id": str(item.id),
            "occurred_at": _instant(str(item.occurred_at)),
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
            "created_at": _instant(str(item.created_at)),
        }
        for item in repo.query_month(month, None, None, descending=False, page_size=PAGE)
    ]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), buffer, compression="zstd")
    key = ledger_key(tenant, month)
    s3.put_object(Bucket=settings.lake_bucket, Key=key, Body=buffer.getvalue())
    return key, len(rows)
