"""boto3 clients. Endpoints come from the standard AWS_ENDPOINT_URL variables, which the
local runtime points at its moto server; on AWS they are unset."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


@cache
def client(service: str) -> Any:
    """One client per service per process: clients are thread-safe and costly to build."""
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests and the local runtime switch endpoints)."""
    client.cache_clear()
