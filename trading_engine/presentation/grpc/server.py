"""The gRPC server: built from the use cases, started and stopped by the container's resource
(``serve_grpc``) in the same process and event loop as the HTTP server.

Stopping (SIGTERM): health turns NOT_SERVING, the streams end with status OK after what they had
buffered, the server stops accepting calls and lets in-flight unary calls finish within
``http.shutdown_timeout_seconds``, then cancels what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from trading_engine.domain.ports.market_data import MarketDataPort, Quote
from trading_engine.services.observability import GuardedMetrics
from trading_engine.presentation.grpc.call_context import CallContextInterceptor
from trading_engine.presentation.grpc.health import ReadinessHealth
from trading_engine.presentation.grpc.metrics_interceptor import GrpcMetricsInterceptor
from trading_engine.presentation.grpc.servicers.market import MarketServicer
from trading_engine.presentation.grpc.servicers.risk import RiskServicer
from trading_engine.presentation.grpc.servicers.strategy import StrategyServicer
from trading_engine.presentation.grpc.servicers.trading import TradingServicer
from trading_engine.services.health import HealthService
from trading_engine.services.market import MarketView
from trading_engine.services.orders import OrderService
from trading_engine.services.portfolio import PortfolioService
from trading_engine.services.risk import RiskService
from trading_engine.services.strategy_runtime import StrategyManager
from trading_engine.services.strategy_runtime.updates import StrategyUpdate
from trading_engine.services.updates import UpdateHub
from trading_engine.v1 import (
    market_pb2,
    market_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
    trading_pb2,
    trading_pb2_grpc,
)

log = structlog.get_logger(__name__)

SERVICES = (
    trading_pb2.DESCRIPTOR.services_by_name["TradingService"],
    strategy_pb2.DESCRIPTOR.services_by_name["StrategyService"],
    risk_pb2.DESCRIPTOR.services_by_name["RiskService"],
    market_pb2.DESCRIPTOR.services_by_name["MarketService"],
)
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"]
MUTATING = {
    "TradingService": ("PlaceOrder", "CancelOrder"),
    "StrategyService": ("StartStrategy", "StopStrategy"),
    "RiskService": ("TripCircuitBreaker", "ResetCircuitBreaker"),
}


def _methods(services: Sequence[Any]) -> list[str]:
    return [f"/{service.full_name}/{method.name}" for service in services for method in service.methods]


def mutating_methods() -> list[str]:
    by_name = {service.name: service.full_name for service in SERVICES}
    return [f"/{by_name[service]}/{method}" for service, methods in MUTATING.items() for method in methods]


def served_methods() -> list[str]:
    """Every method this server registers: the API's, health's and reflection's."""
    reflection_service = reflection.SERVICE_NAME
    return [*_methods([*SERVICES, HEALTH_SERVICE]), f"/{reflection_service}/ServerReflectionInfo"]


@dataclass(frozen=True)
class UseCases:
    orders: OrderService
    portfolio: PortfolioService
    risk: RiskService
    market: MarketView
    strategies: StrategyManager
    health: HealthService


@dataclass(frozen=True)
class GrpcServerSettings:
    """``grpc.*`` with the two values it shares with HTTP: the shutdown timeout and the token."""

    host: str
    port: int
    max_message_bytes: int
    stream_buffer: int
    health_interval_seconds: float
    shutdown_timeout_seconds: float
    api_token: str


class GrpcServer:
    def __init__(
        self, settings: GrpcServerSettings, use_cases: UseCases, metrics: GuardedMetrics, market_data: MarketDataPort,
        strategy_updates: UpdateHub[StrategyUpdate],
    ) -> None:
        self._settings = settings
        self._market_data = market_data
        self._strategy_updates = strategy_updates
        self._prices: UpdateHub[Quote] = UpdateHub(settings.stream_buffer)
        self._health = ReadinessHealth(
            use_cases.health, [service.full_name for service in SERVICES], settings.health_interval_seconds
        )
        limit = settings.max_message_bytes
        self.interceptors = (
            GrpcMetricsInterceptor(metrics, served_methods()),
            CallContextInterceptor(settings.api_token, mutating_methods()),
        )
        self._server = grpc.aio.server(
            interceptors=self.interceptors,
            # No SO_REUSEPORT: a second process on the same port fails to start instead of
            # silently sharing the port's calls with the first.
            options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit),
                     ("grpc.so_reuseport", 0)],
        )
        u = use_cases
        trading_pb2_grpc.add_TradingServiceServicer_to_server(TradingServicer(u.orders, u.portfolio, u.strategies),
                                                              self._server)
        strategy_pb2_grpc.add_StrategyServiceServicer_to_server(StrategyServicer(u.strategies, strategy_updates),
                                                                self._server)
        risk_pb2_grpc.add_RiskServiceServicer_to_server(RiskServicer(u.risk), self._server)
        market_pb2_grpc.add_MarketServiceServicer_to_server(MarketServicer(u.market, self._prices), self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            [*(service.full_name for service in SERVICES), HEALTH_SERVICE.full_name, reflection.SERVICE_NAME],
            self._server,
        )
        self.port = 0
        self._unsubscribe: Any = None
        self._stopping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        address = f"{self._settings.host}:{self._settings.port}"
        try:
            self.port = self._server.add_insecure_port(address)
        except RuntimeError as exc:  # the port is taken, the host does not resolve
            raise OSError(f"gRPC cannot listen on {address} ({exc})") from exc
        self._strategy_updates.reopen()

        def publish(quotes: Sequence[Quote]) -> None:
            for quote in quotes:
                self._prices.publish(quote)

        self._unsubscribe = self._market_data.subscribe(publish)
        await self._server.start()
        await self._health.start()
        log.info("grpc_server_started", host=self._settings.host, port=self.port)

    @property
    def price_subscribers(self) -> int:
        return self._prices.subscribers

    def begin_stop(self) -> None:
        """Start stopping (idempotent): the HTTP server drains at the same time."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop(), name="grpc-stop")

    async def stop(self) -> None:
        self.begin_stop()
        assert self._stopping is not None
        await self._stopping

    async def _stop(self) -> None:
        await self._health.close()
        self._prices.close()
        self._strategy_updates.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self._server.stop(self._settings.shutdown_timeout_seconds)
        log.info("grpc_server_stopped")


async def serve_grpc(
    enabled: bool, settings: dict[str, Any], shutdown_timeout_seconds: float, api_token: str,
    use_cases: UseCases, metrics: GuardedMetrics, market_data: MarketDataPort,
    strategy_updates: UpdateHub[StrategyUpdate], trading: Any = None,
) -> AsyncIterator[GrpcServer | None]:
    """Resource: serve gRPC while the container runs (after ``trading`` started, stopped before
    it stops); ``None`` when ``grpc.enabled`` is false."""
    if not enabled:
        yield None
        return
    server = GrpcServer(
        GrpcServerSettings(
            host=settings["host"], port=settings["port"], max_message_bytes=settings["max_message_bytes"],
            stream_buffer=settings["stream_buffer"], health_interval_seconds=settings["health_interval_seconds"],
            shutdown_timeout_seconds=shutdown_timeout_seconds, api_token=api_token,
        ),
        use_cases, metrics, market_data, strategy_updates,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
