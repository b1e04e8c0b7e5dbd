"""One error hierarchy for the whole product, mapped to HTTP in one place (core.http)."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the request. `field` makes it a field error ({field: [msg]})."""

    status = 400
    code = "invalid"

    def __init__(self, detail: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code:
            self.code = code


class Unauthenticated(DomainError):
    status, code = 401, "not_authenticated"


class Forbidden(DomainError):
    status, code = 403, "permission_denied"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class PayloadTooLarge(DomainError):
    status, code = 413, "payload_too_large"
