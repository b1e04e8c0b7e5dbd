"""Invoking handlers in-process the way Lambda does: imported lazily, with a context object."""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]
# A handler is named by its dotted path ("functions.api.handler.handler") or given directly.
HandlerRef = str | Handler

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: int = 60
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_imported: dict[str, Handler] = {}
_import_lock = threading.Lock()


def resolve_handler(ref: HandlerRef) -> Handler:
    """Import `package.module.function` on first use: handlers read settings when imported."""
    if not isinstance(ref, str):
        return ref
    with _import_lock:
        if ref not in _imported:
            module_name, _, attribute = ref.rpartition(".")
            if not module_name:
                raise ValueError(f"handler {ref!r} is not a dotted path module.function")
            module = importlib.import_module(module_name)
            _imported[ref] = getattr(module, attribute)
        return _imported[ref]
