"""StreamPrices and StreamStrategyUpdates: order kept, a slow consumer bounded and told by a gap,
cancellation frees the subscription, shutdown ends streams with a status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest

from tests.grpc.conftest import AUTH, GrpcApi, refused
from trading_engine.v1 import market_pb2, trading_pb2
from trading_engine.v1 import strategy_pb2 as pb


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)


async def price_stream(api: GrpcApi, *symbols: str) -> grpc.aio.UnaryStreamCall:
    server = await api.server()
    before = server.price_subscribers
    call = api.prices.StreamPrices(market_pb2.StreamPricesRequest(symbols=list(symbols)))
    await until(lambda: server.price_subscribers == before + 1)
    return call


async def test_prices_arrive_in_order_for_the_symbols_asked(api: GrpcApi) -> None:
    call = await price_stream(api, "BTC-USD")
    everything = await price_stream(api)
    for price in ("50001", "50002", "50003"):
        api.market.push_many({"ETH-USD": "3001", "BTC-USD": price})
    async with asyncio.timeout(5):
        got = [(await call.read()).price for _ in range(3)]
        every = [(await everything.read()).price.symbol for _ in range(6)]
    assert [(p.symbol, p.price) for p in got] == [("BTC-USD", "50001"), ("BTC-USD", "50002"), ("BTC-USD", "50003")]
    assert got[0].timestamp.ToDatetime().year == api.clock.now().year
    assert every == ["ETH-USD", "BTC-USD"] * 3
    call.cancel()
    everything.cancel()
    unknown = await refused(api.prices.StreamPrices(market_pb2.StreamPricesRequest(symbols=["DOGE-USD"])).read())
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


async def test_a_slow_consumer_gets_a_gap_then_the_newest_updates(start_grpc) -> None:
    api = await start_grpc({"grpc": {"stream_buffer": "3"}})
    try:
        call = await price_stream(api, "BTC-USD")
        for n in range(20):  # published in one go: the stream cannot keep up
            api.market.push("BTC-USD", str(50000 + n))
        async with asyncio.timeout(5):
            first = await call.read()
            rest = [(await call.read()).price.price for _ in range(3)]
        assert first.WhichOneof("update") == "gap" and first.gap.dropped == 17
        assert rest == ["50017", "50018", "50019"]
        api.market.push("BTC-USD", "51000")
        async with asyncio.timeout(5):
            assert (await call.read()).price.price == "51000"
        call.cancel()
    finally:
        await api.channel.close()


async def test_cancelling_frees_the_subscription_at_once(api: GrpcApi) -> None:
    server = await api.server()
    call = await price_stream(api)
    call.cancel()
    await until(lambda: server.price_subscribers == 0)
    updates = api.container.strategy_updates()
    strategy_call = api.strategies.StreamStrategyUpdates(pb.StreamStrategyUpdatesRequest())
    await until(lambda: updates.subscribers == 1)
    strategy_call.cancel()
    await until(lambda: updates.subscribers == 0)


async def test_strategy_updates_status_changes_pnl_samples_and_fills(api: GrpcApi) -> None:
    updates = api.container.strategy_updates()
    everything = api.strategies.StreamStrategyUpdates(pb.StreamStrategyUpdatesRequest())
    await until(lambda: updates.subscribers == 1)
    started = (await api.strategies.StartStrategy(pb.StartStrategyRequest(
        strategy="market_making", symbol="ETH-USD"), metadata=AUTH)).strategy
    other = (await api.strategies.StartStrategy(pb.StartStrategyRequest(
        strategy="momentum", symbol="BTC-USD"), metadata=AUTH)).strategy
    mine = api.strategies.StreamStrategyUpdates(pb.StreamStrategyUpdatesRequest(strategy_id=started.strategy_id))
    await until(lambda: updates.subscribers == 2)

    api.market.push("ETH-USD", "3000")  # the maker quotes around 3000
    await until(lambda: len(api.container.account().open_orders.for_strategy(started.strategy_id)) == 2)
    api.market.push("ETH-USD", "2990")  # its bid is hit

    async def read_until_fill(call: grpc.aio.UnaryStreamCall) -> list[pb.StreamStrategyUpdatesResponse]:
        seen: list[pb.StreamStrategyUpdatesResponse] = []
        async with asyncio.timeout(5):
            while not seen or seen[-1].WhichOneof("update") != "fill":
                seen.append(await call.read())
        return seen

    seen = await read_until_fill(everything)
    kinds = [u.WhichOneof("update") for u in seen]
    assert seen[0].status_change.strategy_id == started.strategy_id
    assert seen[0].status_change.status == pb.STRATEGY_STATUS_RUNNING
    assert seen[1].status_change.strategy_id == other.strategy_id
    assert "pnl" in kinds and "gap" not in kinds
    fill = seen[-1].fill
    assert (fill.strategy_id, fill.symbol, fill.side) == (started.strategy_id, "ETH-USD", trading_pb2.SIDE_BUY)

    own = await read_until_fill(mine)
    assert all(u.WhichOneof("update") in {"pnl", "fill"} for u in own)
    assert {getattr(u, u.WhichOneof("update")).strategy_id for u in own} == {started.strategy_id}

    await api.strategies.StopStrategy(pb.StopStrategyRequest(strategy_id=started.strategy_id), metadata=AUTH)
    async with asyncio.timeout(5):
        while (update := await mine.read()).WhichOneof("update") != "status_change":
            pass
    assert (update.status_change.status, update.status_change.reason) == (pb.STRATEGY_STATUS_STOPPED,
                                                                          "stopped by client")
    everything.cancel()
    mine.cancel()
    unknown = await refused(api.strategies.StreamStrategyUpdates(
        pb.StreamStrategyUpdatesRequest(strategy_id="stg_nope")).read())
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


async def test_shutdown_ends_streams_with_a_status(api: GrpcApi) -> None:
    prices = await price_stream(api)
    updates = api.container.strategy_updates()
    strategy_call = api.strategies.StreamStrategyUpdates(pb.StreamStrategyUpdatesRequest())
    await until(lambda: updates.subscribers == 1)
    server = await api.server()
    await server.stop()
    async with asyncio.timeout(5):
        assert await prices.read() is grpc.aio.EOF
        assert await strategy_call.read() is grpc.aio.EOF
    assert await prices.code() == grpc.StatusCode.OK
    assert await strategy_call.code() == grpc.StatusCode.OK
    with pytest.raises(grpc.aio.AioRpcError) as refused_after:
        await api.trading.GetPortfolio(trading_pb2.GetPortfolioRequest(), timeout=1)
    assert refused_after.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_shutdown_lets_an_in_flight_unary_call_finish(api: GrpcApi, monkeypatch: pytest.MonkeyPatch) -> None:
    orders = api.container.order_service()
    entered, release = asyncio.Event(), asyncio.Event()
    real_get = orders.get

    async def slow_get(order_id: str) -> object:
        entered.set()
        await release.wait()
        return await real_get(order_id)

    placed = (await api.trading.PlaceOrder(trading_pb2.PlaceOrderRequest(
        symbol="BTC-USD", side=trading_pb2.SIDE_BUY, quantity="0.01"), metadata=AUTH)).order
    monkeypatch.setattr(orders, "get", slow_get)
    call = api.trading.GetOrder(trading_pb2.GetOrderRequest(order_id=placed.order_id))
    async with asyncio.timeout(5):
        await entered.wait()
        server = await api.server()
        server.begin_stop()  # the server stops accepting; the call in flight goes on
        await asyncio.sleep(0)
        release.set()
        answer = await call
        await server.stop()
    assert answer.order.order_id == placed.order_id
