"""`make bench`: every benchmark, each against a baseline measured in the same run.

Figures are printed, with the issue's targets; nothing here is a test assertion.
"""

from __future__ import annotations

from typing import Any

from tests.bench import alerts_bench, cost_engine_bench, daily_report_bench, ingest_bench, ledger_summary_bench


def verdict(ok: bool) -> str:
    return "ok " if ok else "MISS"


def report_ingest(figures: dict[str, Any]) -> None:
    print("== Telemetry ingest ==")
    print(f"bare json.loads+append loop : {figures['bare_loop_readings_per_s']:>12,.0f} readings/s (baseline:")
    print("    the queue messages as the handler gets them: envelope, base64, payload, append)")
    bare_payloads = figures["bare_payload_loop_readings_per_s"]
    print(f"  same loop, payloads only    : {bare_payloads:>12,.0f} readings/s (second baseline)")
    print(f"naive ingest (put/reading)  : {figures['naive_readings_per_s']:>12,.0f} readings/s")
    print(f"ingest handler CPU          : {figures['handler_readings_per_s']:>12,.0f} readings/s")
    ratio_bare, ratio_naive = figures["handler_vs_bare"], figures["handler_vs_naive"]
    print(f"  {verdict(ratio_bare >= 0.25)} handler / bare loop  = {ratio_bare:.2f}  (target >= 0.25)")
    print(f"  {verdict(ratio_naive >= 10)} handler / naive      = {ratio_naive:.1f}x (target >= 10x)")
    print(f"  info handler / payload-only loop = {figures['handler_vs_bare_payloads']:.2f}")
    for name, label in (
        ("bulk", "bulk: 500-message batches, 100 devices"),
        ("live", "live: 500 devices, 1 message each per batch"),
    ):
        data = figures[name]
        print(f"AWS requests per 10,000 readings ({label}):")
        for kind, value in data.items():
            if ":" in kind:
                print(f"    {kind:<24} {value:>10,.1f}")
        wcu_ok = data["readings_per_write_unit"] >= 4
        put_ok = data["s3_puts_per_partition_and_batch"] <= 1
        per_unit = data["readings_per_write_unit"]
        print(f"  {verdict(wcu_ok)} readings per DynamoDB write unit = {per_unit:.2f} (target >= 4)")
        puts = data["s3_puts_per_partition_and_batch"]
        print(f"  {verdict(put_ok)} S3 PUTs per (tenant, day) per batch = {puts:.2f} (target <= 1)")
    base = figures["import_boto3_s"]
    print(f"cold-start import (median of 5; 'import boto3' = {base * 1000:.0f} ms baseline):")
    ingest_s = figures["import_ingest_s"]
    print(f"    ingest handler {ingest_s * 1000:>6.0f} ms  ({ingest_s / base:.1f}x boto3)")
    api_s = figures["import_api_s"]
    print(f"    api handler    {api_s * 1000:>6.0f} ms  ({api_s / base:.1f}x boto3)")
    heavy = figures["api_imports_heavy"]
    print(f"  {verdict(not heavy)} api handler imports pyarrow/pandas: {heavy or 'no'}")


def main() -> None:
    report_ingest(ingest_bench.run())
    alerts_bench.report(alerts_bench.run())
    ledger_summary_bench.report(ledger_summary_bench.run())
    cost_engine_bench.report(cost_engine_bench.run())
    daily_report_bench.report(daily_report_bench.run())


if __name__ == "__main__":
    main()
