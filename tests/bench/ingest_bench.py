"""Ingest benchmarks: handler CPU throughput, AWS requests per 10,000 readings, cold starts."""

from __future__ import annotations

import base64
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from climatrak.core.timeutil import iso_ms
from climatrak.telemetry.directory import DeviceBinding
from climatrak.telemetry.envelope import encode
from climatrak.telemetry.ingest import IngestLimits, IngestService, QueueRecord
from climatrak.telemetry.lake import LakeWriter, RawColumns, parquet_bytes
from climatrak.telemetry.parsing import parse_payload
from climatrak.telemetry.store import TelemetryStore
from tests.bench.stubs import InlineExecutor, RecordingAws, StaticDirectory

ROOT = Path(__file__).resolve().parents[2]
TENANT = "bench"
SENSORS = ("temp_supply", "temp_return", "humidity", "current", "power_kw")
UNITS = ("°C", "°C", "%RH", "A", "kW")


def bindings(devices: int) -> list[DeviceBinding]:
    return [
        DeviceBinding(TENANT, i + 1, f"dev-{i:04d}", 1, "Site", i + 1, f"AST-{i:04d}", "secret") for i in range(devices)
    ]


def payload(rng: random.Random, ts_s: int, senml: bool) -> bytes:
    if senml:
        records: list[dict[str, Any]] = [{"bn": "F80332010002C857_", "bt": ts_s}]
        records += [
            {"n": n, "u": "Cel" if u == "°C" else u, "v": round(rng.uniform(5, 30), 2)}
            for n, u in zip(SENSORS, UNITS, strict=True)
        ]
        records.append({"n": "model", "vs": "nit21li"})
        return orjson.dumps(records)
    sensors = [
        {"sensor_id": n, "value": round(rng.uniform(5, 30), 2), "unit": u} for n, u in zip(SENSORS, UNITS, strict=True)
    ]
    return orjson.dumps({"timestamp": ts_s, "sensors": sensors})


