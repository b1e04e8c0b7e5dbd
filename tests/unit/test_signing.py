"""HMAC signature of POST /ingest."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from climatrak.telemetry.signing import SignatureError, canonical_signature, new_ingest_secret, sign, verify

SECRET = "s3cr3t-device-key"
BODY = b'{"client_id":"gw-1","topic":"tenants/umc/sites/1/assets/CH-01/telemetry","payload":{},"ts":1732528800}'
NOW = 1_732_528_800


def _reason(excinfo: pytest.ExceptionInfo[SignatureError]) -> str:
    return excinfo.value.reason


def test_sign_is_hex_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == expected
    assert sign(SECRET, str(NOW), BODY) == expected


def test_a_valid_signature_verifies() -> None:
    verify(SECRET, str(NOW), sign(SECRET, NOW, BODY), BODY, now_s=NOW + 10, max_skew_s=300)


@pytest.mark.parametrize("prefix", ["sha256=", "SHA256="])
def test_sha256_prefix_and_upper_case_hex_are_accepted(prefix: str) -> None:
    signature = prefix + sign(SECRET, NOW, BODY).upper()
    verify(SECRET, str(NOW), signature, BODY, now_s=NOW, max_skew_s=300)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_signature(header: str | None) -> None:
    with pytest.raises(SignatureError) as excinfo:
        verify(SECRET, str(NOW), header, BODY, now_s=NOW, max_skew_s=300)
    assert _reason(excinfo) == "missing_signature"


@pytest.mark.parametrize("header", [None, "", "abc", "1732528800.5", "-1732528800", "1" * 20, "١٧٣٢٥٢٨٨٠٠"])
def test_invalid_timestamp(header: str | None) -> None:
    signature = sign(SECRET, NOW, BODY)
    with pytest.raises(SignatureError) as excinfo:
        verify(SECRET, header, signature, BODY, now_s=NOW, max_skew_s=300)
    assert _reason(excinfo) == "invalid_timestamp"


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_timestamp_outside_the_skew_window(offset: int) -> None:
    timestamp = NOW + offset
    signature = sign(SECRET, timestamp, BODY)
    with pytest.raises(SignatureError) as excinfo:
        verify(SECRET, str(timestamp), signature, BODY, now_s=NOW, max_skew_s=300)
    assert _reason(excinfo) == "timestamp_skew"


@pytest.mark.parametrize("offset", [300, -300])
def test_timestamp_at_the_edge_of_the_window_is_accepted(offset: int) -> None:
    timestamp = NOW + offset
    verify(SECRET, str(timestamp), sign(SECRET, timestamp, BODY), BODY, now_s=NOW, max_skew_s=300)


def test_tampered_body_is_rejected() -> None:
    signature = sign(SECRET, NOW, BODY)
    with pytest.raises(SignatureError) as excinfo:
        verify(SECRET, str(NOW), signature, BODY.replace(b"CH-01", b"CH-02"), now_s=NOW, max_skew_s=300)
    assert _reason(excinfo) == "bad_signature"


def test_signature_bound_to_its_timestamp() -> None:
    signature = sign(SECRET, NOW, BODY)
    with pytest.raises(SignatureError) as excinfo:
        verify(SECRET, str(NOW + 1), signature, BODY, now_s=NOW, max_skew_s=300)
    assert _reason(excinfo) == "bad_signature"


def test_wrong_secret_is_rejected() -> None:
    signature = sign("another-secret", NOW, BODY)
    with pytest.raises(SignatureError) as excinfo:
        verify(SECRET, str(NOW), signature, BODY, now_s=NOW, max_skew_s=300)
    assert _reason(excinfo) == "bad_signature"


@pytest.mark.parametrize("garbage", ["zz" * 32, "abc", "é" * 64, sign(SECRET, NOW, BODY)[:-1]])
def test_malformed_signature_is_a_bad_signature(garbage: str) -> None:
    with pytest.raises(SignatureError) as excinfo:
        verify(SECRET, str(NOW), garbage, BODY, now_s=NOW, max_skew_s=300)
    assert _reason(excinfo) == "bad_signature"


def test_canonical_signature_is_the_replay_key() -> None:
    signature = sign(SECRET, NOW, BODY)
    assert canonical_signature(signature) == signature
    assert canonical_signature(" sha256=" + signature.upper()) == signature


def test_new_ingest_secrets_are_long_and_unique() -> None:
    secrets = {new_ingest_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(secret) >= 43 for secret in secrets)
