"""POST /ingest: signed HTTP ingest for gateways that cannot speak MQTT to IoT Core.

The device's ingest secret authenticates the request (HMAC over "{timestamp}.{raw body}");
the tenant is the device binding's, and the X-Tenant header and the topic must agree with it.
Accepted messages join the same queue, and so the same pipeline, as IoT Core messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from climatrak.core.errors import Conflict, DomainError, Forbidden, PayloadTooLarge, Unauthenticated
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import now_ms, parse_iso, to_ms
from climatrak.telemetry import envelope
from climatrak.telemetry.directory import DeviceDirectory
from climatrak.telemetry.signing import SignatureError, canonical_signature, verify

MAX_BODY_BYTES = 128 * 1024
_MS_THRESHOLD = 100_000_000_000  # epoch numbers above this are milliseconds


class GatewayMessage(BaseModel):
    client_id: str
    topic: str
    payload: Any
    ts: str | float | None = None


class ReplayGuard:
    """Remembers accepted signatures (in the Idempotency table, with its TTL) for as long as
    their timestamp is acceptable: a replayed request finds its signature there."""

    def __init__(self, dynamodb: Any, idempotency_table: str) -> None:
        self._dynamodb = dynamodb
        self._table = idempotency_table

    def first_use(self, tenant: str, signature: str, expires_at_s: int) -> bool:
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": f"{TenantKeys(tenant).pk}#INGESTSIG#{signature}"},
                    "expiration": {"N": str(expires_at_s)},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def message_time_ms(value: str | float | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value) if value > _MS_THRESHOLD else int(value * 1000)
    try:
        return to_ms(parse_iso(value))
    except ValueError:
        raise DomainError("ts must be an ISO 8601 datetime or epoch seconds", field="ts") from None


@dataclass(frozen=True)
class Accepted:
    tenant: str
    client_id: str
    message_id: str


class GatewayIngest:
    def __init__(
        self,
        directory: DeviceDirectory,
        replay_guard: ReplayGuard,
        send: Callable[[str], str],
        max_skew_s: int,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._directory = directory
        self._replay_guard = replay_guard
        self._send = send
        self._max_skew_s = max_skew_s
        self._clock = clock

    def accept(self, tenant_header: str | None, timestamp: str | None, signature: str | None, body: bytes) -> Accepted:
        """Verify and enqueue one gateway message."""
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"request body exceeds {MAX_BODY_BYTES} bytes")
        if not tenant_header:
            raise Unauthenticated("X-Tenant header is required", code="missing_tenant")
        try:
            message = GatewayMessage.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            raise DomainError("body must be JSON with client_id, topic, payload and optional ts") from None
        try:
            topic = envelope.parse_topic(message.topic)
        except envelope.EnvelopeError as error:
            raise DomainError(error.detail, field="topic") from None
        tenant = tenant_header.strip()
        if topic.tenant != tenant:
            raise Forbidden("topic tenant does not match X-Tenant", code="tenant_mismatch")
        binding = (
            self._directory.bindings(tenant, [message.client_id]).get(message.client_id)
            if self._directory.timezone(tenant) is not None
            else None
        )
        if binding is None:
            raise Forbidden("unknown device", code="unknown_device")

        now = self._clock()
        try:
            verify(binding.ingest_secret, timestamp, signature, body, now_s=now // 1000, max_skew_s=self._max_skew_s)
        except SignatureError as error:
            raise Unauthenticated("invalid ingest signature", code=error.reason) from None
        if not binding.matches_topic(topic):
            raise Forbidden("topic does not match the device binding", code="topic_mismatch")
        assert signature is not None  # verify() refused a missing one
        # one key per signature however it is spelled (case, "sha256=" prefix)
        replay_key = canonical_signature(signature)
        if not self._replay_guard.first_use(tenant, replay_key, now // 1000 + 2 * self._max_skew_s):
            raise Conflict("this signed request was already accepted", code="replayed")

        payload = message.payload
        raw = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
        body_out = envelope.encode(message.topic, message.client_id, raw, now, message_time_ms(message.ts), "http")
        return Accepted(tenant=tenant, client_id=binding.client_id, message_id=self._send(body_out))
