"""Who is calling: the verified principal and the one permission table.

The tenant comes only from a verified identity. On AWS, API Gateway's Cognito authorizer
verifies the JWT and passes its claims in `requestContext.authorizer.claims`; the local
runtime's API emulation verifies its own tokens and passes claims the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from climatrak.core.errors import Forbidden, Unauthenticated

TENANT_CLAIM = "custom:tenant_id"
ROLE_CLAIM = "custom:role"
USER_ID_CLAIM = "custom:user_id"

_TENANT_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"
    TECHNICIAN = "technician"
    REQUESTER = "requester"
    VIEWER = "viewer"


class Permission(StrEnum):
    REGISTRY_READ = "registry:read"
    REGISTRY_WRITE = "registry:write"
    DEVICE_SECRET_ROTATE = "device:rotate-secret"  # noqa: S105 - a permission name, not a secret
    TELEMETRY_READ = "telemetry:read"
    CMMS_READ = "cmms:read"
    # create, edit, delete and cancel any work order; post costs
    WORK_ORDER_MANAGE = "cmms:work-order:manage"
    # start and complete work orders and record their cost inputs; technicians only on
    # work orders assigned to them (checked by the CMMS logic)
    WORK_ORDER_EXECUTE = "cmms:work-order:execute"
    LEDGER_READ = "ledger:read"
    # cost centres, rate cards, budgets, commitments, savings and manual postings
    LEDGER_WRITE = "ledger:write"
    COMMITMENT_APPROVE = "ledger:commitment:approve"
    MONTH_LOCK = "ledger:month:lock"
    EVENTS_ADMIN = "events:admin"
    ALERTS_READ = "alerts:read"
    # alert rules (create, edit, toggle, delete) and alert actions (acknowledge, resolve, link a
    # work order, delete)
    ALERTS_MANAGE = "alerts:manage"
    # the daily and monthly reports: list, read, download
    REPORTS_READ = "reports:read"
    # start a report run (the state machine) for the caller's tenant
    REPORTS_RUN = "reports:run"


_EVERYONE = frozenset(Role)
_MANAGERS = frozenset({Role.OWNER, Role.ADMIN, Role.OPERATOR})
_ADMINS = frozenset({Role.OWNER, Role.ADMIN})

# The one permission table. Routes name a permission; roles are never checked elsewhere.
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.REGISTRY_READ: _EVERYONE,
    Permission.REGISTRY_WRITE: _MANAGERS,
    Permission.DEVICE_SECRET_ROTATE: _ADMINS,
    Permission.TELEMETRY_READ: _EVERYONE,
    Permission.CMMS_READ: _EVERYONE,
    Permission.WORK_ORDER_MANAGE: _MANAGERS,
    Permission.WORK_ORDER_EXECUTE: _MANAGERS | {Role.TECHNICIAN},
    Permission.LEDGER_READ: _EVERYONE,
    Permission.LEDGER_WRITE: _MANAGERS,
    Permission.COMMITMENT_APPROVE: _MANAGERS,
    Permission.MONTH_LOCK: _ADMINS,
    Permission.EVENTS_ADMIN: _ADMINS,
    Permission.ALERTS_READ: _EVERYONE,
    Permission.ALERTS_MANAGE: _MANAGERS,
    # managers' and directors' reading: not technicians' or requesters' (field roles)
    Permission.REPORTS_READ: _MANAGERS | {Role.VIEWER},
    Permission.REPORTS_RUN: _ADMINS,
}


def normalise_tenant(value: str) -> str:
    """Tenant slugs compare case-insensitively with '-' and '_' alike (the frontend's rule)."""
    return value.strip().lower().replace("-", "_")


def validate_tenant_slug(slug: str) -> str:
    if not _TENANT_SLUG.match(slug):
        raise ValueError(f"invalid tenant slug {slug!r}: use lower-case letters, digits, '-' or '_'")
    return slug


@dataclass(frozen=True)
class Principal:
    tenant: str
    role: Role
    user_id: int
    email: str
    subject: str

    def can(self, permission: Permission) -> bool:
        return self.role in PERMISSIONS[permission]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden("You do not have permission to perform this action.")


def principal_from_claims(claims: dict[str, Any] | None) -> Principal:
    if not claims or not claims.get(TENANT_CLAIM):
        raise Unauthenticated("Authentication credentials were not provided.")
    role_value = str(claims.get(ROLE_CLAIM) or Role.VIEWER).lower()
    try:
        role = Role(role_value)
    except ValueError:
        role = Role.VIEWER  # unknown roles get the least privilege, as the frontend does
    try:
        user_id = int(claims.get(USER_ID_CLAIM) or 0)
    except (TypeError, ValueError):
        user_id = 0
    return Principal(
        tenant=str(claims[TENANT_CLAIM]),
        role=role,
        user_id=user_id,
        email=str(claims.get("email") or ""),
        subject=str(claims.get("sub") or ""),
    )
