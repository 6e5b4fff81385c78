"""The disk-space guard over gRPC: PlaceOrder is UNAVAILABLE (store_unavailable) with the reason
while the disk is short; reads and cancels go on; orders are taken again once space returns."""

from __future__ import annotations

import grpc
from dependency_injector import providers

from tests.fakes import FakeClock, FakeFreeSpace
from tests.grpc.conftest import AUTH, details, refused
from trading_engine.services.disk_guard import MIB, DiskGuard
from trading_engine.v1 import trading_pb2 as pb


def buy(**extra: object) -> pb.PlaceOrderRequest:
    return pb.PlaceOrderRequest(symbol="BTC-USD", side=pb.SIDE_BUY, quantity="0.01", **extra)  # type: ignore[arg-type]


async def test_place_order_is_unavailable_while_the_disk_is_short(start_grpc) -> None:
    probe, wall = FakeFreeSpace(), FakeClock()

    def configure(container) -> None:
        container.free_space_probe.override(providers.Object(probe))
        container.wall_clock.override(providers.Object(wall))

    api = await start_grpc(setup=configure)
    try:
        resting = (await api.trading.PlaceOrder(
            buy(type=pb.ORDER_TYPE_LIMIT, limit_price="40000"), metadata=AUTH)).order

        probe.free_bytes = 300 * MIB
        wall.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
        error = await refused(api.trading.PlaceOrder(buy(), metadata=AUTH))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert details(error)[0].reason == "store_unavailable"
        assert error.details() == (
            "free disk space 300.0 MiB at /srv/engine/data is below persistence.min_free_bytes 512.0 MiB; "
            "new orders are refused until space returns"
        )
        got = await api.trading.GetOrder(pb.GetOrderRequest(order_id=resting.order_id))
        assert got.order.status == pb.ORDER_STATUS_OPEN
        cancelled = await api.trading.CancelOrder(pb.CancelOrderRequest(order_id=resting.order_id), metadata=AUTH)
        assert cancelled.order.status == pb.ORDER_STATUS_CANCELLED

        probe.free_bytes = 600 * MIB
        wall.advance(DiskGuard.PROBE_INTERVAL_SECONDS)
        placed = await api.trading.PlaceOrder(buy(), metadata=AUTH)
        assert placed.order.status == pb.ORDER_STATUS_FILLED
    finally:
        await api.channel.close()
