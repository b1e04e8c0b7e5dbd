"""DynamoDB writes of the ingest pipeline (low-level client: this is the hot path).

Write units are the largest variable cost of ingest, so:
- one Telemetry item per (device, reading time) carries every sensor read at that time;
  `SET` on `s:{tag}` attributes makes a redelivery rewrite the same values (stored once);
- a sensor's latest value is written at most once per batch, and only when newer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from botocore.exceptions import ClientError

from climatrak.core.dynamo import batch_get
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import iso_ms

SENSOR_ATTRIBUTE_PREFIX = "s:"


class LatestReading(Protocol):
    """A sensor's newest reading (a parsing.Reading fits)."""

    @property
    def ts_ms(self) -> int: ...
    @property
    def value(self) -> float: ...


@dataclass(frozen=True, slots=True)
class NewSensor:
    tag: str
    metric_type: str
    unit: str | None
    latest: LatestReading


def _number(value: float) -> dict[str, str]:
    return {"N": repr(value)}  # a float's repr ("7.0", "1e-05") is a valid DynamoDB number


_VALUE_NAMES = tuple(f":v{index}" for index in range(1024))


@lru_cache(maxsize=65536)
def _telemetry_pk(tenant: str, client_id: str) -> str:
    return TenantKeys(tenant).telemetry(client_id)


@lru_cache(maxsize=4096)
def _update_shape(tags: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """UpdateExpression and attribute names for a set of sensors (a device sends the same set
    message after message, so this is built once)."""
    names = {"#ttl": "expires_at"}
    assignments = ["#ttl = :ttl"]
    for index, tag in enumerate(tags):
        names[f"#s{index}"] = SENSOR_ATTRIBUTE_PREFIX + tag
        assignments.append(f"#s{index} = :v{index}")
    return "SET " + ", ".join(assignments), names


class TelemetryStore:
    def __init__(self, dynamodb: Any, telemetry_table: str, main_table: str, ttl_days: int) -> None:
        self._dynamodb = dynamodb
        self._telemetry_table = telemetry_table
        self._main_table = main_table
        self._ttl_seconds = ttl_days * 86400

    def put_readings(self, tenant: str, client_id: str, ts_ms: int, values: dict[str, float]) -> None:
        """Merge one device's readings at one instant into its Telemetry item."""
        expression, names = _update_shape(tuple(values))
        values_ = values.values()
        attribute_values = {name: {"N": repr(v)} for name, v in zip(_VALUE_NAMES, values_, strict=False)}
        attribute_values[":ttl"] = {"N": str(ts_ms // 1000 + self._ttl_seconds)}
        self._dynamodb.update_item(
            TableName=self._telemetry_table,
            Key={"pk": {"S": _telemetry_pk(tenant, client_id)}, "sk": {"S": iso_ms(ts_ms)}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
        )

    def update_latest(self, tenant: str, device_id: int, tag: str, latest: LatestReading) -> bool:
        """Set the sensor's latest value if this reading is newer. False when it was not."""
        keys = TenantKeys(tenant)
        try:
            self._dynamodb.update_item(
                TableName=self._main_table,
                Key={"pk": {"S": keys.pk}, "sk": {"S": keys.sensor(device_id, tag)}},
                UpdateExpression="SET last_value = :v, last_reading_at = :ts",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(last_reading_at) "
                "OR last_reading_at < :ts)",
                ExpressionAttributeValues={":v": _number(latest.value), ":ts": {"S": iso_ms(latest.ts_ms)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def touch_device(self, tenant: str, device_id: int, ts_ms: int) -> None:
        """Record the device's newest reading time (`last_seen`), never moving it backwards."""
        keys = TenantKeys(tenant)
        try:
            self._dynamodb.update_item(
                TableName=self._main_table,
                Key={"pk": {"S": keys.pk}, "sk": {"S": keys.entity("DEVICE", device_id)}},
                UpdateExpression="SET last_seen = :ts",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(last_seen) OR last_seen < :ts)",
                ExpressionAttributeValues={":ts": {"S": iso_ms(ts_ms)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def existing_sensors(self, tenant: str, device_id: int, tags: Iterable[str]) -> set[str]:
        """Which of `tags` already exist as sensors of the device."""
        keys = TenantKeys(tenant)
        requested = [{"pk": {"S": keys.pk}, "sk": {"S": keys.sensor(device_id, tag)}} for tag in sorted(set(tags))]
        return {item["tag"]["S"] for item in batch_get(self._dynamodb, self._main_table, requested, "tag")}

    def create_sensors(
        self, tenant: str, device_id: int, asset_id: int | None, sensors: list[NewSensor], created_ms: int
    ) -> None:
        """Create sensors seen for the first time, with their first latest value.

        Ids come from the tenant's sensor counter in one block; a sensor created concurrently
        by another batch wins the conditional put (its reading then goes through update_latest).
        """
        if not sensors:
            return
        keys = TenantKeys(tenant)
        response = self._dynamodb.update_item(
            TableName=self._main_table,
            Key={"pk": {"S": keys.pk}, "sk": {"S": "COUNTER#sensor"}},
            UpdateExpression="ADD #value :n",
            ExpressionAttributeNames={"#value": "value"},
            ExpressionAttributeValues={":n": {"N": str(len(sensors))}},
            ReturnValues="UPDATED_NEW",
        )
        last_id = int(response["Attributes"]["value"]["N"])
        created_at = iso_ms(created_ms)
        for offset, sensor in enumerate(sensors):
            item: dict[str, Any] = {
                "pk": {"S": keys.pk},
                "sk": {"S": keys.sensor(device_id, sensor.tag)},
                "kind": {"S": "sensor"},
                "id": {"N": str(last_id - len(sensors) + 1 + offset)},
                "tag": {"S": sensor.tag},
                "device_id": {"N": str(device_id)},
                "metric_type": {"S": sensor.metric_type},
                "last_value": _number(sensor.latest.value),
                "last_reading_at": {"S": iso_ms(sensor.latest.ts_ms)},
                "created_at": {"S": created_at},
                "updated_at": {"S": created_at},
            }
            if sensor.unit:
                item["unit"] = {"S": sensor.unit}
            if asset_id is not None:
                item["asset_id"] = {"N": str(asset_id)}
                item["gsi1pk"] = {"S": keys.asset_index(asset_id)}
                item["gsi1sk"] = {"S": f"SENSOR#{sensor.tag}"}
            try:
                self._dynamodb.put_item(
                    TableName=self._main_table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                self.update_latest(tenant, device_id, sensor.tag, sensor.latest)
