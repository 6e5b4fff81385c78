"""/api/v1/strategies: what can run, start, stop, what runs, status and performance."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from trading_engine.domain.timefmt import isoformat_utc
from trading_engine.presentation.http.bodies import json_response, read_json
from trading_engine.presentation.http.schemas import StartStrategy, StopStrategy
from trading_engine.services.strategy_runtime import Instance, StrategyManager


def instance_json(instance: Instance) -> dict[str, Any]:
    record = instance.record()
    return {
        "strategy_id": record.strategy_id,
        "strategy": record.strategy,
        "symbol": record.symbol,
        "params": dict(record.params),
        "status": record.status,
        "reason": record.reason,
        "created_at": isoformat_utc(record.created_at),
        "updated_at": isoformat_utc(record.updated_at),
        "position": instance.performance.position.quantity,
        "trades": instance.performance.trades,
        "limit_hits": instance.limits.hits,
    }


class StrategyHandlers:
    def __init__(self, strategies: StrategyManager) -> None:
        self._strategies = strategies

    async def available(self, request: web.Request) -> web.Response:
        return json_response({"strategies": self._strategies.available()})

    async def start(self, request: web.Request) -> web.Response:
        body = await read_json(request, StartStrategy)
        instance = await self._strategies.start(body.strategy, body.symbol, body.params)
        return json_response(instance_json(instance), status=201)

    async def stop(self, request: web.Request) -> web.Response:
        body = await read_json(request, StopStrategy)
        instance = await self._strategies.stop(body.strategy_id)
        return json_response(instance_json(instance))

    async def active(self, request: web.Request) -> web.Response:
        return json_response({"strategies": [instance_json(i) for i in self._strategies.active()]})

    async def status(self, request: web.Request) -> web.Response:
        return json_response(instance_json(await self._strategies.find(request.match_info["strategy_id"])))

    async def performance(self, request: web.Request) -> web.Response:
        instance = await self._strategies.find(request.match_info["strategy_id"])
        return json_response(self._strategies.performance_of(instance))
