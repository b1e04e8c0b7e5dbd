"""HMAC signature of POST /ingest (the gateways' existing contract).

A gateway sends `X-Ingest-Timestamp: <unix seconds>` and
`X-Ingest-Signature: <hex HMAC-SHA256 of "{timestamp}.{raw body}" keyed with its ingest secret>`,
optionally prefixed with "sha256=". The timestamp is part of the signed text, so a captured request
cannot be replayed outside the skew window; replays inside it are the caller's job (key them on
`canonical_signature`, not on the raw header, or a "sha256=" prefix or upper-case hex would slip past).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_PREFIX = "sha256="
_HEX_DIGITS = frozenset("0123456789abcdef")
_SIGNATURE_LENGTH = 64  # hex chars of a SHA-256 digest
_MAX_TIMESTAMP_DIGITS = 12  # unix seconds stay at 10 digits until the year 2286


class SignatureError(ValueError):
    """The request is not authentically signed. `reason` is one of REASONS."""

    REASONS = frozenset({"missing_signature", "invalid_timestamp", "timestamp_skew", "bad_signature"})

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason


def new_ingest_secret() -> str:
    """A fresh device ingest secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of f"{timestamp}.{body}" keyed with `secret`."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def canonical_signature(signature_header: str) -> str:
    """The signature header without the optional "sha256=" prefix, lower-cased: the replay key."""
    signature = signature_header.strip()
    if signature[: len(_PREFIX)].lower() == _PREFIX:
        signature = signature[len(_PREFIX) :]
    return signature.strip().lower()


def verify(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    now_s: int,
    max_skew_s: int,
) -> None:
    """Raise SignatureError unless the headers carry a fresh, valid signature of `body`."""
    if not signature_header or not signature_header.strip():
        raise SignatureError("missing_signature", "X-Ingest-Signature header is missing")
    timestamp = (timestamp_header or "").strip()
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureError("invalid_timestamp", "X-Ingest-Timestamp must be an integer number of unix seconds")
    if abs(now_s - int(timestamp)) > max_skew_s:
        raise SignatureError("timestamp_skew", f"X-Ingest-Timestamp is more than {max_skew_s} s away from now")
    signature = canonical_signature(signature_header)
    if len(signature) != _SIGNATURE_LENGTH or not _HEX_DIGITS.issuperset(signature):
        raise SignatureError("bad_signature", "X-Ingest-Signature is not a hex HMAC-SHA256")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("bad_signature", "X-Ingest-Signature does not match the body")
