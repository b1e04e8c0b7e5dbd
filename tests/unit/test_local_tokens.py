import re
import time

import jwt
import pytest

from climatrak.core.identity import Role, principal_from_claims
from climatrak_local.tokens import InvalidToken, authorizer_claims, issue_token, verify_token

SECRET = "test-secret-of-sufficient-length-for-hs256"


def test_issued_token_verifies_and_carries_cognito_claims() -> None:
    token = issue_token(SECRET, "umc", "operator", user_id=42, email="ana@umc.example")

    claims = verify_token(SECRET, token)

    assert claims["custom:tenant_id"] == "umc"
    assert claims["custom:role"] == "operator"
    assert claims["custom:user_id"] == "42"
    assert claims["email"] == "ana@umc.example"
    assert claims["iss"] == "climatrak-local"
    assert claims["token_use"] == "id"
    assert claims["exp"] > claims["iat"]


def test_authorizer_claims_are_strings_and_yield_the_principal() -> None:
    claims = authorizer_claims(verify_token(SECRET, issue_token(SECRET, "umc", "admin", user_id=7)))

    assert all(isinstance(value, str) for value in claims.values())
    # Cognito's REST authorizer formats times like "Wed Nov 25 16:44:58 UTC 2026"
    assert re.fullmatch(r"\w{3} \w{3} [ \d]\d \d{2}:\d{2}:\d{2} UTC \d{4}", claims["exp"])
    principal = principal_from_claims(claims)
    assert (principal.tenant, principal.role, principal.user_id) == ("umc", Role.ADMIN, 7)


def test_token_signed_with_another_secret_is_rejected() -> None:
    token = issue_token("another-secret-of-sufficient-length-xx", "umc", "owner")

    with pytest.raises(InvalidToken):
        verify_token(SECRET, token)


def test_expired_token_is_rejected() -> None:
    token = issue_token(SECRET, "umc", "owner", ttl=-10)

    with pytest.raises(InvalidToken):
        verify_token(SECRET, token)


def test_token_from_another_issuer_is_rejected() -> None:
    now = int(time.time())
    claims = {"sub": "x", "iss": "someone-else", "iat": now, "exp": now + 60, "token_use": "id"}
    token = jwt.encode(claims, SECRET, algorithm="HS256")

    with pytest.raises(InvalidToken):
        verify_token(SECRET, token)


def test_access_tokens_are_not_id_tokens() -> None:
    now = int(time.time())
    claims = {"sub": "x", "iss": "climatrak-local", "iat": now, "exp": now + 60, "token_use": "access"}

    with pytest.raises(InvalidToken):
        verify_token(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"))


def test_unsigned_token_is_rejected() -> None:
    now = int(time.time())
    claims = {"sub": "x", "iss": "climatrak-local", "iat": now, "exp": now + 60, "token_use": "id"}

    with pytest.raises(InvalidToken):
        verify_token(SECRET, jwt.encode(claims, None, algorithm="none"))
