"""/api/v1/market/prices and /api/v1/market/prices/{symbol}."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from trading_engine.domain.errors import NotFound
from trading_engine.domain.timefmt import isoformat_utc
from trading_engine.presentation.http.bodies import json_response
from trading_engine.services.market import MarketView


class MarketHandlers:
    def __init__(self, market: MarketView) -> None:
        self._market = market

    def _price(self, symbol: str) -> dict[str, Any]:
        quote = self._market.quote(symbol)
        return {
            "symbol": symbol,
            "price": None if quote is None else quote.price,
            "timestamp": None if quote is None else isoformat_utc(quote.timestamp),
            "age_seconds": self._market.age_seconds(symbol),
            "fresh": self._market.is_fresh(symbol),
        }

    async def prices(self, request: web.Request) -> web.Response:
        return json_response({"prices": [self._price(s) for s in self._market.symbols]})

    async def price(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"].strip().upper()
        if symbol not in self._market.symbols:
            raise NotFound(
                f"unknown symbol {request.match_info['symbol']!r}; configured: {', '.join(self._market.symbols)}"
            )
        return json_response(self._price(symbol))
