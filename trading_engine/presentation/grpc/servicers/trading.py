"""TradingService: orders, positions and the portfolio."""

from __future__ import annotations

import grpc

from trading_engine.domain.orders import OrderRequest
from trading_engine.domain.ports.repository import OrderQuery
from trading_engine.presentation.grpc.convert import to_message
from trading_engine.presentation.grpc.requests import validated
from trading_engine.presentation.http.schemas import CreateOrder, OrderListQuery, StrategyFilter
from trading_engine.presentation.views import portfolio_view, positions_view
from trading_engine.services.orders import OrderService
from trading_engine.services.portfolio import PortfolioService
from trading_engine.services.strategy_runtime import StrategyManager
from trading_engine.v1 import trading_pb2 as pb
from trading_engine.v1 import trading_pb2_grpc

Context = grpc.aio.ServicerContext


class TradingServicer(trading_pb2_grpc.TradingServiceServicer):
    def __init__(self, orders: OrderService, portfolio: PortfolioService, strategies: StrategyManager) -> None:
        self._orders = orders
        self._portfolio = portfolio
        self._strategies = strategies

    async def PlaceOrder(self, request: pb.PlaceOrderRequest, context: Context) -> pb.PlaceOrderResponse:
        body = validated(CreateOrder, request)
        result = await self._orders.place(OrderRequest(**body.model_dump()))
        return to_message(pb.PlaceOrderResponse, {"order": result.order.to_dict(), "created": result.created})

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: Context) -> pb.CancelOrderResponse:
        order = await self._orders.cancel(request.order_id)
        return to_message(pb.CancelOrderResponse, {"order": order.to_dict()})

    async def GetOrder(self, request: pb.GetOrderRequest, context: Context) -> pb.GetOrderResponse:
        order = await self._orders.get(request.order_id)
        return to_message(pb.GetOrderResponse, {"order": order.to_dict()})

    async def ListOrders(self, request: pb.ListOrdersRequest, context: Context) -> pb.ListOrdersResponse:
        query = validated(OrderListQuery, request)
        page = await self._orders.list(OrderQuery(
            status=query.status, symbol=query.symbol.upper() if query.symbol else None,
            strategy_id=query.strategy_id, limit=query.limit, cursor=query.cursor,
        ))
        return to_message(pb.ListOrdersResponse, {
            "orders": [order.to_dict() for order in page.orders], "next_cursor": page.next_cursor,
        })

    async def GetPositions(self, request: pb.GetPositionsRequest, context: Context) -> pb.GetPositionsResponse:
        strategy_id = validated(StrategyFilter, request).strategy_id
        positions = await positions_view(self._portfolio, self._strategies, strategy_id)
        return to_message(pb.GetPositionsResponse, {"positions": positions})

    async def GetPortfolio(self, request: pb.GetPortfolioRequest, context: Context) -> pb.GetPortfolioResponse:
        return to_message(pb.GetPortfolioResponse, portfolio_view(self._portfolio))
