"""The one JSON error shape, and how exceptions map onto it.

``{"error": {"code": "snake_case_code", "message": "...", "request_id": "..."}}`` (plus ``field``
when one input field is to blame). Domain errors map to statuses here, in one table.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from trading_engine.domain.errors import Conflict, DomainError, NotFound, Unavailable, ValidationError

# Most specific class first; the first isinstance match wins.
DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (ValidationError, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
    (DomainError, 422),
)

STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "internal_error",
    501: "not_implemented",
    503: "service_unavailable",
}


class ApiError(Exception):
    """A request the HTTP layer refuses (malformed JSON, a bad query parameter, missing auth)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or code_for_status(status)
        self.message = message
        self.field = field
        self.headers = headers


def code_for_status(status: int) -> str:
    if status in STATUS_CODES:
        return STATUS_CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "client_error" if status < 500 else "server_error"


def status_for_domain_error(exc: DomainError) -> int:
    for cls, status in DOMAIN_STATUS:
        if isinstance(exc, cls):
            return status
    return 422  # unreachable: DomainError is the last row


def status_of(exc: BaseException) -> int:
    """The status the error middleware answers ``exc`` with: the metrics count the same one."""
    if isinstance(exc, web.HTTPException):
        return exc.status
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, DomainError):
        return status_for_domain_error(exc)
    return 500


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str | None,
    *,
    field: str | None = None,
    headers: Any = None,
    details: dict[str, Any] | None = None,
) -> web.Response:
    """``details`` (e.g. the rejected order) are added beside code, message and request_id."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if field is not None:
        error["field"] = field
    if details:
        error.update({k: v for k, v in details.items() if k not in error})
    return web.json_response({"error": error}, status=status, headers=headers)
