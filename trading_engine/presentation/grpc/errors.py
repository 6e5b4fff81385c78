"""How exceptions become gRPC statuses: one table, like the HTTP error middleware's.

Every refusal carries a ``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer with an
``ErrorInfo`` (``reason``: the JSON API's error code, e.g. ``insufficient_funds``; metadata: the
request id and, for a rejected order, its id) and, when one input field is to blame, a
``BadRequest`` field violation naming it. Anything unexpected is ``INTERNAL`` with the request id,
its traceback logged; bad input never gets there.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from trading_engine.domain.errors import (
    CapacityReached,
    Conflict,
    DomainError,
    IdempotencyConflict,
    NotFound,
    Unavailable,
    ValidationError,
)
from trading_engine.domain.orders import RejectReason
from trading_engine.services.orders import OrderRejected

DOMAIN = "trading-system-engine"

# A rejected order: input off the instrument's grid is the client's to fix; limits are exhausted
# resources; the breaker is a precondition; stale prices make the market unavailable.
REJECTION_STATUS: dict[RejectReason, tuple[grpc.StatusCode, str | None]] = {
    RejectReason.UNKNOWN_SYMBOL: (grpc.StatusCode.INVALID_ARGUMENT, "symbol"),
    RejectReason.QUANTITY_BELOW_MINIMUM: (grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    RejectReason.QUANTITY_OFF_LOT: (grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
    RejectReason.PRICE_OFF_TICK: (grpc.StatusCode.INVALID_ARGUMENT, "limit_price"),
    RejectReason.MAX_ORDER_NOTIONAL_EXCEEDED: (grpc.StatusCode.RESOURCE_EXHAUSTED, None),
    RejectReason.MAX_POSITION_EXCEEDED: (grpc.StatusCode.RESOURCE_EXHAUSTED, None),
    RejectReason.GROSS_EXPOSURE_EXCEEDED: (grpc.StatusCode.RESOURCE_EXHAUSTED, None),
    RejectReason.INSUFFICIENT_FUNDS: (grpc.StatusCode.RESOURCE_EXHAUSTED, None),
    RejectReason.CIRCUIT_BREAKER_OPEN: (grpc.StatusCode.FAILED_PRECONDITION, None),
    RejectReason.MARKET_DATA_STALE: (grpc.StatusCode.UNAVAILABLE, None),
}


@dataclass(frozen=True)
class Refusal:
    """What a call is answered with when it fails."""

    code: grpc.StatusCode
    reason: str
    message: str
    field: str | None = None
    order_id: str | None = None


class GrpcRefusal(Exception):
    """A call the gRPC layer itself refuses (missing token, bad metadata)."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.refusal = Refusal(code, reason, message, field)


def invalid_argument(field: str, message: str, reason: str = "validation_error") -> GrpcRefusal:
    return GrpcRefusal(grpc.StatusCode.INVALID_ARGUMENT, reason, message, field)


def refusal_for(exc: BaseException) -> Refusal | None:
    """The status for an exception the service raises on purpose; None for anything else."""
    if isinstance(exc, GrpcRefusal):
        return exc.refusal
    if isinstance(exc, OrderRejected):
        code, field = REJECTION_STATUS[exc.reason]
        return Refusal(code, exc.code, exc.message, field, exc.order.order_id)
    if isinstance(exc, ValidationError):
        return Refusal(grpc.StatusCode.INVALID_ARGUMENT, exc.code, exc.message, exc.field or "request")
    if isinstance(exc, NotFound):
        return Refusal(grpc.StatusCode.NOT_FOUND, exc.code, exc.message)
    if isinstance(exc, Conflict):
        if isinstance(exc, IdempotencyConflict):
            return Refusal(grpc.StatusCode.ALREADY_EXISTS, exc.code, exc.message, "client_order_id")
        if isinstance(exc, CapacityReached):
            return Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, exc.code, exc.message)
        return Refusal(grpc.StatusCode.FAILED_PRECONDITION, exc.code, exc.message)
    if isinstance(exc, Unavailable):
        return Refusal(grpc.StatusCode.UNAVAILABLE, exc.code, exc.message)
    if isinstance(exc, DomainError):
        return Refusal(grpc.StatusCode.FAILED_PRECONDITION, exc.code, exc.message)
    return None


def internal(request_id: str) -> Refusal:
    return Refusal(
        grpc.StatusCode.INTERNAL, "internal_error",
        f"internal server error; quote request_id {request_id} when reporting it",
    )


def rich_status(refusal: Refusal, request_id: str) -> grpc.Status:
    """The refusal as a status whose details a client decodes with ``grpc_status.rpc_status``."""
    info = error_details_pb2.ErrorInfo(reason=refusal.reason, domain=DOMAIN, metadata={"request_id": request_id})
    if refusal.order_id is not None:
        info.metadata["order_id"] = refusal.order_id
    details = [_packed(info)]
    if refusal.field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(field=refusal.field, description=refusal.message)
        details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
    status = status_pb2.Status(code=refusal.code.value[0], message=refusal.message, details=details)
    rich = rpc_status.to_status(status)
    return rich._replace(trailing_metadata=(*rich.trailing_metadata, ("x-request-id", request_id)))  # type: ignore[attr-defined]


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed
