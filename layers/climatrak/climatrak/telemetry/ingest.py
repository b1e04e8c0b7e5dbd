"""The ingest pipeline: one queue batch in, readings in DynamoDB and the lake out.

Bad input never blocks good input: a message or reading that cannot be accepted goes to the
quarantine with its reason and the rest of the batch goes on. Only a failed write fails a
message (it is then redelivered; every write here is idempotent, so nothing doubles).
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from climatrak.alerts.evaluator import AlertEvaluator, AssetReadings
from climatrak.core.timeutil import LocalDay, now_ms
from climatrak.telemetry.directory import DeviceBinding, DeviceDirectory
from climatrak.telemetry.envelope import EnvelopeError, IngestMessage, decode
from climatrak.telemetry.lake import LakeWriter, RawColumns, batch_digest
from climatrak.telemetry.parsing import PayloadError, Reading, Rejected, parse_payload
from climatrak.telemetry.store import NewSensor, TelemetryStore

logger = Logger(service="ingest")

UNKNOWN_TENANT = "_unknown"
# The stored latest value of a sensor (and a device's last_seen) is refreshed at most this
# often per container: readers overlay the newest Telemetry items, which are always current,
# so the write that would double ingest's cost per message is only a fallback.
LATEST_REFRESH_MS = 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class QueueRecord:
    message_id: str
    body: str
    sent_at_ms: int


@dataclass(frozen=True)
class IngestLimits:
    max_future_ms: int
    max_age_ms: int


@dataclass
class BatchResult:
    failed_message_ids: set[str] = field(default_factory=set)
    messages: int = 0
    readings: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    lake_objects: list[str] = field(default_factory=list)
    quarantine_objects: list[str] = field(default_factory=list)
    alerts_raised: list[int] = field(default_factory=list)
    alerts_resolved: list[int] = field(default_factory=list)


@dataclass
class _DeviceBatch:
    """What one device contributed to the batch."""

    binding: DeviceBinding
    message_ids: set[str] = field(default_factory=set)
    # reading time -> {sensor tag: value}: one Telemetry item each
    instants: dict[int, dict[str, float]] = field(default_factory=dict)
    latest: dict[str, Reading] = field(default_factory=dict)
    newest_ts: int = -1


@dataclass
class _TenantBatch:
    tenant: str
    local_day: LocalDay
    days: dict[str, RawColumns] = field(default_factory=dict)
    day_messages: dict[str, set[str]] = field(default_factory=dict)
    devices: dict[str, _DeviceBatch] = field(default_factory=dict)


class _Quarantine:
    """Rejected input of one batch, with reasons, grouped into one object per (tenant, UTC day of
    receipt): a redelivered batch writes the same objects again."""

    def __init__(self, now: int, counts: Counter[str]) -> None:
        self._now = now
        self._utc = LocalDay("UTC")
        self._counts = counts
        self.records: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def envelope(self, message_id: str, received_at_ms: int, reason: str, detail: str) -> None:
        record = {"message_id": message_id, "received_at": received_at_ms, "reason": reason, "detail": detail}
        self._counts[reason] += 1
        self._add(UNKNOWN_TENANT, record)

    def message(self, tenant: str, message: IngestMessage, reason: str, detail: str = "") -> None:
        self._counts[reason] += 1
        self._add(tenant, {**_message_context(message), "reason": reason, "detail": detail})

    def readings(self, tenant: str, message: IngestMessage, rejected: list[Rejected]) -> None:
        """Per-reading rejects; the message's other readings were accepted."""
        for item in rejected:
            self._counts[item.reason] += 1
        record = {
            **_message_context(message),
            "reason": "rejected_readings",
            "detail": f"{len(rejected)} reading(s) rejected",
            "readings": [{"sensor": r.sensor, "reason": r.reason, "detail": r.detail} for r in rejected],
        }
        self._add(tenant, record)

    def _add(self, tenant: str, record: dict[str, Any]) -> None:
        day = self._utc.of(record["received_at"] or self._now)
        self.records.setdefault((tenant, day), []).append({**record, "quarantined_at": self._now})


