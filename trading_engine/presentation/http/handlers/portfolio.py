"""/api/v1/positions/current and /api/v1/portfolio/pnl."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from trading_engine.domain.portfolio import PositionValuation
from trading_engine.presentation.http.bodies import json_response
from trading_engine.services.portfolio import PortfolioService


def position_json(item: PositionValuation) -> dict[str, Any]:
    return {
        "symbol": item.symbol,
        "currency": item.currency,
        "quantity": item.quantity,
        "average_entry_price": item.average_entry_price,
        "mark": item.mark,
        "market_value": item.market_value,
        "unrealized_pnl": item.unrealized_pnl,
        "realized_pnl": item.realized_pnl,
        "fees_paid": item.fees_paid,
    }


class PortfolioHandlers:
    def __init__(self, portfolio: PortfolioService) -> None:
        self._portfolio = portfolio

    async def positions(self, request: web.Request) -> web.Response:
        return json_response({"positions": [position_json(p) for p in self._portfolio.positions()]})

    async def pnl(self, request: web.Request) -> web.Response:
        v = self._portfolio.valuation()
        return json_response(
            {
                "reporting_currency": v.reporting_currency,
                "cash": v.cash,
                "reserved": v.reserved,
                "equity": v.equity,
                "gross_exposure": v.gross_exposure,
                "net_exposure": v.net_exposure,
                "realized_pnl": v.realized_pnl,
                "unrealized_pnl": v.unrealized_pnl,
                "fees": v.fees,
                "net_pnl": v.realized_pnl + v.unrealized_pnl - v.fees,
                "positions": [position_json(p) for p in v.positions],
            }
        )
