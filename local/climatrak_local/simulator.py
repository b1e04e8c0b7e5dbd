"""A simulated HVAC fleet: a day of 1-minute telemetry per device, and the MQTT clients that publish it.

Chillers and air handlers speak the standard ClimaTrak JSON format; split units speak SenML as
Khomp LoRaWAN gateways send it (base name and time, a `vs` model record, RSSI). Values follow a
plausible hospital day in Uberlandia (outdoor heat peaking mid-afternoon, a daytime load bump)
plus seeded noise, so the same seed always produces the same bytes.
"""

from __future__ import annotations

import math
import random
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt

Kind = Literal["chiller", "ahu", "split"]

MINUTES_PER_DAY = 24 * 60
DEFAULT_SEED = 2024
SPLIT_MODEL = "Khomp ITC 200 / Split Hi-Wall 24k"
# The day's incident: CH-002 loses a condenser fan mid-afternoon (local time) for an hour.
FAULT_ASSET = "CH-002"
FAULT_START_HOUR = 14.0
FAULT_END_HOUR = 15.0


@dataclass(frozen=True)
class SimDevice:
    client_id: str
    asset_tag: str
    kind: Kind
    tenant: str
    site_id: int

    @property
    def topic(self) -> str:
        return f"tenants/{self.tenant}/sites/{self.site_id}/assets/{self.asset_tag}/telemetry"


@dataclass(frozen=True)
class Message:
    client_id: str
    topic: str
    payload: bytes


@dataclass(frozen=True)
class BadMessage:
    """A message sent on purpose to be rejected, with the quarantine reason it should earn."""

    message: Message
    expected_reason: str