class IngestService:
    def __init__(
        self,
        directory: DeviceDirectory,
        store: TelemetryStore,
        lake: LakeWriter,
        limits: IngestLimits,
        executor: ThreadPoolExecutor,
        alerts: AlertEvaluator | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._directory = directory
        self._alerts = alerts
        self._store = store
        self._lake = lake
        self._limits = limits
        self._executor = executor
        self._clock = clock
        self._known_sensors: set[tuple[str, int, str]] = set()
        # (tenant, device id, sensor tag or "") -> reading time last written by this container
        self._refreshed: dict[tuple[str, int, str], int] = {}

    def process(self, records: Iterable[QueueRecord]) -> BatchResult:
        result = BatchResult()
        now = self._clock()
        quarantine = _Quarantine(now, result.rejected)
        messages: list[IngestMessage] = []
        for record in records:
            result.messages += 1
            try:
                messages.append(decode(record.body, record.message_id, record.sent_at_ms))
            except EnvelopeError as error:
                quarantine.envelope(record.message_id, record.sent_at_ms, error.reason, error.detail)

        tenants = self._accept(messages, now, result, quarantine)
        self._write(tenants, quarantine, result, now)
        return result

    # -- validation and grouping (CPU only) --------------------------------------------------

    def _accept(
        self,
        messages: list[IngestMessage],
        now: int,
        result: BatchResult,
        quarantine: _Quarantine,
    ) -> dict[str, _TenantBatch]:
        by_tenant: dict[str, list[IngestMessage]] = {}
        for message in messages:
            by_tenant.setdefault(message.topic.tenant, []).append(message)

        tenants: dict[str, _TenantBatch] = {}
        for tenant, tenant_messages in by_tenant.items():
            timezone = self._directory.timezone(tenant)
            if timezone is None:
                for message in tenant_messages:
                    quarantine.message(UNKNOWN_TENANT, message, "unknown_tenant")
                continue
            bindings = self._directory.bindings(tenant, (m.client_id for m in tenant_messages))
            batch = _TenantBatch(tenant=tenant, local_day=LocalDay(timezone))
            tenants[tenant] = batch
            for message in tenant_messages:
                binding = bindings.get(message.client_id)
                if binding is None:
                    quarantine.message(tenant, message, "unknown_device")
                elif not binding.matches_topic(message.topic):
                    quarantine.message(tenant, message, "topic_mismatch", "topic site/asset differ from the binding")
                else:
                    self._accept_message(batch, binding, message, now, result, quarantine)
        return tenants

    def _accept_message(
        self,
        batch: _TenantBatch,
        binding: DeviceBinding,
        message: IngestMessage,
        now: int,
        result: BatchResult,
        quarantine: _Quarantine,
    ) -> None:
        try:
            parsed = parse_payload(
                message.payload,
                default_ts_ms=message.ts_ms or message.received_at_ms,
                now_ms=now,
                max_future_ms=self._limits.max_future_ms,
                max_age_ms=self._limits.max_age_ms,
            )
        except PayloadError as error:
            quarantine.message(batch.tenant, message, error.reason, error.detail)
            return
        if parsed.device_id and parsed.device_id != message.client_id:
            quarantine.message(batch.tenant, message, "device_mismatch", "payload device_id is not the sender")
            return
        if parsed.rejected:
            quarantine.readings(batch.tenant, message, parsed.rejected)
        readings = parsed.readings
        if not readings:
            return

        device = batch.devices.get(message.client_id)
        if device is None:
            device = batch.devices[message.client_id] = _DeviceBatch(binding)
        device.message_ids.add(message.message_id)
        first_ts = readings[0].ts_ms
        if all(reading.ts_ms == first_ts for reading in readings):
            self._add_instant(batch, device, message, first_ts, readings)  # the common case: one instant
        else:
            by_ts: dict[int, list[Reading]] = {}
            for reading in readings:
                by_ts.setdefault(reading.ts_ms, []).append(reading)
            for ts, group in by_ts.items():
                self._add_instant(batch, device, message, ts, group)
        result.readings += len(readings)

    @staticmethod
    def _add_instant(
        batch: _TenantBatch, device: _DeviceBatch, message: IngestMessage, ts: int, readings: list[Reading]
    ) -> None:
        """Readings of one device at one instant: lake columns, Telemetry item, latest values."""
        day = batch.local_day.of(ts)
        columns = batch.days.get(day)
        if columns is None:
            columns = batch.days[day] = RawColumns()
            batch.day_messages[day] = set()
        batch.day_messages[day].add(message.message_id)
        sensors = [reading.sensor for reading in readings]
        values = [reading.value for reading in readings]
        binding = device.binding
        columns.add_instant(
            (ts, binding.client_id, binding.site_id, binding.asset_tag, message.received_at_ms, message.via),
            sensors,
            values,
            [reading.unit for reading in readings],
            [reading.metric_type for reading in readings],
        )

        instant = device.instants.get(ts)
        if instant is None:
            device.instants[ts] = dict(zip(sensors, values, strict=True))
        else:
            instant.update(zip(sensors, values, strict=True))
        if ts >= device.newest_ts:  # the usual order: this instant is the device's newest so far
            device.newest_ts = ts
            device.latest.update(zip(sensors, readings, strict=True))
        else:
            latest = device.latest
            for reading in readings:
                newest = latest.get(reading.sensor)
                if newest is None or ts >= newest.ts_ms:
                    latest[reading.sensor] = reading

    # -- writes (I/O, in parallel) -----------------------------------------------------------

    def _write(
        self,
        tenants: dict[str, _TenantBatch],
        quarantine: _Quarantine,
        result: BatchResult,
        now: int,
    ) -> None:
        pending: list[tuple[Future[Any], set[str], str]] = []

        def submit(owners: set[str], what: str, function: Callable[..., Any], *args: Any) -> None:
            pending.append((self._executor.submit(function, *args), owners, what))

        for tenant, batch in tenants.items():
            for day, columns in batch.days.items():
                owners = batch.day_messages[day]
                submit(owners, "lake", self._write_day, tenant, day, owners, columns, result)
            for device in batch.devices.values():
                submit(device.message_ids, "device", self._write_device, tenant, device, now)
        for (tenant, day), records in quarantine.records.items():
            digest = batch_digest([f"{r['message_id']}:{r['reason']}" for r in records])
            submit(set(), "quarantine", self._write_quarantine, tenant, day, digest, records, result)
        if self._alerts is not None:
            # alongside the writes: a batch takes as long as the slower of the two, not their sum
            for owners, tenant, asset_id, devices in self._alert_work(tenants):
                submit(owners, "alerts", self._evaluate_asset, self._alerts, tenant, asset_id, devices, result)

        self._settle(pending, result)

    def _settle(self, pending: list[tuple[Future[Any], set[str], str]], result: BatchResult) -> None:
        """Wait for the writes; a failed write fails (redelivers) the messages it carried."""
        for future, owners, what in pending:
            error = future.exception()
            if error is not None:
                logger.error(
                    "ingest write failed", extra={"write": what, "messages": len(owners), "error": repr(error)}
                )
                result.failed_message_ids |= owners
                if not owners:  # a lost quarantine record must not be acknowledged either
                    raise error

    @staticmethod
    def _alert_work(tenants: dict[str, _TenantBatch]) -> Iterator[tuple[set[str], str, int, list[_DeviceBatch]]]:
        """Each asset of the batch with its devices and the messages they came in: an asset's
        devices are evaluated together (one state item per asset)."""
        for tenant, batch in tenants.items():
            by_asset: dict[int, list[_DeviceBatch]] = {}
            for device in batch.devices.values():
                if device.binding.asset_id is not None:
                    by_asset.setdefault(device.binding.asset_id, []).append(device)
            for asset_id, devices in by_asset.items():
                owners = set().union(*(device.message_ids for device in devices))
                yield owners, tenant, asset_id, devices

    @staticmethod
    def _evaluate_asset(
        alerts: AlertEvaluator, tenant: str, asset_id: int, devices: list[_DeviceBatch], result: BatchResult
    ) -> None:
        """The readings the asset's rules watch, in time order, evaluated (nothing without rules)."""
        rules = alerts.rules_of(tenant, asset_id)
        if not rules.conditions:
            return
        readings = AssetReadings(asset_id)
        for device in devices:
            device_id = device.binding.device_id
            # device.latest has every sensor the device sent in this batch
            watched = [tag for tag in device.latest if rules.watches(device_id, tag)]
            if not watched:
                continue
            instants = sorted(device.instants.items())
            for tag in watched:
                readings.series[(device_id, tag)] = [(ts, values[tag]) for ts, values in instants if tag in values]
        if not readings.series:
            return
        outcome = alerts.evaluate(tenant, rules, readings)
        result.alerts_raised.extend(outcome.raised)
        result.alerts_resolved.extend(outcome.resolved)

    def _write_day(self, tenant: str, day: str, owners: set[str], columns: RawColumns, result: BatchResult) -> None:
        result.lake_objects.append(self._lake.write_raw(tenant, day, batch_digest(sorted(owners)), columns))

    def _write_quarantine(
        self, tenant: str, day: str, digest: str, records: list[dict[str, Any]], result: BatchResult
    ) -> None:
        result.quarantine_objects.append(self._lake.write_quarantine(tenant, day, digest, records))

    def _write_device(self, tenant: str, device: _DeviceBatch, now: int) -> None:
        binding = device.binding
        for ts, values in device.instants.items():
            self._store.put_readings(tenant, binding.client_id, ts, values)
        self._write_latest(tenant, binding, device.latest, now)
        if self._due((tenant, binding.device_id, ""), device.newest_ts):
            self._store.touch_device(tenant, binding.device_id, device.newest_ts)

    def _due(self, key: tuple[str, int, str], ts_ms: int) -> bool:
        """Is a refresh of this stored latest value due? Records it as done if so."""
        last = self._refreshed.get(key)
        if last is not None and ts_ms - last < LATEST_REFRESH_MS:
            return False
        self._refreshed[key] = ts_ms
        return True

    def _write_latest(self, tenant: str, binding: DeviceBinding, latest: dict[str, Reading], now: int) -> None:
        device_id = binding.device_id
        created: set[str] = set()
        unknown = [tag for tag in latest if (tenant, device_id, tag) not in self._known_sensors]
        if unknown:
            existing = self._store.existing_sensors(tenant, device_id, unknown)
            new = [
                NewSensor(tag, latest[tag].metric_type, latest[tag].unit, latest[tag])
                for tag in unknown
                if tag not in existing
            ]
            self._store.create_sensors(tenant, device_id, binding.asset_id, new, now)
            created = {sensor.tag for sensor in new}
            self._known_sensors.update((tenant, device_id, tag) for tag in unknown)
        for tag, reading in latest.items():
            if tag in created:
                self._refreshed[(tenant, device_id, tag)] = reading.ts_ms
            elif self._due((tenant, device_id, tag), reading.ts_ms):
                self._store.update_latest(tenant, device_id, tag, reading)


def _message_context(message: IngestMessage) -> dict[str, Any]:
    topic = message.topic
    return {
        "message_id": message.message_id,
        "client_id": message.client_id,
        "topic": f"tenants/{topic.tenant}/sites/{topic.site}/assets/{topic.asset}/telemetry",
        "received_at": message.received_at_ms,
        "via": message.via,
        # the original bytes, so a quarantined message can be fixed and replayed: nothing is lost
        "payload_b64": base64.b64encode(message.payload).decode("ascii"),
    }
