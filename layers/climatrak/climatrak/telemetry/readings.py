"""Reads of recent telemetry (the Telemetry table) for one tenant."""

from __future__ import annotations

from typing import Any

from climatrak.core.dynamo import batch_get
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import iso_ms, parse_iso, to_ms
from climatrak.telemetry.history import Point
from climatrak.telemetry.store import SENSOR_ATTRIBUTE_PREFIX

_PREFIX_LENGTH = len(SENSOR_ATTRIBUTE_PREFIX)
# Enough items to find every sensor of a device that reports each minute over the last hour
# and a half (about 2 read units): sensors older than that show their stored latest value.
NEWEST_ITEMS = 90


class ReadingRepository:
    def __init__(self, dynamodb: Any, telemetry_table: str, main_table: str, tenant: str) -> None:
        self._dynamodb = dynamodb
        self._telemetry_table = telemetry_table
        self._main_table = main_table
        self._keys = TenantKeys(tenant)

    def points(self, client_id: str, since_ms: int, until_ms: int, sensor_ids: set[str] | None) -> list[Point]:
        """A device's readings in [from, to], optionally only some sensors."""
        points: list[Point] = []
        request: dict[str, Any] = {
            "TableName": self._telemetry_table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {
                ":pk": {"S": self._keys.telemetry(client_id)},
                ":from": {"S": iso_ms(since_ms)},
                ":to": {"S": iso_ms(until_ms)},
            },
        }
        while True:
            response = self._dynamodb.query(**request)
            for item in response.get("Items", []):
                ts_ms = to_ms(parse_iso(item["sk"]["S"]))
                for name, value in item.items():
                    if not name.startswith(SENSOR_ATTRIBUTE_PREFIX):
                        continue
                    sensor = name[_PREFIX_LENGTH:]
                    if sensor_ids is None or sensor in sensor_ids:
                        points.append(Point(sensor, ts_ms, float(value["N"])))
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return points
            request["ExclusiveStartKey"] = last_key

    def newest(self, client_id: str, items: int = NEWEST_ITEMS) -> tuple[int | None, dict[str, tuple[int, float]]]:
        """The device's newest reading time and, per sensor, its newest (time, value) among the
        last `items` Telemetry items: the always-current latest values that readers overlay on
        the sensor items (which ingest refreshes about once an hour)."""
        response = self._dynamodb.query(
            TableName=self._telemetry_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": self._keys.telemetry(client_id)}},
            ScanIndexForward=False,
            Limit=items,
        )
        newest_ts: int | None = None
        values: dict[str, tuple[int, float]] = {}
        for item in response.get("Items", []):
            ts_ms = to_ms(parse_iso(item["sk"]["S"]))
            newest_ts = ts_ms if newest_ts is None else max(newest_ts, ts_ms)
            for name, value in item.items():
                if name.startswith(SENSOR_ATTRIBUTE_PREFIX):
                    tag = name[_PREFIX_LENGTH:]
                    if tag not in values:  # newest first: the first sighting is the latest
                        values[tag] = (ts_ms, float(value["N"]))
        return newest_ts, values

    def device_exists(self, client_id: str) -> bool:
        response = self._dynamodb.get_item(
            TableName=self._main_table,
            Key={"pk": {"S": self._keys.pk}, "sk": {"S": self._keys.device_client(client_id)}},
            ProjectionExpression="pk",
        )
        return "Item" in response

    def asset_client_ids(self, asset_tag: str) -> list[str] | None:
        """MQTT client ids of the devices whose sensors belong to the asset; None if no such asset."""
        guard = self._dynamodb.get_item(
            TableName=self._main_table,
            Key={"pk": {"S": self._keys.pk}, "sk": {"S": self._keys.asset_tag(asset_tag)}},
        ).get("Item")
        if not guard:
            return None
        asset_id = int(guard["asset_id"]["N"])
        device_ids: set[int] = set()
        request: dict[str, Any] = {
            "TableName": self._main_table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": self._keys.asset_index(asset_id)}},
            "ProjectionExpression": "device_id",
        }
        while True:
            response = self._dynamodb.query(**request)
            device_ids.update(int(item["device_id"]["N"]) for item in response.get("Items", []) if "device_id" in item)
            if not response.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        keys = [{"pk": {"S": self._keys.pk}, "sk": {"S": self._keys.entity("DEVICE", d)}} for d in sorted(device_ids)]
        devices = batch_get(self._dynamodb, self._main_table, keys, "mqtt_client_id")
        return sorted(item["mqtt_client_id"]["S"] for item in devices)
