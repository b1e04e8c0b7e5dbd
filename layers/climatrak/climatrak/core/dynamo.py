"""Low-level DynamoDB helpers shared by the hot paths that skip PynamoDB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

BATCH_GET_LIMIT = 100


def batch_get(
    dynamodb: Any,
    table: str,
    keys: list[dict[str, Any]],
    projection: str | None = None,
    names: dict[str, str] | None = None,
    consistent: bool = False,
) -> Iterator[dict[str, Any]]:
    """Items for `keys` (typed attribute values), 100 keys a call, following UnprocessedKeys
    with a short backoff (DynamoDB returns them under load instead of failing)."""
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        request: dict[str, Any] = {"Keys": keys[start : start + BATCH_GET_LIMIT]}
        if projection:
            request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = names
        if consistent:
            request["ConsistentRead"] = True
        pending: dict[str, Any] = {table: request}
        attempt = 0
        while pending:
            if attempt:
                time.sleep(min(0.05 * 2**attempt, 1.0))
            response = dynamodb.batch_get_item(RequestItems=pending)
            yield from response.get("Responses", {}).get(table, [])
            pending = response.get("UnprocessedKeys") or {}
            attempt += 1
