"""/api/v1/backtests: submit, list, one, its report, picture and fills, cancel."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from trading_engine.domain.backtest import BacktestRecord, BacktestSpec
from trading_engine.domain.decimals import plain
from trading_engine.domain.timefmt import isoformat_utc
from trading_engine.presentation.http.bodies import json_response, read_json
from trading_engine.presentation.http.schemas import StartBacktest
from trading_engine.services.backtest.service import BacktestService

CONTENT_TYPES = {"report": "text/html", "equity.png": "image/png", "fills.csv": "text/csv"}


def backtest_json(record: BacktestRecord) -> dict[str, Any]:
    spec = record.spec
    return {
        "backtest_id": record.backtest_id,
        "status": record.status.value,
        "progress": record.progress,
        "events": record.events,
        "request": {"strategy": spec.strategy, "symbol": spec.symbol, "params": spec.params, "data": list(spec.data),
                    "cash": spec.cash, "fee_bps": spec.fee_bps, "slippage_bps": spec.slippage_bps},
        "created_at": isoformat_utc(record.created_at),
        "started_at": None if record.started_at is None else isoformat_utc(record.started_at),
        "finished_at": None if record.finished_at is None else isoformat_utc(record.finished_at),
        "statistics": record.statistics,
        "error": record.error,
    }


class BacktestHandlers:
    def __init__(self, backtests: BacktestService) -> None:
        self._backtests = backtests

    async def submit(self, request: web.Request) -> web.Response:
        body = await read_json(request, StartBacktest)
        record = await self._backtests.submit(BacktestSpec(
            strategy=body.strategy, symbol=body.symbol.upper(), data=tuple(body.data), params=body.params,
            cash=body.cash, fee_bps=None if body.fee_bps is None else plain(body.fee_bps),
            slippage_bps=None if body.slippage_bps is None else plain(body.slippage_bps),
        ))
        return json_response(backtest_json(record), status=202)

    async def list(self, request: web.Request) -> web.Response:
        return json_response({"backtests": [backtest_json(r) for r in self._backtests.list()]})

    async def get(self, request: web.Request) -> web.Response:
        return json_response(backtest_json(self._backtests.get(request.match_info["backtest_id"])))

    async def cancel(self, request: web.Request) -> web.Response:
        return json_response(backtest_json(await self._backtests.cancel(request.match_info["backtest_id"])))

    def file(self, name: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            path = self._backtests.file(request.match_info["backtest_id"], name)
            return web.FileResponse(path, headers={"Content-Type": CONTENT_TYPES[name]})

        return handler
