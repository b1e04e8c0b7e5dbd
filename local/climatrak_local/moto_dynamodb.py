"""moto's DynamoDB made safe for the local runtime's (and the tests') threads.

moto's TransactWriteItems deep-copies every table it touches before applying the transaction
(to restore it on failure); a write to one of those tables from another thread meanwhile makes
the copy fail ("dictionary changed size during iteration"). AWS has no such limit, and the
handlers write in parallel (ingest's writer threads, the API, the consumers), so locally the
writes to the tables that take part in transactions (the Main table) share one lock. Writes to
the other tables (the Telemetry table's many per batch) and all reads go on unlocked.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_lock = threading.RLock()
_guarded: set[str] = set()
_installed = False


def serialise_writes(transactional_tables: Iterable[str]) -> None:
    """Wraps moto's DynamoDB writes (once per process): transactions, and the single-item writes
    to `transactional_tables`, take one process-wide lock."""
    global _installed  # noqa: PLW0603 - a process-wide patch, applied once
    _guarded.update(transactional_tables)
    if _installed:
        return
    for name in ("put_item", "update_item", "delete_item"):
        single = getattr(DynamoDBBackend, name)

        @functools.wraps(single)
        def locked_single(self: Any, table_name: str, *args: Any, _original: Any = single, **kwargs: Any) -> Any:
            if table_name not in _guarded:
                return _original(self, table_name, *args, **kwargs)
            with _lock:
                return _original(self, table_name, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked_single)
    transact = DynamoDBBackend.transact_write_items

    @functools.wraps(transact)
    def locked_transaction(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            return transact(self, *args, **kwargs)

    DynamoDBBackend.transact_write_items = locked_transaction  # type: ignore[method-assign]
    _installed = True
