"""The service as a real subprocess serving gRPC beside HTTP: health, a live price stream, and
SIGTERM ending the stream with a status before the process exits 0."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.process import REPO_ROOT, ServiceProcess, free_port
from trading_engine.v1 import market_pb2, market_pb2_grpc, trading_pb2, trading_pb2_grpc

pytestmark = pytest.mark.integration


async def test_grpc_beside_http_and_sigterm_ends_streams_with_a_status() -> None:
    with ServiceProcess() as service:
        service.wait_healthy()
        started = service.wait_event("service_started")
        assert started["grpc_port"] == service.grpc_port
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            async with asyncio.timeout(10):
                while (await health.Check(health_pb2.HealthCheckRequest())).status != health_pb2.HealthCheckResponse.SERVING:
                    await asyncio.sleep(0.05)
            portfolio = await trading_pb2_grpc.TradingServiceStub(channel).GetPortfolio(trading_pb2.GetPortfolioRequest())
            assert portfolio.reporting_currency == "USD"
            stream = market_pb2_grpc.MarketServiceStub(channel).StreamPrices(market_pb2.StreamPricesRequest())
            async with asyncio.timeout(10):
                first = await stream.read()  # the simulated feed ticks every 0.25 s
            assert first.price.symbol in {"BTC-USD", "ETH-USD", "ETH-BTC"}
            service.signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                while await stream.read() is not grpc.aio.EOF:
                    pass
            assert await stream.code() == grpc.StatusCode.OK
        assert await asyncio.to_thread(service.wait) == 0
        names = [e["event"] for e in service.events()]
        assert "grpc_server_stopped" in names and names[-1] == "shutdown_complete"


def test_grpc_port_in_use_is_one_clear_line_and_exit_1() -> None:
    with ServiceProcess() as first:
        first.wait_healthy()
        env = {**first.env, "HTTP_PORT": str(free_port())}  # only the gRPC port is taken
        result = subprocess.run([sys.executable, "-m", "trading_engine"], env=env, cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"gRPC cannot listen on 0.0.0.0:{first.grpc_port}" in result.stderr, result.stderr[-500:]
    assert "Traceback" not in result.stderr
