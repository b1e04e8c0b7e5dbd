"""POST /ingest for gateways: verify the HMAC signature, enqueue, answer 202."""

import base64
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from climatrak.core import aws
from climatrak.core.config import Settings
from climatrak.core.http import build_resolver, json_response, normalise_path
from climatrak.telemetry.directory import DeviceDirectory
from climatrak.telemetry.gateway import GatewayIngest, ReplayGuard

logger = Logger(service="ingest-http")
app = build_resolver([])


@cache
def gateway() -> GatewayIngest:
    settings = Settings.from_env()
    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")

    def send(body: str) -> str:
        return str(sqs.send_message(QueueUrl=settings.ingest_queue_url, MessageBody=body)["MessageId"])

    return GatewayIngest(
        directory=DeviceDirectory(dynamodb, settings.main_table),
        replay_guard=ReplayGuard(dynamodb, settings.idempotency_table),
        send=send,
        max_skew_s=settings.ingest_max_skew_seconds,
    )


def raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode()


@app.post("/ingest/")
def ingest() -> Any:
    headers = app.current_event.headers  # case-insensitive
    accepted = gateway().accept(
        tenant_header=headers.get("x-tenant"),
        timestamp=headers.get("x-ingest-timestamp"),
        signature=headers.get("x-ingest-signature"),
        body=raw_body(),
    )
    logger.append_keys(tenant=accepted.tenant, device_id=accepted.client_id)
    logger.info("gateway message accepted", extra={"message_id": accepted.message_id})
    return json_response(202, {"status": "accepted", "message_id": accepted.message_id})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(normalise_path(event), context)
