"""grpc.health.v1 follows readiness; server reflection lists every service."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.grpc.conftest import GrpcApi, refused

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
API_SERVICES = ["trading_engine.v1.TradingService", "trading_engine.v1.StrategyService",
                "trading_engine.v1.RiskService", "trading_engine.v1.MarketService"]


async def test_check_overall_and_per_service(api: GrpcApi) -> None:
    health = health_pb2_grpc.HealthStub(api.channel)
    for service in ["", *API_SERVICES]:
        async with asyncio.timeout(5):
            while (await health.Check(health_pb2.HealthCheckRequest(service=service))).status != SERVING:
                await asyncio.sleep(0.01)
    unknown = await refused(health.Check(health_pb2.HealthCheckRequest(service="no.Such")))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


async def test_watch_follows_readiness(api: GrpcApi) -> None:
    health = health_pb2_grpc.HealthStub(api.channel)
    lifecycle = api.container.lifecycle()
    watch = health.Watch(health_pb2.HealthCheckRequest(service="trading_engine.v1.TradingService"))
    seen = []
    async with asyncio.timeout(5):
        while not seen or seen[-1] != SERVING:
            seen.append((await watch.read()).status)
        lifecycle.mark_stopping()  # readiness now fails: lifecycle
        seen.append((await watch.read()).status)
        http = await api.http.get("/api/v1/ready")
        assert http.status == 503
        lifecycle.mark_serving()
        seen.append((await watch.read()).status)
    assert seen[-2:] == [NOT_SERVING, SERVING]
    watch.cancel()


async def test_reflection_lists_every_service(api: GrpcApi) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(api.channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    names = sorted(s.name for s in response.list_services_response.service)
    assert names == sorted([*API_SERVICES, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"])
    await call.write(reflection_pb2.ServerReflectionRequest(file_containing_symbol="trading_engine.v1.TradingService"))
    described = await call.read()
    assert described.file_descriptor_response.file_descriptor_proto
    await call.done_writing()
