"""/api/v1/positions/current and /api/v1/portfolio/pnl."""

from __future__ import annotations

from aiohttp import web

from trading_engine.presentation.http.bodies import json_response, read_query
from trading_engine.presentation.http.schemas import StrategyFilter
from trading_engine.presentation.views import portfolio_view, positions_view
from trading_engine.services.portfolio import PortfolioService
from trading_engine.services.strategy_runtime import StrategyManager


class PortfolioHandlers:
    def __init__(self, portfolio: PortfolioService, strategies: StrategyManager) -> None:
        self._portfolio = portfolio
        self._strategies = strategies

    async def positions(self, request: web.Request) -> web.Response:
        strategy_id = read_query(request, StrategyFilter).strategy_id
        return json_response({"positions": await positions_view(self._portfolio, self._strategies, strategy_id)})

    async def pnl(self, request: web.Request) -> web.Response:
        strategy_id = read_query(request, StrategyFilter).strategy_id
        if strategy_id is not None:
            perf = self._strategies.performance_of(await self._strategies.find(strategy_id))
            return json_response({k: perf[k] for k in (
                "strategy_id", "symbol", "currency", "realized_pnl", "unrealized_pnl", "fees", "net_pnl", "trades")})
        return json_response(portfolio_view(self._portfolio))
