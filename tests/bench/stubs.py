"""AWS stand-ins for benchmarks: they answer instantly and count requests and write units."""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import Executor, Future
from typing import Any

from climatrak.telemetry.directory import DeviceBinding, DeviceDirectory


def _size(value: Any) -> int:
    """Approximate DynamoDB size of a typed attribute value."""
    if isinstance(value, dict):
        ((kind, inner),) = value.items()
        if kind in ("S", "N", "B"):
            return len(str(inner))
        if kind == "M":
            return 3 + sum(len(k) + _size(v) for k, v in inner.items())
        if kind == "L":
            return 3 + sum(_size(v) for v in inner)
    return 1


def _item_size(item: dict[str, Any]) -> int:
    return sum(len(name) + _size(value) for name, value in item.items())


class RecordingAws:
    """A DynamoDB and S3 client in one: records every call, answers like AWS would."""

    def __init__(self, count_write_units: bool = True) -> None:
        self.requests: Counter[str] = Counter()
        self.write_units = 0
        self.existing: set[str] = set()
        self.stored: dict[tuple[str, str], dict[str, Any]] = {}
        # sizing items costs CPU: off when the benchmark measures the handler's own CPU
        self._count_write_units = count_write_units

    def _write(self, operation: str, request: dict[str, Any], item: dict[str, Any]) -> None:
        self.requests[operation] += 1
        if self._count_write_units:
            names = request.get("ExpressionAttributeNames", {})
            values = request.get("ExpressionAttributeValues", {})
            size = _item_size(item) + sum(len(n) for n in names.values()) + sum(_size(v) for v in values.values())
            self.write_units += max(1, math.ceil(size / 1024))

    def update_item(self, **request: Any) -> dict[str, Any]:
        self._write("dynamodb:UpdateItem", request, request["Key"])
        if request.get("ReturnValues") == "UPDATED_NEW":
            return {"Attributes": {"value": {"N": "1000"}}}
        return {}

    def put_item(self, **request: Any) -> dict[str, Any]:
        item = request["Item"]
        self._write("dynamodb:PutItem", request, item)
        self.existing.add(item["sk"]["S"])
        self.stored[(item["pk"]["S"], item["sk"]["S"])] = item
        return {}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests["dynamodb:BatchGetItem"] += 1
        responses = {}
        for table, request in RequestItems.items():
            found = [k for k in request["Keys"] if k["sk"]["S"] in self.existing]
            responses[table] = [{**k, "tag": {"S": k["sk"]["S"].split("#", 2)[2]}} for k in found]
        return {"Responses": responses}

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.requests["dynamodb:GetItem"] += 1
        key = request["Key"]
        item = self.stored.get((key["pk"]["S"], key["sk"]["S"]))
        return {"Item": item} if item else {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        """Applies the Puts (conditions are not checked: one writer) so state reads see them."""
        self.requests["dynamodb:TransactWriteItems"] += 1
        for entry in TransactItems:
            ((_, request),) = entry.items()
            self._write("dynamodb:TransactItem", request, request.get("Item") or request["Key"])
            item = request.get("Item")
            if item is not None:
                self.stored[(item["pk"]["S"], item["sk"]["S"])] = item
        return {}

    def put_object(self, **request: Any) -> dict[str, Any]:
        self.requests["s3:PutObject"] += 1
        return {}


class StaticDirectory(DeviceDirectory):
    """Device bindings known up front (the cache a warm ingest container has)."""

    def __init__(self, bindings: list[DeviceBinding], timezone: str = "America/Sao_Paulo") -> None:
        super().__init__(dynamodb=None, main_table="unused")
        self._static = {(b.tenant, b.client_id): b for b in bindings}
        self._timezone = timezone

    def bindings(self, tenant: str, client_ids: Any, fresh: bool = False) -> dict[str, DeviceBinding]:
        return {c: self._static[(tenant, c)] for c in client_ids if (tenant, c) in self._static}

    def timezone(self, tenant: str) -> str | None:
        return self._timezone


class InlineExecutor(Executor):
    """Runs submitted work at once, in the caller's thread: CPU figures without thread noise."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future
