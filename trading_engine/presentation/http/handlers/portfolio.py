"""/api/v1/positions/current and /api/v1/portfolio/pnl."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from trading_engine.presentation.http.bodies import json_response, read_query
from trading_engine.presentation.http.schemas import StrategyFilter
from trading_engine.services.portfolio import PortfolioService
from trading_engine.services.strategy_runtime import StrategyManager


class PortfolioHandlers:
    def __init__(self, portfolio: PortfolioService, strategies: StrategyManager) -> None:
        self._portfolio = portfolio
        self._strategies = strategies

    async def positions(self, request: web.Request) -> web.Response:
        strategy_id = read_query(request, StrategyFilter).strategy_id
        if strategy_id is not None:  # the one symbol that instance trades, attributed to it
            perf = self._strategies.performance_of(await self._strategies.find(strategy_id))
            positions = [] if perf["position"] == 0 else [{
                "symbol": perf["symbol"], "currency": perf["currency"], "quantity": perf["position"],
                "average_entry_price": perf["average_entry_price"], "unrealized_pnl": perf["unrealized_pnl"],
                "realized_pnl": perf["realized_pnl"], "fees_paid": perf["fees"], "strategy_id": strategy_id,
            }]
            return json_response({"positions": positions})
        return json_response({"positions": [asdict(p) for p in self._portfolio.positions()]})

    async def pnl(self, request: web.Request) -> web.Response:
        strategy_id = read_query(request, StrategyFilter).strategy_id
        if strategy_id is not None:
            perf = self._strategies.performance_of(await self._strategies.find(strategy_id))
            return json_response({k: perf[k] for k in (
                "strategy_id", "symbol", "currency", "realized_pnl", "unrealized_pnl", "fees", "net_pnl", "trades")})
        v = self._portfolio.valuation()
        return json_response({**asdict(v), "net_pnl": v.realized_pnl + v.unrealized_pnl - v.fees})
