"""The scheduled no-data check: a sensor silent for a rule's `duration` raises an alert.

Run every minute (EventBridge schedule; locally the runtime's scheduler). The rules to check
come from the no-data watch index; a sensor's newest reading from its device's Telemetry items
within the window — so ingest writes nothing extra for this. The evaluation and its writes are
the ingest evaluator's (same state item, same transaction, same contention rule); data coming
back clears the alert, in ingest or here, whichever sees it first.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from climatrak.alerts.evaluation import MINUTE_MS, Clear, Condition, ConditionState, Transition, silence
from climatrak.alerts.evaluator import AlertEngine, Outcome, RuleSource
from climatrak.alerts.items import NO_DATA, NO_DATA_WATCH_INDEX_PK
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import iso_ms, now_ms, parse_iso, to_ms
from climatrak.telemetry.store import SENSOR_ATTRIBUTE_PREFIX

logger = Logger(service="alerts")

# Readings stamped slightly ahead of our clock still count as recent.
FUTURE_MARGIN_MS = 10 * MINUTE_MS
CHECK_CONCURRENCY = 8


class NoDataChecker:
    def __init__(
        self,
        dynamodb: Any,
        main_table: str,
        telemetry_table: str,
        engine: AlertEngine,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._dynamodb = dynamodb
        self._main = main_table
        self._telemetry = telemetry_table
        self._engine = engine
        self._rules = RuleSource(dynamodb, main_table, ttl_seconds=0)
        self._clock = clock

    def run(self) -> Outcome:
        """Every watched asset, CHECK_CONCURRENCY at a time (each is a few round trips)."""
        outcome = Outcome()
        now = self._clock()
        with ThreadPoolExecutor(max_workers=CHECK_CONCURRENCY, thread_name_prefix="no-data") as pool:
            checks = {
                pool.submit(self._check_asset, tenant, asset_id, now): (tenant, asset_id)
                for tenant, asset_id in self._watched()
            }
            for future, (tenant, asset_id) in checks.items():
                error = future.exception()
                if error is not None:  # one asset's failure must not stop the others' checks
                    logger.error(
                        "no-data check failed", extra={"tenant": tenant, "asset_id": asset_id, "error": repr(error)}
                    )
                    continue
                result = future.result()
                outcome.raised.extend(result.raised)
                outcome.resolved.extend(result.resolved)
        return outcome

    def _check_asset(self, tenant: str, asset_id: int, now: int) -> Outcome:
        rules = self._rules.asset_rules(tenant, asset_id)
        conditions = [c for c in rules.conditions if c.kind == NO_DATA]
        clients: dict[int, str | None] = {}

        def step(condition: Condition, state: ConditionState) -> tuple[ConditionState, list[Transition]]:
            device_id = condition.device_id
            if device_id is None:
                return state, []
            if device_id not in clients:
                clients[device_id] = self._client_id(tenant, device_id)
            client_id = clients[device_id]
            if client_id is None:
                return state, []
            since = now - condition.duration_ms
            if state.watermark >= since:  # ingest evaluated a reading inside the window
                return state, []
            # the Telemetry table too: a reading stored by a batch whose evaluation failed
            stored = self._newest_reading(tenant, client_id, condition.sensor, since, now)
            if stored is None:
                after, raised = silence(condition, state, now)
                return after, [raised] if raised else []
            if state.alert_id is not None and stored > state.watermark:  # data is back; ingest missed it
                return ConditionState(stored, None, None, state.last_fired), [Clear(stored, None, state.alert_id)]
            return state, []

        return self._engine.run(tenant, asset_id, conditions, step)

    def _watched(self) -> set[tuple[str, int]]:
        """The (tenant, asset) pairs with an enabled no-data rule, from the watch index."""
        watched: set[tuple[str, int]] = set()
        request: dict[str, Any] = {
            "TableName": self._main,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": NO_DATA_WATCH_INDEX_PK}},
        }
        while True:
            response = self._dynamodb.query(**request)
            for item in response.get("Items", []):
                watched.add((item["tenant"]["S"], int(item["asset_id"]["N"])))
            if not response.get("LastEvaluatedKey"):
                return watched
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _client_id(self, tenant: str, device_id: int) -> str | None:
        keys = TenantKeys(tenant)
        item = self._dynamodb.get_item(
            TableName=self._main,
            Key={"pk": {"S": keys.pk}, "sk": {"S": keys.entity("DEVICE", device_id)}},
            ProjectionExpression="mqtt_client_id",
        ).get("Item")
        return str(item["mqtt_client_id"]["S"]) if item else None

    def _newest_reading(self, tenant: str, client_id: str, sensor: str, since_ms: int, now: int) -> int | None:
        """The time of the sensor's newest reading since `since_ms`, None when it has none."""
        request: dict[str, Any] = {
            "TableName": self._telemetry,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "FilterExpression": "attribute_exists(#sensor)",
            "ExpressionAttributeNames": {"#sensor": SENSOR_ATTRIBUTE_PREFIX + sensor},
            "ExpressionAttributeValues": {
                ":pk": {"S": TenantKeys(tenant).telemetry(client_id)},
                ":from": {"S": iso_ms(since_ms)},
                ":to": {"S": iso_ms(now + FUTURE_MARGIN_MS)},
            },
            "ProjectionExpression": "sk",
            "ScanIndexForward": False,
        }
        while True:
            response = self._dynamodb.query(**request)
            items = response.get("Items", [])
            if items:
                return to_ms(parse_iso(items[0]["sk"]["S"]))
            if not response.get("LastEvaluatedKey"):
                return None
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
