"""The local JWT issuer that stands in for Cognito, and the check API Gateway's authorizer makes.

Tokens carry the same claims as the Cognito ID tokens the product uses on AWS, so handlers
read identity the same way in both environments.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import jwt

from climatrak.core.identity import ROLE_CLAIM, TENANT_CLAIM, USER_ID_CLAIM

ISSUER = "climatrak-local"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 12 * 3600
# Cognito's REST authorizer renders time claims like Java's Date.toString().
_COGNITO_TIME_FORMAT = "%a %b %d %H:%M:%S UTC %Y"
_TIME_CLAIMS = ("exp", "iat", "auth_time")


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by this runtime."""


def issue_token(
    secret: str,
    tenant: str,
    role: str,
    *,
    user_id: int = 1,
    email: str | None = None,
    ttl: int = DEFAULT_TTL_SECONDS,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": f"local-user-{user_id}",
        "email": email or f"user{user_id}@{tenant}.local",
        TENANT_CLAIM: tenant,
        ROLE_CLAIM: role,
        USER_ID_CLAIM: str(user_id),
        "iss": ISSUER,
        "token_use": "id",
        "iat": now,
        "auth_time": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> dict[str, Any]:
    """The token's claims if this runtime signed it and it is still valid."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "sub"]},
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from error
    if claims.get("token_use") != "id":
        raise InvalidToken("not an ID token")
    return claims


def authorizer_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as Cognito's user pool authorizer hands them to a REST proxy integration: all strings."""
    rendered: dict[str, str] = {}
    for name, value in claims.items():
        if name in _TIME_CLAIMS and isinstance(value, int | float):
            rendered[name] = datetime.fromtimestamp(value, UTC).strftime(_COGNITO_TIME_FORMAT)
        else:
            rendered[name] = str(value)
    return rendered