def make_batches(
    devices: int, messages_per_batch: int, batches: int, senml_share: float = 0.3
) -> list[list[QueueRecord]]:
    """Batches of device messages, one minute apart per device, the last batch ending now."""
    rng = random.Random(7)
    now_s = int(time.time())
    total = messages_per_batch * batches
    per_device = -(-total // devices)
    out: list[QueueRecord] = []
    for step in range(per_device):
        for d in range(devices):
            ts_s = now_s - (per_device - step) * 60
            client = f"dev-{d:04d}"
            body = encode(
                f"tenants/{TENANT}/sites/1/assets/AST-{d:04d}/telemetry",
                client,
                payload(rng, ts_s, d % 100 < senml_share * 100),  # a device keeps its format
                ts_s * 1000,
                None,
                "iot",
            )
            out.append(QueueRecord(f"m-{step}-{d}", body, ts_s * 1000))
    out = out[:total]
    return [out[i : i + messages_per_batch] for i in range(0, total, messages_per_batch)]


def service(aws: RecordingAws, devices: int) -> IngestService:
    return IngestService(
        directory=StaticDirectory(bindings(devices)),
        store=TelemetryStore(aws, "telemetry", "main", 30),
        lake=LakeWriter(aws, "lake"),
        limits=IngestLimits(max_future_ms=600_000, max_age_ms=400 * 86_400_000),
        executor=InlineExecutor(),
    )


def best_rate(work: Callable[[], object], items: int, repeat: int = 5) -> float:
    """Items per second of the fastest of `repeat` runs (least disturbed by the machine)."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        rates.append(items / (time.perf_counter() - start))
    return max(rates)


def payloads_of(batches: list[list[QueueRecord]]) -> list[bytes]:
    return [base64.b64decode(json.loads(r.body)["payload_b64"]) for batch in batches for r in batch]


def bare_payload_loop(payloads: list[bytes]) -> int:
    """The same loop over the payloads alone (already out of their envelopes)."""
    out: list[Any] = []
    for raw in payloads:
        doc = json.loads(raw)
        for reading in doc["sensors"] if isinstance(doc, dict) else doc:
            out.append(reading)
    return len(out)


def bare_loop(bodies: list[str]) -> int:
    """The least an ingest can do with the same queue messages: load the rule's envelope, decode
    the payload, load it and append its readings (no validation, no writes)."""
    out: list[Any] = []
    for body in bodies:
        envelope = json.loads(body)
        doc = json.loads(base64.b64decode(envelope["payload_b64"]))
        for reading in doc["sensors"] if isinstance(doc, dict) else doc:
            out.append(reading)
    return len(out)


def naive_ingest(payloads: list[bytes], aws: RecordingAws) -> int:
    """The naive design over the same messages: parse each message, one PutItem per reading and
    one Parquet object (same schema) per message."""
    now = int(time.time() * 1000)
    readings = 0
    for index, raw in enumerate(payloads):
        parsed = parse_payload(raw, default_ts_ms=now, now_ms=now, max_future_ms=600_000, max_age_ms=400 * 86_400_000)
        columns = RawColumns()
        for reading in parsed.readings:
            aws.put_item(
                TableName="telemetry",
                Item={
                    "pk": {"S": f"T#{TENANT}#S#{reading.sensor}"},
                    "sk": {"S": iso_ms(reading.ts_ms)},
                    "value": {"N": repr(reading.value)},
                    "unit": {"S": reading.unit or ""},
                    "expires_at": {"N": str(reading.ts_ms // 1000 + 30 * 86400)},
                },
            )
            run = (reading.ts_ms, "dev", 1, "AST", now, "iot")
            columns.add_instant(run, [reading.sensor], [reading.value], [reading.unit], [reading.metric_type])
        aws.put_object(Bucket="lake", Key=f"naive/{index}.parquet", Body=parquet_bytes(columns))
        readings += len(parsed.readings)
    return readings


def ingest_cpu(batches: list[list[QueueRecord]], devices: int) -> int:
    aws = RecordingAws(count_write_units=False)
    pipeline = service(aws, devices)
    return sum(pipeline.process(batch).readings for batch in batches)


def requests_per_10k(devices: int, messages_per_batch: int, batches: int) -> dict[str, float]:
    aws = RecordingAws()
    pipeline = service(aws, devices)
    warm, *work = make_batches(devices, messages_per_batch, batches + 1)
    pipeline.process(warm)  # first sight of every sensor: creations, not the steady state
    aws.requests.clear()
    aws.write_units = 0
    results = [pipeline.process(batch) for batch in work]
    readings = sum(result.readings for result in results)
    # (tenant, day) partitions each batch wrote: a batch that spans midnight writes two
    partitions = sum(len({key.rsplit("/", 1)[0] for key in result.lake_objects}) for result in results)
    scale = 10_000 / readings
    figures = {kind: count * scale for kind, count in sorted(aws.requests.items())}
    figures["dynamodb:WriteUnits"] = aws.write_units * scale
    figures["readings_per_write_unit"] = readings / max(aws.write_units, 1)
    figures["s3_puts_per_partition_and_batch"] = aws.requests["s3:PutObject"] / partitions
    return figures


def import_seconds(module: str, repeat: int = 5) -> tuple[float, list[str]]:
    code = (
        f"import sys, time; t = time.perf_counter(); import {module}; d = time.perf_counter() - t; "
        "print(d); print(','.join(x for x in ('pyarrow', 'pandas') if x in sys.modules))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers/climatrak"), str(ROOT / "local")]),
    }
    times: list[float] = []
    heavy: list[str] = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env, cwd=ROOT
        ).stdout.split("\n")
        times.append(float(out[0]))
        heavy = [x for x in out[1].split(",") if x]
    return statistics.median(times), heavy


def run() -> dict[str, Any]:
    devices = 100
    batches = make_batches(devices, 500, 8)
    readings_total = ingest_cpu(batches, devices)
    payloads = payloads_of(batches)
    # all rates count the readings the handler accepts (a SenML record is not always a reading)
    bodies = [record.body for batch in batches for record in batch]
    bare = best_rate(lambda: bare_loop(bodies), readings_total)
    bare_payloads = best_rate(lambda: bare_payload_loop(payloads), readings_total)
    handler = best_rate(lambda: ingest_cpu(batches, devices), readings_total)
    naive_payloads = payloads[:2000]
    naive_readings = naive_ingest(naive_payloads, RecordingAws(count_write_units=False))
    naive = best_rate(lambda: naive_ingest(naive_payloads, RecordingAws(count_write_units=False)), naive_readings, 3)
    # three simulated hours of 1-minute messages, so the hourly latest-value refreshes count
    bulk = requests_per_10k(devices=100, messages_per_batch=500, batches=36)
    live = requests_per_10k(devices=500, messages_per_batch=500, batches=180)
    base_import, _ = import_seconds("boto3")
    ingest_import, ingest_heavy = import_seconds("functions.ingest.handler")
    api_import, api_heavy = import_seconds("functions.api.handler")
    return {
        "readings": readings_total,
        "bare_loop_readings_per_s": bare,
        "bare_payload_loop_readings_per_s": bare_payloads,
        "handler_vs_bare_payloads": handler / bare_payloads,
        "handler_readings_per_s": handler,
        "naive_readings_per_s": naive,
        "handler_vs_bare": handler / bare,
        "handler_vs_naive": handler / naive,
        "bulk": bulk,
        "live": live,
        "import_boto3_s": base_import,
        "import_ingest_s": ingest_import,
        "import_api_s": api_import,
        "ingest_imports_heavy": ingest_heavy,
        "api_imports_heavy": api_heavy,
    }
