"""StrategyService: what can run, starting and stopping instances, their status, performance
and a stream of their updates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict

import grpc

from trading_engine.domain.orders import Fill
from trading_engine.presentation.grpc.convert import from_message, to_message
from trading_engine.presentation.grpc.requests import validated
from trading_engine.presentation.http.schemas import StartStrategy, StopStrategy, StrategyFilter
from trading_engine.presentation.views import instance_view
from trading_engine.services.strategy_runtime import StrategyManager
from trading_engine.services.strategy_runtime.updates import StatusChange, StrategyUpdate
from trading_engine.services.updates import Gap, UpdateHub
from trading_engine.v1 import market_pb2, strategy_pb2 as pb
from trading_engine.v1 import strategy_pb2_grpc

Context = grpc.aio.ServicerContext


def update_message(update: StrategyUpdate | Gap) -> pb.StreamStrategyUpdatesResponse:
    if isinstance(update, Gap):
        return pb.StreamStrategyUpdatesResponse(gap=market_pb2.Gap(dropped=update.dropped))
    if isinstance(update, StatusChange):
        return to_message(pb.StreamStrategyUpdatesResponse, {"status_change": asdict(update)})
    if isinstance(update, Fill):
        return to_message(pb.StreamStrategyUpdatesResponse, {"fill": update.to_dict()})
    return to_message(pb.StreamStrategyUpdatesResponse, {"pnl": asdict(update)})


class StrategyServicer(strategy_pb2_grpc.StrategyServiceServicer):
    def __init__(self, strategies: StrategyManager, updates: UpdateHub[StrategyUpdate]) -> None:
        self._strategies = strategies
        self._updates = updates

    async def ListAvailableStrategies(
        self, request: pb.ListAvailableStrategiesRequest, context: Context
    ) -> pb.ListAvailableStrategiesResponse:
        return to_message(pb.ListAvailableStrategiesResponse, {"strategies": self._strategies.available()})

    async def StartStrategy(self, request: pb.StartStrategyRequest, context: Context) -> pb.StartStrategyResponse:
        body = validated(StartStrategy, from_message(request))
        instance = await self._strategies.start(body.strategy, body.symbol, body.params)
        return to_message(pb.StartStrategyResponse, {"strategy": instance_view(instance)})

    async def StopStrategy(self, request: pb.StopStrategyRequest, context: Context) -> pb.StopStrategyResponse:
        body = validated(StopStrategy, request)
        instance = await self._strategies.stop(body.strategy_id)
        return to_message(pb.StopStrategyResponse, {"strategy": instance_view(instance)})

    async def GetStrategyStatus(
        self, request: pb.GetStrategyStatusRequest, context: Context
    ) -> pb.GetStrategyStatusResponse:
        instance = await self._strategies.find(request.strategy_id)
        return to_message(pb.GetStrategyStatusResponse, {"strategy": instance_view(instance)})

    async def ListActiveStrategies(
        self, request: pb.ListActiveStrategiesRequest, context: Context
    ) -> pb.ListActiveStrategiesResponse:
        return to_message(pb.ListActiveStrategiesResponse,
                          {"strategies": [instance_view(i) for i in self._strategies.active()]})

    async def GetStrategyPerformance(
        self, request: pb.GetStrategyPerformanceRequest, context: Context
    ) -> pb.GetStrategyPerformanceResponse:
        instance = await self._strategies.find(request.strategy_id)
        return to_message(pb.GetStrategyPerformanceResponse, {"performance": self._strategies.performance_of(instance)})

    async def StreamStrategyUpdates(
        self, request: pb.StreamStrategyUpdatesRequest, context: Context
    ) -> AsyncIterator[pb.StreamStrategyUpdatesResponse]:
        strategy_id = validated(StrategyFilter, request).strategy_id
        if strategy_id is not None:
            await self._strategies.find(strategy_id)  # NOT_FOUND for an unknown instance
        with self._updates.subscribe(lambda u: strategy_id in (None, u.strategy_id)) as subscription:
            async for update in subscription:
                yield update_message(update)
