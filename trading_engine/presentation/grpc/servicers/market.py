"""MarketService: the latest prices, and a stream of new ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc

from trading_engine.domain.errors import NotFound
from trading_engine.domain.ports.market_data import Quote
from trading_engine.domain.timefmt import isoformat_exact
from trading_engine.presentation.grpc.convert import to_message
from trading_engine.presentation.views import price_view
from trading_engine.services.market import MarketView
from trading_engine.services.updates import Gap, UpdateHub
from trading_engine.v1 import market_pb2 as pb
from trading_engine.v1 import market_pb2_grpc

Context = grpc.aio.ServicerContext


class MarketServicer(market_pb2_grpc.MarketServiceServicer):
    def __init__(self, market: MarketView, prices: UpdateHub[Quote]) -> None:
        self._market = market
        self._prices = prices

    def _symbols(self, asked: Sequence[str]) -> tuple[str, ...]:
        symbols = tuple(dict.fromkeys(s.strip().upper() for s in asked)) or self._market.symbols
        for symbol in symbols:
            if symbol not in self._market.symbols:
                raise NotFound(f"unknown symbol {symbol[:64]!r}; configured: {', '.join(self._market.symbols)}")
        return symbols

    async def GetPrices(self, request: pb.GetPricesRequest, context: Context) -> pb.GetPricesResponse:
        symbols = self._symbols(request.symbols)
        return to_message(pb.GetPricesResponse, {"prices": [price_view(self._market, s) for s in symbols]})

    async def StreamPrices(self, request: pb.StreamPricesRequest, context: Context) -> AsyncIterator[pb.StreamPricesResponse]:
        wanted = frozenset(self._symbols(request.symbols))
        with self._prices.subscribe(lambda quote: quote.symbol in wanted) as subscription:
            async for update in subscription:
                if isinstance(update, Gap):
                    yield pb.StreamPricesResponse(gap=pb.Gap(dropped=update.dropped))
                else:
                    yield to_message(pb.StreamPricesResponse, {"price": {
                        "symbol": update.symbol, "price": update.price,
                        "timestamp": isoformat_exact(update.timestamp), "fresh": True,
                    }})