def day_bounds_ms(day: date, timezone: str) -> tuple[int, int]:
    """Epoch ms of local 00:00 of `day` and of the next day's 00:00 in `timezone`."""
    zone = ZoneInfo(timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def yesterday(timezone: str, now: datetime | None = None) -> date:
    current = (now or datetime.now(ZoneInfo(timezone))).astimezone(ZoneInfo(timezone))
    return current.date() - timedelta(days=1)


# -- the physics, roughly ---------------------------------------------------------------------


def outdoor_temperature(hour: float) -> float:
    """Uberlandia in the warm season: about 19 C before dawn, about 31 C at 15:00."""
    return 25.0 + 6.0 * math.cos((hour - 15.0) / 24.0 * 2.0 * math.pi)


def building_load(hour: float) -> float:
    """Cooling load 0..1: a hospital never sleeps (0.4 at night), busiest 08:00-18:00."""
    daytime = math.exp(-(((hour - 13.0) / 4.5) ** 2))
    return min(1.0, 0.4 + 0.45 * daytime + 0.1 * (outdoor_temperature(hour) - 19.0) / 12.0)


def _device_rng(device: SimDevice, seed: int) -> random.Random:
    # crc32, not hash(): str hashes are randomised per process and the output must be reproducible.
    return random.Random(seed ^ zlib.crc32(device.client_id.encode()))  # noqa: S311 - simulation noise


def _size_factor(device: SimDevice) -> float:
    """Twin machines are not identical: the second of each pair runs a little lighter."""
    return 1.0 if device.asset_tag.endswith("1") else 0.85


def condenser_fault(device: SimDevice, hour: float) -> float:
    """0..1: how far the faulty chiller's condenser fan failure has progressed at `hour`
    (it builds up over 15 minutes from FAULT_START_HOUR and is reset at FAULT_END_HOUR)."""
    if device.asset_tag != FAULT_ASSET or not FAULT_START_HOUR <= hour < FAULT_END_HOUR:
        return 0.0
    return min(1.0, (hour - FAULT_START_HOUR) * 4.0)


def chiller_sensors(hour: float, size: float, rng: random.Random, fault: float = 0.0) -> list[tuple[str, float, str]]:
    """A healthy chiller, or (fault > 0) one losing condenser capacity: warmer water both ways,
    a straining compressor and a climbing discharge pressure."""
    load = building_load(hour) * size
    supply = 6.8 + 0.6 * load + 4.5 * fault + rng.gauss(0, 0.15)
    discharge = 950 + 12 * outdoor_temperature(hour) + 150 * load + 400 * fault
    return [
        ("temp_supply", round(supply, 2), "celsius"),
        ("temp_return", round(supply + 1.5 + 4.0 * load + rng.gauss(0, 0.2), 2), "celsius"),
        ("pressure_suction", round(340 + 40 * load + rng.gauss(0, 5), 1), "kPa"),
        ("pressure_discharge", round(discharge + rng.gauss(0, 10), 1), "kPa"),
        ("current", round(60 + 240 * load + 90 * fault + rng.gauss(0, 4), 1), "A"),
        ("power_kw", round(40 + 160 * load + 45 * fault + rng.gauss(0, 3), 2), "kW"),
    ]


def ahu_sensors(hour: float, size: float, rng: random.Random) -> list[tuple[str, float, str]]:
    load = building_load(hour) * size
    return [
        ("temp_supply", round(13.5 + 1.5 * (1 - load) + rng.gauss(0, 0.2), 2), "celsius"),
        ("temp_return", round(22.5 + 1.5 * load + rng.gauss(0, 0.2), 2), "celsius"),
        ("humidity", round(52 + 8 * load + rng.gauss(0, 1.0), 1), "%RH"),
        ("dp_filter", round(140 + 25 * load + rng.gauss(0, 3), 1), "Pa"),
        ("current", round(9 + 14 * load + rng.gauss(0, 0.4), 2), "A"),
        ("power_kw", round(4 + 9 * load + rng.gauss(0, 0.3), 2), "kW"),
    ]


def split_sensors(hour: float, size: float, rng: random.Random, minute: int) -> list[tuple[str, float, str]]:
    load = building_load(hour) * size
    # The compressor cycles: on for a share of every 20 minutes that grows with the load.
    running = (minute % 20) < 20 * min(1.0, 0.3 + load)
    power_w = (1400 + 900 * load if running else 90) + rng.gauss(0, 25)
    return [
        ("temp_supply", round((12.0 + 2.0 * (1 - load) if running else 21.5) + rng.gauss(0, 0.25), 2), "Cel"),
        ("temp_return", round(23.0 + 1.2 * load + rng.gauss(0, 0.2), 2), "Cel"),
        ("humidity", round(55 + 6 * load + rng.gauss(0, 1.2), 1), "%RH"),
        ("current", round(power_w / 220.0, 2), "A"),
        ("power", round(power_w, 1), "W"),
    ]


# -- payloads ---------------------------------------------------------------------------------


def standard_payload(device: SimDevice, ts_s: int, sensors: Sequence[tuple[str, object, str]]) -> bytes:
    return orjson.dumps(
        {
            "device_id": device.client_id,
            "timestamp": ts_s,
            "sensors": [{"sensor_id": sensor, "value": value, "unit": unit} for sensor, value, unit in sensors],
        }
    )


def senml_payload(device: SimDevice, ts_s: int, sensors: Sequence[tuple[str, object, str]], rssi: float) -> bytes:
    """A Khomp-style SenML pack: base name and time on the first record, relative times (t=0)."""
    records: list[dict[str, object]] = [{"bn": f"{device.client_id}:", "bt": ts_s, "n": "model", "vs": SPLIT_MODEL}]
    records.extend({"n": sensor, "u": unit, "v": value} for sensor, value, unit in sensors)
    records.append({"n": "rssi", "u": "dBW", "v": rssi})
    return orjson.dumps(records)


def device_messages(
    device: SimDevice, start_ms: int, minutes: int = MINUTES_PER_DAY, seed: int = DEFAULT_SEED
) -> list[Message]:
    """One message per minute from `start_ms` (epoch ms of local midnight)."""
    rng = _device_rng(device, seed)
    size = _size_factor(device)
    start_s = start_ms // 1000
    messages: list[Message] = []
    for minute in range(minutes):
        ts_s = start_s + minute * 60
        hour = minute / 60.0
        if device.kind == "chiller":
            payload = standard_payload(device, ts_s, chiller_sensors(hour, size, rng, condenser_fault(device, hour)))
        elif device.kind == "ahu":
            payload = standard_payload(device, ts_s, ahu_sensors(hour, size, rng))
        else:
            rssi = round(-118 + rng.gauss(0, 2), 1)  # dBW: about -88 dBm
            payload = senml_payload(device, ts_s, split_sensors(hour, size, rng, minute), rssi)
        messages.append(Message(device.client_id, device.topic, payload))
    return messages


def fleet_messages(
    devices: Sequence[SimDevice], start_ms: int, minutes: int = MINUTES_PER_DAY, seed: int = DEFAULT_SEED
) -> list[Message]:
    """Every device's day, interleaved minute by minute as a real fleet would send it."""
    per_device = [device_messages(device, start_ms, minutes, seed) for device in devices]
    return [message for minute in zip(*per_device, strict=True) for message in minute]


def bad_messages(devices: Sequence[SimDevice], start_ms: int, now_ms: int) -> list[BadMessage]:
    """A handful of messages that must end in quarantine, each for a different reason."""
    standard = next(device for device in devices if device.kind != "split")
    noon_s = start_ms // 1000 + 12 * 3600
    future_s = now_ms // 1000 + 2 * 86400
    ghost = SimDevice("umc-ghost-999", standard.asset_tag, "chiller", standard.tenant, standard.site_id)
    return [
        BadMessage(
            Message(standard.client_id, standard.topic, b'{"sensors": [{"sensor_id": "temp_supply",'), "malformed_json"
        ),
        BadMessage(
            Message(
                standard.client_id,
                standard.topic,
                standard_payload(standard, noon_s + 30, [("temp_supply", "n/a", "celsius"), ("current", 120.5, "A")]),
            ),
            "non_numeric_value",
        ),
        BadMessage(
            Message(
                standard.client_id,
                standard.topic,
                standard_payload(standard, future_s, [("temp_supply", 7.1, "celsius")]),
            ),
            "timestamp_in_future",
        ),
        BadMessage(
            Message(ghost.client_id, ghost.topic, standard_payload(ghost, noon_s, [("temp_supply", 7.0, "celsius")])),
            "unknown_device",
        ),
    ]


# -- publishing -------------------------------------------------------------------------------


class PublishError(RuntimeError):
    pass


class FleetPublisher:
    """One paho-mqtt client per device (its own client id, as on IoT Core), QoS 1, pipelined:
    up to `max_inflight` unacknowledged publishes per client, the rest queued inside paho."""

    def __init__(self, host: str, port: int, *, max_inflight: int = 100, connect_timeout: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._max_inflight = max_inflight
        self._connect_timeout = connect_timeout
        self._clients: dict[str, mqtt.Client] = {}
        self._lock = threading.Lock()
        self._acked = 0
        self._sent = 0
        self._all_acked = threading.Event()
        self.first_publish_at: float | None = None
        self.last_ack_at: float | None = None

    @property
    def acked(self) -> int:
        with self._lock:
            return self._acked

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: mqtt.ReasonCode,
        properties: mqtt.Properties,
    ) -> None:
        with self._lock:
            self._acked += 1
            self.last_ack_at = time.monotonic()
            if self._acked >= self._sent:
                self._all_acked.set()

    def _client(self, client_id: str) -> mqtt.Client:
        client = self._clients.get(client_id)
        if client is not None:
            return client
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        client.max_inflight_messages_set(self._max_inflight)
        client.max_queued_messages_set(0)  # unlimited: publish() never refuses, paho paces the wire
        client.on_publish = self._on_publish
        connected = threading.Event()
        client.on_connect = lambda *args: connected.set()
        try:
            client.connect(self._host, self._port)
        except OSError as error:
            raise PublishError(f"cannot connect {client_id} to mqtt://{self._host}:{self._port}: {error}") from None
        client.loop_start()
        if not connected.wait(self._connect_timeout):
            raise PublishError(f"MQTT broker did not accept {client_id} within {self._connect_timeout} s")
        self._clients[client_id] = client
        return client

    def publish_all(self, messages: Sequence[Message]) -> None:
        """Hands every message to its client (returns at once; acknowledgements arrive later)."""
        for client_id in dict.fromkeys(message.client_id for message in messages):
            self._client(client_id)
        with self._lock:
            self._sent += len(messages)
            self._all_acked.clear()
            if self.first_publish_at is None:
                self.first_publish_at = time.monotonic()
        for message in messages:
            info = self._clients[message.client_id].publish(message.topic, message.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise PublishError(f"publish from {message.client_id} failed: {mqtt.error_string(info.rc)}")

    def wait_acked(self, timeout: float, on_progress: Callable[[int], None] | None = None) -> None:
        """Blocks until every published message has its PUBACK (so it reached the topic rule)."""
        deadline = time.monotonic() + timeout
        while not self._all_acked.wait(0.1):
            if on_progress is not None:
                on_progress(self.acked)
            if time.monotonic() >= deadline:
                raise PublishError(f"only {self.acked} of {self._sent} publishes acknowledged after {timeout} s")
        if on_progress is not None:
            on_progress(self.acked)

    def close(self) -> None:
        for client in self._clients.values():
            client.disconnect()
            client.loop_stop()
        self._clients = {}
