"""moto's DynamoDB made safe for the local runtime's (and the tests') threads.

moto's TransactWriteItems deep-copies every table it touches before applying the transaction
(to restore it on failure); a write to one of those tables from another thread meanwhile makes
the copy fail ("dictionary changed size during iteration"). AWS has no such limit, and the
handlers write in parallel (ingest's writer threads, the API, the consumers), so locally every
DynamoDB write — transactions included — takes one lock. Reads are unaffected.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_lock = threading.RLock()
_installed = False


def serialise_writes() -> None:
    """Idempotent: wraps moto's DynamoDB write operations with one process-wide lock."""
    global _installed  # noqa: PLW0603 - a process-wide patch, applied once
    if _installed:
        return
    for name in _WRITES:
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    _installed = True
