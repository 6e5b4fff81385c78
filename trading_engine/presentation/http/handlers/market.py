"""/api/v1/market/prices and /api/v1/market/prices/{symbol}."""

from __future__ import annotations

from aiohttp import web

from trading_engine.domain.errors import NotFound
from trading_engine.presentation.http.bodies import json_response
from trading_engine.presentation.views import price_view
from trading_engine.services.market import MarketView


class MarketHandlers:
    def __init__(self, market: MarketView) -> None:
        self._market = market

    async def prices(self, request: web.Request) -> web.Response:
        return json_response({"prices": [price_view(self._market, s) for s in self._market.symbols]})

    async def price(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"].strip().upper()
        if symbol not in self._market.symbols:
            raise NotFound(
                f"unknown symbol {request.match_info['symbol']!r}; configured: {', '.join(self._market.symbols)}"
            )
        return json_response(price_view(self._market, symbol))
