"""Builds the ingest service from settings (one explicit factory, called once per cold start)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from climatrak.alerts.evaluator import AlertEngine, AlertEvaluator, AlertStore, RuleSource
from climatrak.core import aws
from climatrak.core.config import Settings
from climatrak.telemetry.directory import DeviceDirectory
from climatrak.telemetry.ingest import IngestLimits, IngestService
from climatrak.telemetry.lake import LakeWriter
from climatrak.telemetry.store import TelemetryStore

# Writes of one batch run in parallel: DynamoDB latency, not CPU, bounds a batch.
WRITE_CONCURRENCY = 16


def build_ingest_service(settings: Settings) -> IngestService:
    dynamodb = aws.client("dynamodb")
    return IngestService(
        directory=DeviceDirectory(dynamodb, settings.main_table),
        store=TelemetryStore(dynamodb, settings.telemetry_table, settings.main_table, settings.telemetry_ttl_days),
        lake=LakeWriter(aws.client("s3"), settings.lake_bucket),
        limits=IngestLimits(
            max_future_ms=settings.reading_max_future_seconds * 1000,
            max_age_ms=settings.reading_max_age_days * 86_400_000,
        ),
        executor=ThreadPoolExecutor(max_workers=WRITE_CONCURRENCY, thread_name_prefix="ingest-write"),
        alerts=build_alert_evaluator(dynamodb, settings),
    )


def build_alert_evaluator(dynamodb: object, settings: Settings) -> AlertEvaluator:
    return AlertEvaluator(
        RuleSource(dynamodb, settings.main_table, ttl_seconds=settings.alert_rules_cache_seconds),
        AlertEngine(AlertStore(dynamodb, settings.main_table)),
    )
