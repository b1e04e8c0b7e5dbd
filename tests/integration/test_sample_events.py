"""The sample events in events/ are real inputs: each handler accepts its own."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3

from climatrak.core.config import Settings
from climatrak.core.consumer import consumer_handler
from climatrak.core.events import EventEnvelope
from climatrak.core.resources import COST_ENGINE
from climatrak.registry.logic import create_tenant
from functions.api import handler as api_handler
from functions.ingest import handler as ingest_handler
from functions.ingest_http import handler as http_handler
from functions.relay import handler as relay_handler
from tests.integration.conftest import LambdaContextStub
from tests.integration.telemetry_world import quarantine_records

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def test_the_api_sample_lists_the_callers_tenant_sites(settings: Settings, clean_aws: None) -> None:
    create_tenant(settings, "umc", "UMC", "America/Sao_Paulo")
    response = api_handler.handler(load("api_list_sites.json"), LambdaContextStub())  # type: ignore[arg-type]

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_ingest_sample_batch_is_processed(settings: Settings, clean_aws: None, monkeypatch: Any) -> None:
    monkeypatch.setattr(ingest_handler, "_service", None)
    response = ingest_handler.handler(load("ingest_sqs_batch.json"), LambdaContextStub())  # type: ignore[arg-type]

    # no tenant "umc" exists here: both messages are quarantined, none fails
    assert response == {"batchItemFailures": []}
    assert [r["reason"] for r in quarantine_records("_unknown")] == ["unknown_tenant", "unknown_tenant"]


def test_the_gateway_sample_with_a_placeholder_signature_is_refused(settings: Settings, clean_aws: None) -> None:
    http_handler.gateway.cache_clear()
    response = http_handler.handler(load("ingest_http_post.json"), LambdaContextStub())  # type: ignore[arg-type]

    assert response["statusCode"] == 403  # the tenant and its device do not exist here
    assert json.loads(response["body"])["code"] == "unknown_device"


def test_the_relay_sample_is_published_to_the_consumer_of_its_event(settings: Settings, clean_aws: None) -> None:
    response = relay_handler.handler(load("relay_stream_batch.json"), LambdaContextStub())  # type: ignore[arg-type]

    assert response == {"batchItemFailures": []}
    sqs = boto3.client("sqs", region_name="us-east-1")
    (message,) = sqs.receive_message(QueueUrl=os.environ[COST_ENGINE.queue.env_var]).get("Messages", [])
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == ("climatrak.cmms", "work_order.closed")
    assert event["detail"]["event_id"] == "019ab3c0-7d00-7a2b-9c3d-4e5f60718293"


def test_the_consumer_sample_carries_the_envelope(settings: Settings, clean_aws: None) -> None:
    seen: list[EventEnvelope] = []
    handler = consumer_handler(COST_ENGINE, seen.append)

    response = handler(load("consumer_sqs_eventbridge_batch.json"), LambdaContextStub())

    assert response == {"batchItemFailures": []}
    (envelope,) = seen
    assert (envelope.event_name, envelope.tenant_id, envelope.aggregate.id) == ("work_order.closed", "umc", "17")
    assert envelope.data["labor"][0]["hours"] == "2.50"


def test_the_schedule_sample_runs_the_no_data_check(settings: Settings, clean_aws: None) -> None:
    from functions.alerts_no_data import handler as no_data_handler

    no_data_handler.checker.cache_clear()
    result = no_data_handler.handler(load("schedule_no_data.json"), LambdaContextStub())  # type: ignore[arg-type]

    assert result == {"raised": [], "resolved": []}  # no tenant watches a sensor yet


def test_the_report_task_sample_lists_the_tenants_of_the_zone(settings: Settings, clean_aws: None) -> None:
    from functions.reports_tasks import handler as reports_handler

    create_tenant(settings, "umc", "UMC", "America/Sao_Paulo")
    create_tenant(settings, "manaus", "Manaus", "America/Manaus")
    result = reports_handler.handler(load("reports_task_list_tenants.json"), LambdaContextStub())  # type: ignore[arg-type]

    assert result == {"tenants": [{"tenant": "umc", "date": "2026-11-24"}]}
    # the sweep at 06:00Z is 03:00 in Sao Paulo (due) and 02:00 in Manaus (not yet)
    sweep = {"task": "list_tenants", "kind": "daily", **load("sfn_daily_report_input.json")}
    assert reports_handler.handler(sweep, LambdaContextStub()) == result  # type: ignore[arg-type]
