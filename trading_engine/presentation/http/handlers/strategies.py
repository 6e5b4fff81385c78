"""/api/v1/strategies: what can run, start, stop, what runs, status and performance."""

from __future__ import annotations

from aiohttp import web

from trading_engine.presentation.http.bodies import json_response, read_json
from trading_engine.presentation.http.schemas import StartStrategy, StopStrategy
from trading_engine.presentation.views import instance_view
from trading_engine.services.strategy_runtime import StrategyManager


class StrategyHandlers:
    def __init__(self, strategies: StrategyManager) -> None:
        self._strategies = strategies

    async def available(self, request: web.Request) -> web.Response:
        return json_response({"strategies": self._strategies.available()})

    async def start(self, request: web.Request) -> web.Response:
        body = await read_json(request, StartStrategy)
        instance = await self._strategies.start(body.strategy, body.symbol, body.params)
        return json_response(instance_view(instance), status=201)

    async def stop(self, request: web.Request) -> web.Response:
        body = await read_json(request, StopStrategy)
        instance = await self._strategies.stop(body.strategy_id)
        return json_response(instance_view(instance))

    async def active(self, request: web.Request) -> web.Response:
        return json_response({"strategies": [instance_view(i) for i in self._strategies.active()]})

    async def status(self, request: web.Request) -> web.Response:
        return json_response(instance_view(await self._strategies.find(request.match_info["strategy_id"])))

    async def performance(self, request: web.Request) -> web.Response:
        instance = await self._strategies.find(request.match_info["strategy_id"])
        return json_response(self._strategies.performance_of(instance))
