"""The service with its gRPC server on a free loopback port, over fakes for the clock and the
market data; the HTTP test client of the same container beside it; real grpc.aio stubs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient
from dependency_injector import providers
from grpc_status import rpc_status
from google.rpc import error_details_pb2

from tests.conftest import API_TOKEN
from tests.fakes import FakeClock, ScriptedMarketData
from tests.support.process import free_port
from trading_engine.containers import Container
from trading_engine.infrastructure.config import merge
from trading_engine.v1 import (
    market_pb2_grpc,
    risk_pb2_grpc,
    strategy_pb2_grpc,
    trading_pb2_grpc,
)

AUTH = (("authorization", f"Bearer {API_TOKEN}"),)
OPENING = {"BTC-USD": "50000", "ETH-USD": "3000", "ETH-BTC": "0.06"}


@dataclass
class GrpcApi:
    container: Container
    http: TestClient
    channel: grpc.aio.Channel
    port: int
    clock: FakeClock
    market: ScriptedMarketData

    @property
    def trading(self) -> trading_pb2_grpc.TradingServiceStub:
        return trading_pb2_grpc.TradingServiceStub(self.channel)

    @property
    def strategies(self) -> strategy_pb2_grpc.StrategyServiceStub:
        return strategy_pb2_grpc.StrategyServiceStub(self.channel)

    @property
    def risk(self) -> risk_pb2_grpc.RiskServiceStub:
        return risk_pb2_grpc.RiskServiceStub(self.channel)

    @property
    def prices(self) -> market_pb2_grpc.MarketServiceStub:
        return market_pb2_grpc.MarketServiceStub(self.channel)

    async def server(self) -> Any:
        return await self.container.grpc_server()


def grpc_overrides(port: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return merge(
        {"grpc": {"enabled": True, "host": "127.0.0.1", "port": port, "health_interval_seconds": "0.02"}},
        extra or {},
    )


@pytest.fixture
def start_grpc(make_container: Callable[..., Container], make_client: Callable[..., Any]) -> Any:
    async def start(overrides: dict[str, Any] | None = None,
                    setup: Callable[[Container], None] | None = None) -> GrpcApi:
        """``setup`` overrides more providers of the container before it starts."""
        port = free_port()
        container = make_container(grpc_overrides(port, overrides))
        clock = FakeClock()
        market = ScriptedMarketData(clock, OPENING)
        container.clock.override(providers.Object(clock))
        container.market_data.override(providers.Object(market))
        if setup is not None:
            setup(container)
        http = await make_client(container)  # starts the container's resources, gRPC included
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        return GrpcApi(container, http, channel, port, clock, market)

    return start


@pytest.fixture
async def api(start_grpc: Any) -> AsyncIterator[GrpcApi]:
    api = await start_grpc()
    yield api
    await api.channel.close()


def details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[tuple[str, str]]]:
    """The ErrorInfo and the BadRequest field violations (field, description) of a refusal."""
    status = rpc_status.from_call(error)
    assert status is not None, f"{error.code()} without google.rpc.Status details"
    info = error_details_pb2.ErrorInfo()
    violations: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [(v.field, v.description) for v in bad.field_violations]
    return info, violations


async def refused(call: Any) -> grpc.aio.AioRpcError:
    """Await a call that must fail and return its error."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value
