"""/api/v1/orders: place, list, read, cancel, and an order's fills."""

from __future__ import annotations

from aiohttp import web

from trading_engine.domain.errors import ValidationError
from trading_engine.domain.orders import OrderRequest
from trading_engine.domain.ports.repository import OrderQuery
from trading_engine.presentation.http.bodies import json_response, read_json, read_query
from trading_engine.presentation.http.errors import ApiError
from trading_engine.presentation.http.schemas import CreateOrder, OrderListQuery
from trading_engine.services.orders import OrderService


class OrderHandlers:
    def __init__(self, orders: OrderService) -> None:
        self._orders = orders

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request, CreateOrder)
        result = await self._orders.place(OrderRequest(**body.model_dump()))
        return json_response(result.order.to_dict(), status=201 if result.created else 200)

    async def list(self, request: web.Request) -> web.Response:
        query = read_query(request, OrderListQuery)
        try:
            page = await self._orders.list(
                OrderQuery(
                    status=query.status,
                    symbol=query.symbol.upper() if query.symbol else None,
                    strategy_id=query.strategy_id,
                    limit=query.limit,
                    cursor=query.cursor,
                )
            )
        except ValidationError as exc:  # a malformed cursor is a bad query parameter like the others
            raise ApiError(400, exc.message, field=exc.field) from None
        return json_response(
            {"orders": [order.to_dict() for order in page.orders], "next_cursor": page.next_cursor}
        )

    async def get(self, request: web.Request) -> web.Response:
        order = await self._orders.get(request.match_info["order_id"])
        return json_response(order.to_dict())

    async def cancel(self, request: web.Request) -> web.Response:
        order = await self._orders.cancel(request.match_info["order_id"])
        return json_response(order.to_dict())

    async def fills(self, request: web.Request) -> web.Response:
        fills = await self._orders.fills(request.match_info["order_id"])
        return json_response({"fills": [fill.to_dict() for fill in fills]})
