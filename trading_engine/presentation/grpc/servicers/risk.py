"""RiskService: the risk status and the circuit breaker."""

from __future__ import annotations

import grpc

from trading_engine.presentation.grpc.convert import to_message
from trading_engine.presentation.grpc.requests import validated
from trading_engine.presentation.http.schemas import CircuitBreakerAction
from trading_engine.services.risk import BreakerChange, RiskService
from trading_engine.v1 import risk_pb2 as pb
from trading_engine.v1 import risk_pb2_grpc

Context = grpc.aio.ServicerContext


def _change(change: BreakerChange) -> dict[str, object]:
    return {
        "changed": change.changed,
        "circuit_breaker": change.breaker,
        "cancelled_orders": [order.order_id for order in change.cancelled],
    }


class RiskServicer(risk_pb2_grpc.RiskServiceServicer):
    def __init__(self, risk: RiskService) -> None:
        self._risk = risk

    async def GetRiskStatus(self, request: pb.GetRiskStatusRequest, context: Context) -> pb.GetRiskStatusResponse:
        return to_message(pb.GetRiskStatusResponse, self._risk.status())

    async def TripCircuitBreaker(
        self, request: pb.TripCircuitBreakerRequest, context: Context
    ) -> pb.TripCircuitBreakerResponse:
        body = validated(CircuitBreakerAction, {"action": "trip", "reason": request.reason})
        return to_message(pb.TripCircuitBreakerResponse, _change(await self._risk.trip(body.reason or "")))

    async def ResetCircuitBreaker(
        self, request: pb.ResetCircuitBreakerRequest, context: Context
    ) -> pb.ResetCircuitBreakerResponse:
        reason = request.reason if request.HasField("reason") else None
        body = validated(CircuitBreakerAction, {"action": "reset", "reason": reason})
        return to_message(pb.ResetCircuitBreakerResponse, _change(await self._risk.reset(body.reason)))
