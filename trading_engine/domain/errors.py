"""Domain errors. Each carries a stable snake_case ``code``; the HTTP layer maps classes to statuses."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the service reports to a client on purpose."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ValidationError(DomainError):
    """Input that is well-formed but not acceptable (a field names what is wrong and what is allowed)."""

    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class IdempotencyConflict(Conflict):
    """A client-chosen id (an idempotency key) already names a different request."""


class CapacityReached(Conflict):
    """A configured capacity (running strategy instances) is used up; free some first."""


class Unavailable(DomainError):
    """A dependency the request needs (database, market data) cannot serve it right now."""

    code = "service_unavailable"


class StoreUnavailable(Unavailable):
    """The trading store could not record a change (disk full, read-only, I/O error) or refuses
    changes until it is reset after such a failure. Nothing of the refused change was stored."""

    code = "store_unavailable"


class IllegalTransition(Conflict):
    """An order was asked to move to a status its current status does not lead to."""

    code = "illegal_transition"

    def __init__(self, message: str, *, order_id: str, status: str, target: str) -> None:
        super().__init__(message)
        self.order_id = order_id
        self.status = status
        self.target = target
