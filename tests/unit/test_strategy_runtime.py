"""The strategy runtime (``services/strategy_runtime/``) over fakes: events in, intents out through
the order use case, per-instance limits, isolation, stopping, performance and metrics.

Engine defaults (``tests/support/engine.py``): 10,000 USD, fee 10 bps, slippage 2 bps, BTC-USD
opening at 50,000 (tick 0.01, lot 0.0001). A market buy of BTC fills at
``ceil_tick(price * 1.0002)``, a sell at ``floor_tick(price * 0.9998)``; a resting limit order
fills at its limit price when a quote crosses it.
"""

from __future__ import annotations

import asyncio
import statistics

import pytest
from structlog.testing import capture_logs

from tests.support.engine import counted, last_gauge
from tests.support.strategy_engine import (  # noqa: F401  (make_strategy_engine is a fixture)
    D,
    StrategyEngine,
    build_strategy_engine,
    limit,
    make_strategy_engine,
    market,
    orders_of,
)
from trading_engine.domain.errors import Conflict, NotFound, ValidationError
from trading_engine.domain.orders import OrderStatus, RejectReason, Side
from trading_engine.domain.strategy import (
    MAX_OPEN_ORDERS,
    MAX_POSITION,
    ORDER_RATE,
    PRE_TRADE,
    CancelOrder,
)
from trading_engine.infrastructure.persistence.memory import InMemoryTradingStore
from trading_engine.domain.strategy_record import StrategyStatus

RUNNING, STOPPED, ERROR = StrategyStatus.RUNNING, StrategyStatus.STOPPED, StrategyStatus.ERROR

BREACHES = "trading_risk_limit_breaches_total"


async def stored_orders(se: StrategyEngine, strategy_id: str) -> list:
    page = await orders_of(se, strategy_id)
    return list(reversed(page.orders))  # oldest first


# -- events in, orders out ----------------------------------------------------------------------
async def test_ticks_reach_the_instance_and_its_intents_become_orders_tagged_with_its_id(
    make_strategy_engine,
) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted")
    strategy = instance.strategy
    assert instance.status == RUNNING and instance.strategy_id == "stg-1"

    strategy.queue.append([market("buy", "0.01")])
    await se.tick("50000")
    assert strategy.ticks == [D("50000")]
    context = strategy.contexts[0]
    assert context.symbol == "BTC-USD" and context.position == 0 and context.resting_orders == ()
    assert context.params["tag"] == 0 and context.params["max_open_orders"] == 10

    (order,) = await stored_orders(se, "stg-1")
    assert order.strategy_id == "stg-1"
    assert order.status is OrderStatus.FILLED
    (fill,) = await se.engine.store.fills_for_strategy("stg-1")
    assert fill.strategy_id == "stg-1" and fill.price == D("50010") and fill.quantity == D("0.01")
    assert strategy.fills == [fill]  # its own fill came back to it
    assert instance.performance.position.quantity == D("0.01")
    assert counted(se.recorded, "trading_strategy_trades_total", strategy="scripted", side="buy") == 1

    # The next tick sees its position; an order the API places is nobody's.
    await se.engine.place("BTC-USD", "buy", "0.01")
    await se.tick("50100")
    assert strategy.contexts[-1].position == D("0.01")
    assert instance.performance.position.quantity == D("0.01")
    assert se.manager.performance("stg-1")["trades"] == 1


async def test_ticks_of_other_symbols_do_not_reach_the_instance(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted", "eth-usd")
    assert instance.symbol == "ETH-USD"
    await se.tick("50100", "BTC-USD")
    await se.tick("3001", "ETH-USD")
    assert instance.strategy.ticks == [D("3001")]


async def test_a_limit_intent_rests_and_a_cancel_intent_cancels_it(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted")
    strategy = instance.strategy
    strategy.queue.append([limit("buy", "0.01", "49000")])
    await se.tick("50000")
    (order,) = await stored_orders(se, instance.strategy_id)
    assert order.status is OrderStatus.OPEN
    await se.tick("50001")
    (resting,) = strategy.contexts[-1].resting_orders
    assert resting.order_id == order.order_id and resting.limit_price == D("49000")

    strategy.queue.append([CancelOrder(order.order_id), CancelOrder("ord-unknown")])
    await se.tick("50002")
    assert (await se.engine.store.get_order(order.order_id)).status is OrderStatus.CANCELLED
    assert instance.status == RUNNING  # cancelling an order it does not hold is ignored


# -- every built-in strategy's decisions flow through ------------------------------------------------
async def test_market_maker_quotes_fills_requotes_and_its_fills_are_attributed(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    mm = await se.start("market_making", spread_bps="20", quote_size="0.01", max_inventory="0.1",
                        skew_bps="10", requote_bps="5")
    sid = mm.strategy_id

    await se.tick("50000", advance=1)
    quotes = se.resting(sid)
    assert sorted((o.side.value, o.limit_price, o.quantity) for o in quotes) == [
        ("buy", D("49950.00"), D("0.01")), ("sell", D("50050.00"), D("0.01")),
    ]
    assert all(o.strategy_id == sid for o in quotes)

    # A small move inside requote_bps: nothing changes.
    await se.tick("50010", advance=1)
    assert {o.order_id for o in se.resting(sid)} == {o.order_id for o in quotes}

    # A price crossing the bid fills it at its limit; the maker requotes around the new mid,
    # skewed down by its long inventory: skew = 10 bps * 0.01 / 0.1 = 1 bp.
    bid = next(o for o in quotes if o.side is Side.BUY)
    ask = next(o for o in quotes if o.side is Side.SELL)
    await se.tick("49900", advance=1)
    assert (await se.engine.store.get_order(bid.order_id)).status is OrderStatus.FILLED
    assert (await se.engine.store.get_order(ask.order_id)).status is OrderStatus.CANCELLED
    requoted = se.resting(sid)
    assert sorted((o.side.value, o.limit_price) for o in requoted) == [
        ("buy", D("49845.11")),  # floor(49900 * (1 - 0.001 - 0.0001))
        ("sell", D("49944.91")),  # ceil(49900 * (1 + 0.001 - 0.0001))
    ]

    perf = se.manager.performance(sid)
    assert perf["trades"] == 1
    assert perf["position"] == D("0.01")
    assert perf["average_entry_price"] == D("49950")
    assert perf["unrealized_pnl"] == D("-0.5")  # (49900 - 49950) * 0.01
    assert perf["fees"] == D("0.4995")  # 0.01 * 49950 * 10 bps
    assert perf["win_rate"] is None  # nothing closed yet
    assert counted(se.recorded, "trading_strategy_trades_total", strategy="market_making", side="buy") == 1

    # Up through the new ask: it sells the inventory back, realizing (49944.91 - 49950) * 0.01.
    await se.tick("49950", advance=1)
    perf = se.manager.performance(sid)
    assert perf["trades"] == 2 and perf["position"] == 0
    assert perf["realized_pnl"] == D("-0.0509")
    assert perf["win_rate"] == 0.0
    fills = await se.engine.store.fills_for_strategy(sid)
    assert [(f.side, f.price) for f in fills] == [(Side.BUY, D("49950")), (Side.SELL, D("49944.91"))]
    # The account's position is the maker's: nobody else traded.
    assert se.engine.account.portfolio.position("BTC-USD").quantity == 0
    assert len(se.resting(sid)) == 2  # quoting again
    assert mm.limits.hits == 0


async def test_momentum_enters_after_the_crossover_and_exits_after_the_cross_back(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    mo = await se.start("momentum", fast=2, slow=3, position_size="0.01")
    sid = mo.strategy_id
    await se.ticks(["50000", "50000", "50000"])
    assert await stored_orders(se, sid) == []  # averages equal: no signal
    await se.tick("50100")  # fast 50050 > slow 50033.33: long
    (entry,) = await stored_orders(se, sid)
    assert entry.side is Side.BUY and entry.quantity == D("0.01") and entry.status is OrderStatus.FILLED
    await se.tick("50100")  # still long: no churn
    assert len(await stored_orders(se, sid)) == 1
    await se.ticks(["49800", "49700"])  # fast below slow: flat
    entry, exit_ = await stored_orders(se, sid)
    assert exit_.side is Side.SELL and exit_.quantity == D("0.01")
    assert se.manager.performance(sid)["position"] == 0
    assert se.manager.performance(sid)["trades"] == 2


async def test_mean_reversion_buys_the_dip_and_goes_flat_near_the_mean(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    mr = await se.start("mean_reversion", window=5, entry_z=1.5, exit_z=0.5, position_size="0.01")
    sid = mr.strategy_id
    await se.ticks(["50000", "50010", "49990", "50000"])
    assert await stored_orders(se, sid) == []
    # z of 49500 in [50000, 50010, 49990, 50000, 49500] is about -2.0: below -entry_z, long.
    await se.tick("49500")
    (entry,) = await stored_orders(se, sid)
    assert entry.side is Side.BUY and entry.quantity == D("0.01")
    # Back to the mean: |z| < exit_z, flat.
    await se.ticks(["49900", "49880"])
    orders = await stored_orders(se, sid)
    assert [o.side for o in orders] == [Side.BUY, Side.SELL]
    assert se.manager.performance(sid)["position"] == 0


# -- coalescing -----------------------------------------------------------------------------------
class GatedStore(InMemoryTradingStore):
    """Commits wait while ``gate`` is clear: an instance placing an order stays busy until the
    test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = 0

    async def commit(self, changes) -> None:  # type: ignore[no-untyped-def]
        if not self.gate.is_set():
            self.waiting += 1
            await self.gate.wait()
            self.waiting -= 1
        await super().commit(changes)


async def test_ticks_that_arrive_while_an_instance_is_busy_coalesce_to_the_newest(make_strategy_engine) -> None:
    store = GatedStore()
    se = await make_strategy_engine(store=store)
    instance = await se.start("scripted")
    strategy = instance.strategy
    strategy.queue.append([market("buy", "0.0001")])

    store.gate.clear()
    se.engine.market.push("BTC-USD", D("50001"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert store.waiting == 1  # the instance is placing its order
    for price in ("50002", "50003", "50004", "50005"):
        se.engine.market.push("BTC-USD", D(price))
    await asyncio.sleep(0)
    store.gate.set()
    await se.settle()
    assert strategy.ticks == [D("50001"), D("50005")]
    assert instance.performance.ticks == 2


async def test_an_idle_instance_decides_on_a_tick_as_it_is_published_and_its_task_wakes_only_to_act(
    make_strategy_engine,
) -> None:
    se = await make_strategy_engine()
    quiet = await se.start("scripted")
    trader = await se.start("scripted")
    trader.strategy.queue.append([market("buy", "0.0001")])

    se.engine.market.push("BTC-USD", D("50001"))  # no await: nothing else has run yet
    assert quiet.strategy.ticks == [D("50001")] and trader.strategy.ticks == [D("50001")]
    assert quiet.inbox.idle and not quiet.inbox.wakeup.is_set()  # nothing to do: its task sleeps on
    assert trader.inbox.decided is not None and trader.inbox.wakeup.is_set()  # its intent waits for its task
    assert (await stored_orders(se, trader.strategy_id)) == []
    await se.settle()
    (order,) = await stored_orders(se, trader.strategy_id)
    assert order.status is OrderStatus.FILLED and trader.inbox.decided is None
    assert quiet.performance.ticks == trader.performance.ticks == 1


async def test_every_instance_a_tick_reaches_decides_before_any_of_them_places_an_order(
    make_strategy_engine,
) -> None:
    se = await make_strategy_engine()
    placed: list[str] = []
    place = se.engine.orders.place

    async def counting(request):  # type: ignore[no-untyped-def]
        placed.append(request.strategy_id)
        return await place(request)

    se.engine.orders.place = counting  # type: ignore[method-assign]
    seen: list[int] = []
    instances = [await se.start("scripted") for _ in range(3)]
    for instance in instances:
        instance.strategy.on_tick_hook = lambda price, context: (seen.append(len(placed)), [market("buy", "0.0001")])[1]
    await se.tick("50000")
    assert seen == [0, 0, 0]
    assert placed == [i.strategy_id for i in instances]


async def test_for_a_feed_that_settles_each_batch_its_events_are_handed_on_by_settled(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    settled = se.manager.settle_each_batch()
    first = await se.start("scripted")
    second = await se.start("scripted")
    first.strategy.queue.append([market("buy", "0.0001")])

    se.engine.market.push("BTC-USD", D("50001"))
    assert first.strategy.ticks == second.strategy.ticks == []  # nothing decided, no task woken
    assert not first.inbox.wakeup.is_set() and not second.inbox.wakeup.is_set()
    await settled()
    assert first.strategy.ticks == second.strategy.ticks == [D("50001")]
    (order,) = await stored_orders(se, first.strategy_id)
    assert order.status is OrderStatus.FILLED  # settled returned after the order and its fill
    assert first.strategy.fills and first.inbox.idle and second.inbox.idle


async def test_instances_a_venue_event_woke_decide_on_the_tick_before_the_event_is_written(
    make_strategy_engine,
) -> None:
    se = await make_strategy_engine()
    store = se.engine.store
    instances = [await se.start("scripted") for _ in range(3)]
    for instance in instances:
        instance.strategy.queue.append([limit("buy", "0.0001", "49990")])
    await se.tick("50000")
    assert all(len(se.resting(i.strategy_id)) == 1 for i in instances)

    seen: list[int] = []
    for instance in instances:
        instance.strategy.on_tick_hook = lambda price, context: (seen.append(store.commits), [])[1]
    written = store.commits
    await se.tick("49980")  # every bid fills on this tick: each instance is woken by its fill
    assert all(i.strategy.fills for i in instances)
    assert seen == [written] * 3  # each decided on the tick before the fills' change set was written
    assert store.commits == written + 1  # one commit took all three fills


# -- isolation ------------------------------------------------------------------------------------
async def test_a_strategy_that_raises_stops_alone_and_another_keeps_trading(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    bad = await se.start("raising", fail_on=2)
    good = await se.start("scripted")
    good.strategy.on_tick_hook = lambda price, context: [market("buy", "0.0001")]
    bad.strategy.on_tick_hook = lambda price, context: [limit("buy", "0.0001", "40000")]

    await se.tick("50000")
    assert len(se.resting(bad.strategy_id)) == 1
    with capture_logs() as logs:
        await se.tick("50001")
    assert bad.status == ERROR
    assert bad.reason == "RuntimeError: boom on tick 2"
    assert se.resting(bad.strategy_id) == []  # its resting order went with it
    assert counted(se.recorded, "trading_strategy_errors_total", strategy="raising") == 1
    assert counted(se.recorded, "trading_strategy_errors_total", strategy="scripted") == 0
    failed = [e for e in logs if e["event"] == "strategy_failed"]
    assert failed and failed[0]["strategy_id"] == bad.strategy_id and failed[0]["log_level"] == "error"
    stopped = [e for e in logs if e["event"] == "strategy_stopped"]
    assert stopped[0]["status"] == ERROR and stopped[0]["reason"] == bad.reason

    await se.ticks(["50002", "50003"])
    assert good.status == RUNNING
    assert good.strategy.ticks == [D("50000"), D("50001"), D("50002"), D("50003")]
    assert good.performance.trades == 4
    assert bad.strategy.ticks == [D("50000"), D("50001")]  # no tick after the error
    record = await se.engine.store.get_strategy(bad.strategy_id)
    assert record.status == ERROR and record.reason == bad.reason
    with pytest.raises(Conflict):
        await se.manager.stop(bad.strategy_id)


async def test_a_malformed_intent_stops_the_instance_with_the_reason(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted")
    instance.strategy.queue.append([market("buy", "0.00001")])  # off the lot grid: the strategy's bug
    await se.tick("50000")
    # Pre-trade refuses it (quantity_below_minimum): a risk event, not an error.
    assert instance.status == RUNNING
    (event,) = instance.strategy.risk_events
    assert event.limit_type == PRE_TRADE and event.reason is RejectReason.QUANTITY_BELOW_MINIMUM
    instance.strategy.queue.append(["not an intent"])  # type: ignore[list-item]
    await se.tick("50001")
    assert instance.status == ERROR and "unknown intent" in (instance.reason or "")
    assert counted(se.recorded, "trading_strategy_errors_total", strategy="scripted") == 1


# -- stopping -------------------------------------------------------------------------------------
async def test_stop_cancels_the_instances_resting_orders_and_only_its_own(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    one = await se.start("scripted")
    two = await se.start("scripted")
    one.strategy.queue.append([limit("buy", "0.01", "49000"), limit("sell", "0.01", "51000")])
    two.strategy.queue.append([limit("buy", "0.01", "48000")])
    await se.tick("50000")
    api_order = await se.engine.place("BTC-USD", "buy", "0.01", "47000")
    ones = [o.order_id for o in se.resting(one.strategy_id)]
    assert len(ones) == 2

    stopped = await se.manager.stop(one.strategy_id)
    await se.settle()
    assert stopped is one and one.status == STOPPED and one.reason == "stopped by client"
    for order_id in ones:
        assert (await se.engine.store.get_order(order_id)).status is OrderStatus.CANCELLED
    assert set(se.engine.account.open_orders) == {
        api_order.order_id, *(o.order_id for o in se.resting(two.strategy_id))
    }
    assert len(se.resting(two.strategy_id)) == 1
    assert (await se.engine.store.get_strategy(one.strategy_id)).status == STOPPED
    assert one.task is not None and one.task.done()

    await se.tick("50001")
    assert one.strategy.ticks == [D("50000")]  # a stopped instance hears nothing more
    assert two.strategy.ticks == [D("50000"), D("50001")]
    assert [i.strategy_id for i in se.manager.active()] == [two.strategy_id]
    with pytest.raises(Conflict):
        await se.manager.stop(one.strategy_id)
    with pytest.raises(NotFound):
        await se.manager.stop("stg-nope")


async def test_stop_while_the_instance_is_placing_leaves_none_of_its_orders_resting(make_strategy_engine) -> None:
    store = GatedStore()
    se = await make_strategy_engine(store=store)
    instance = await se.start("scripted")
    instance.strategy.queue.append([limit("buy", "0.001", "49000"), limit("buy", "0.001", "48000")])
    store.gate.clear()
    se.engine.market.push("BTC-USD", D("50000"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert store.waiting == 1  # the first order is on the venue, its commit in flight
    stopping = asyncio.create_task(se.manager.stop(instance.strategy_id))
    for _ in range(5):
        await asyncio.sleep(0)
    store.gate.set()
    await stopping
    await se.settle()
    assert instance.status == STOPPED
    assert se.resting(instance.strategy_id) == []
    assert se.engine.account.open_orders == {}
    assert se.engine.venue.resting() == ()
    orders = await stored_orders(se, instance.strategy_id)
    assert [o.status for o in orders] == [OrderStatus.CANCELLED]  # the second was never placed


# -- per-instance limits ----------------------------------------------------------------------------
async def test_max_open_orders_refuses_the_extra_limit_order_with_a_risk_event(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted", max_open_orders=2)
    strategy = instance.strategy
    strategy.queue.append([limit("buy", "0.001", p) for p in ("49000", "48000", "47000")])
    await se.tick("50000")
    assert len(se.resting(instance.strategy_id)) == 2
    (event,) = strategy.risk_events
    assert event.limit_type == MAX_OPEN_ORDERS and event.intent == limit("buy", "0.001", "47000")
    assert counted(se.recorded, BREACHES, limit_type=MAX_OPEN_ORDERS, strategy="scripted") == 1
    assert instance.limits.hits == 1
    # A market order does not rest, so max_open_orders does not hold it back.
    strategy.queue.append([market("buy", "0.001")])
    await se.tick("50001")
    assert len(strategy.risk_events) == 1 and instance.performance.trades == 1


async def test_max_position_notional_refuses_growth_never_a_reducing_order(make_strategy_engine) -> None:
    se = await make_strategy_engine(slippage_bps="0")
    instance = await se.start("scripted", max_position_notional="1000")
    strategy = instance.strategy
    # 0.02 BTC at 50,000 is 1,000: at the limit, allowed; one lot more is refused.
    strategy.queue.append([market("buy", "0.02"), market("buy", "0.0001")])
    await se.tick("50000")
    assert instance.performance.position.quantity == D("0.02")
    (event,) = strategy.risk_events
    assert event.limit_type == MAX_POSITION and "max_position_notional 1000" in event.message
    assert counted(se.recorded, BREACHES, limit_type=MAX_POSITION, strategy="scripted") == 1

    # The price doubles: the position is now 2,000, over the limit; reducing it is never refused,
    # and neither is a flip that leaves it smaller; growing it is.
    strategy.queue.append([market("sell", "0.005")])
    await se.tick("100000")
    assert instance.performance.position.quantity == D("0.015") and len(strategy.risk_events) == 1
    strategy.queue.append([market("sell", "0.025")])  # to -0.01: smaller, allowed
    await se.tick("100000")
    assert instance.performance.position.quantity == D("-0.01") and len(strategy.risk_events) == 1
    strategy.queue.append([market("sell", "0.0001")])  # growing the short: refused
    await se.tick("100000")
    assert [e.limit_type for e in strategy.risk_events] == [MAX_POSITION, MAX_POSITION]
    assert instance.performance.position.quantity == D("-0.01")


async def test_order_rate_is_a_token_bucket_with_a_burst_of_one_second(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted", max_orders_per_second=2)
    strategy = instance.strategy
    burst = [market("buy", "0.0001") for _ in range(5)]
    strategy.on_tick_hook = lambda price, context: burst
    await se.tick("50000")
    assert instance.performance.trades == 2  # the full bucket: one second's worth
    assert [e.limit_type for e in strategy.risk_events] == [ORDER_RATE] * 3
    assert "max_orders_per_second 2" in strategy.risk_events[0].message
    await se.tick("50000", advance=0.5)  # one token back
    assert instance.performance.trades == 3
    await se.tick("50000", advance=10)  # refills to the burst, never beyond
    assert instance.performance.trades == 5
    assert counted(se.recorded, BREACHES, limit_type=ORDER_RATE, strategy="scripted") == 3 + 4 + 3
    assert instance.limits.hits == 10


async def test_pre_trade_rejections_come_back_as_pre_trade_risk_events(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted", max_position_notional="100000")
    instance.strategy.queue.append([market("buy", "1")])  # 50,000 USD with 10,000 in cash
    await se.tick("50000")
    (event,) = instance.strategy.risk_events
    assert event.limit_type == PRE_TRADE
    assert event.reason is RejectReason.INSUFFICIENT_FUNDS
    assert event.message  # the pre-trade message
    (order,) = await stored_orders(se, instance.strategy_id)
    assert order.status is OrderStatus.REJECTED and order.strategy_id == instance.strategy_id
    assert counted(se.recorded, BREACHES, limit_type=PRE_TRADE, strategy="scripted") == 1
    assert instance.limits.hits == 1 and instance.status == RUNNING


async def test_refusals_for_an_open_breaker_or_stale_prices_do_not_count_toward_containment(
    make_strategy_engine,
) -> None:
    se = await make_strategy_engine(breaker_after_limit_hits=2)
    instance = await se.start("scripted")
    strategy = instance.strategy
    await se.engine.risk.trip("maintenance")
    strategy.on_tick_hook = lambda price, context: [market("buy", "0.0001")]
    await se.ticks(["50000", "50001", "50002"])
    assert [e.reason for e in strategy.risk_events] == [RejectReason.CIRCUIT_BREAKER_OPEN] * 3
    assert all(e.limit_type == PRE_TRADE for e in strategy.risk_events)
    assert counted(se.recorded, BREACHES, limit_type=PRE_TRADE, strategy="scripted") == 3
    assert instance.limits.hits == 0 and instance.status == RUNNING
    await se.engine.risk.reset()

    # Prices go stale while it decides (the clock moves past stale_after_seconds).
    def stale(price, context):  # type: ignore[no-untyped-def]
        se.clock.advance(10)
        return [market("buy", "0.0001")]

    strategy.on_tick_hook = stale
    await se.ticks(["50003", "50004"])
    assert [e.reason for e in strategy.risk_events[3:]] == [RejectReason.MARKET_DATA_STALE] * 2
    assert instance.limits.hits == 0 and instance.status == RUNNING
    assert not se.engine.account.breaker.is_open


# -- performance ----------------------------------------------------------------------------------
async def test_performance_by_the_documented_formulas_on_a_hand_checked_sequence(make_strategy_engine) -> None:
    se = await make_strategy_engine(slippage_bps="0", performance_interval_seconds=1.0)
    instance = await se.start("scripted")
    sid = instance.strategy_id
    plan = {
        "50000": [market("buy", "0.01")],  # fee 0.5
        "51000": [],
        "49000": [market("sell", "0.01")],  # realizes -10, fee 0.49
        "49000b": [market("buy", "0.01")],  # fee 0.49
        "50000b": [market("sell", "0.01")],  # realizes +10, fee 0.5
        "50000c": [],
    }
    for key, intents in plan.items():
        instance.strategy.queue.append(intents)
        await se.tick(key.rstrip("abc"), advance=1.0)

    perf = se.manager.performance(sid)
    assert perf["trades"] == 4
    assert perf["position"] == 0
    assert perf["realized_pnl"] == D("0")
    assert perf["unrealized_pnl"] == D("0")
    assert perf["fees"] == D("1.98")
    assert perf["net_pnl"] == D("-1.98")
    assert perf["win_rate"] == 0.5  # two closing fills, one with a profit
    # Samples of net P&L, one per tick (each a second apart), taken before the tick's decision.
    samples = [0.0, 9.5, -10.5, -10.99, -1.48, -1.98]
    assert perf["samples"] == len(samples)
    assert perf["max_drawdown"] == pytest.approx(9.5 - -10.99)
    changes = [b - a for a, b in zip(samples, samples[1:])]
    assert perf["sharpe_ratio"] == pytest.approx(statistics.fmean(changes) / statistics.pstdev(changes))
    assert perf["ticks_processed"] == 6
    assert perf["currency"] == "USD" and perf["status"] == RUNNING


async def test_performance_before_any_trade_and_for_unknown_ids(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted")
    perf = se.manager.performance(instance.strategy_id)
    assert perf["trades"] == 0 and perf["net_pnl"] == 0
    assert perf["win_rate"] is None and perf["sharpe_ratio"] is None and perf["max_drawdown"] == 0
    await se.ticks(["50000", "50000"], advance=1)
    assert se.manager.performance(instance.strategy_id)["sharpe_ratio"] is None  # no variation
    with pytest.raises(NotFound):
        se.manager.performance("stg-404")


async def test_samples_are_taken_at_most_once_per_interval(make_strategy_engine) -> None:
    se = await make_strategy_engine(performance_interval_seconds=5.0)
    instance = await se.start("scripted")
    await se.ticks(["50000"] * 12, advance=1.0)
    assert instance.performance.ticks == 12
    assert se.manager.performance(instance.strategy_id)["samples"] == 3  # at 1, 6 and 11 seconds


async def test_each_instance_has_its_own_position_and_pnl(make_strategy_engine) -> None:
    se = await make_strategy_engine(slippage_bps="0", fee_bps="0")
    one = await se.start("scripted")
    two = await se.start("scripted")
    one.strategy.queue.append([market("buy", "0.02")])
    two.strategy.queue.append([market("sell", "0.01")])
    await se.tick("50000")
    await se.tick("50500")
    assert se.manager.performance(one.strategy_id)["unrealized_pnl"] == D("10")
    assert se.manager.performance(two.strategy_id)["unrealized_pnl"] == D("-5")
    assert se.engine.account.portfolio.position("BTC-USD").quantity == D("0.01")
    assert [i.strategy_id for i in se.manager.instances(one.strategy_id)] == [one.strategy_id]


# -- metrics ----------------------------------------------------------------------------------------
async def test_refresh_gauges_sets_active_counts_and_net_pnl_per_strategy_name(make_strategy_engine) -> None:
    se = await make_strategy_engine(slippage_bps="0", fee_bps="0")
    for name in ("scripted", "market_making", "momentum"):
        assert last_gauge(se.recorded, "trading_strategy_active", {"strategy": name}) == 0.0
    assert last_gauge(se.recorded, "trading_strategy_active", {"strategy": "runaway"}) is None  # chaos off
    one = await se.start("scripted")
    two = await se.start("scripted")
    await se.start("scripted")
    one.strategy.queue.append([market("buy", "0.01")])
    two.strategy.queue.append([market("buy", "0.01")])
    await se.tick("50000")
    await se.manager.stop(two.strategy_id)
    await se.tick("50100")
    se.manager.refresh_gauges()
    assert last_gauge(se.recorded, "trading_strategy_active", {"strategy": "scripted"}) == 2.0
    assert last_gauge(se.recorded, "trading_strategy_active", {"strategy": "market_making"}) == 0.0
    # A stopped instance's P&L still counts: its position is still there. 2 * 0.01 * 100.
    assert last_gauge(se.recorded, "trading_strategy_pnl", {"strategy": "scripted"}) == 2.0
    assert last_gauge(se.recorded, "trading_strategy_pnl", {"strategy": "momentum"}) == 0.0


async def test_decision_latency_is_observed_per_tick_that_produced_intents(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted")

    def slow(price, context):  # type: ignore[no-untyped-def]
        se.clock.advance(0.003)
        return [market("buy", "0.0001")] if price == D("50001") else []

    instance.strategy.on_tick_hook = slow
    await se.ticks(["50000", "50001", "50002"])
    observed = [c for c in se.recorded.named("trading_strategy_decision_seconds")]
    assert [(c[2], c[3]) for c in observed] == [({"strategy": "scripted"}, pytest.approx(0.003))]


# -- starting ---------------------------------------------------------------------------------------
async def test_start_validates_strategy_symbol_and_params(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    with pytest.raises(ValidationError) as unknown:
        await se.manager.start("nope", "BTC-USD", {})
    assert unknown.value.field == "strategy" and "market_making" in unknown.value.message
    with pytest.raises(ValidationError) as symbol:
        await se.manager.start("scripted", "DOGE-USD", {})
    assert symbol.value.field == "symbol"
    for params, field in [
        ({"tagg": 1}, "params.tagg"),
        ({"tag": "x"}, "params.tag"),
        ({"tag": -1}, "params.tag"),
        ({"max_orders_per_second": 0}, "params.max_orders_per_second"),
        ({"max_position_notional": "0"}, "params.max_position_notional"),
    ]:
        with pytest.raises(ValidationError) as bad:
            await se.manager.start("scripted", "BTC-USD", params)
        assert bad.value.field == field, params
    with pytest.raises(ValidationError) as small:
        await se.manager.start("market_making", "BTC-USD", {"quote_size": "0.00001"})
    assert small.value.field == "params.quote_size"
    assert se.manager.instances() == []
    assert await se.engine.store.list_strategies() == []


async def test_max_instances_is_a_conflict(make_strategy_engine) -> None:
    se = await make_strategy_engine(max_instances=2)
    first = await se.start("scripted")
    await se.start("scripted")
    with pytest.raises(Conflict):
        await se.manager.start("scripted", "BTC-USD", {})
    await se.manager.stop(first.strategy_id)
    await se.start("scripted")  # a stopped instance frees its place


async def test_available_lists_each_strategy_with_parameter_schemas_and_the_limits(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    available = {s["name"]: s for s in se.manager.available()}
    assert {"market_making", "momentum", "mean_reversion", "scripted"} <= set(available)
    assert not {"runaway", "risk_ignorant", "slow_leak"} & set(available)
    mm = available["market_making"]["parameters"]
    assert mm["spread_bps"] == {"type": "string", "default": "20", "description": mm["spread_bps"]["description"],
                                "exclusiveMinimum": "0", "maximum": "1000000000000000"}
    assert mm["max_orders_per_second"]["default"] == 5.0
    assert mm["max_open_orders"]["default"] == 10
    assert mm["max_position_notional"]["default"] == "10000"


# -- restart ----------------------------------------------------------------------------------------
async def restart(se: StrategyEngine, **settings) -> StrategyEngine:  # type: ignore[no-untyped-def]
    """Shut the engine down and build a new one on the same store (same instance ids)."""
    store = se.engine.store
    await se.close()
    ids = iter(range(1, 1000))
    # Ids of another process, as IdGenerator's random part makes them.
    return await build_strategy_engine(store=store, prices=None, strategy_ids=lambda: f"stg-b{next(ids)}", **settings)


async def test_instances_resume_with_their_params_and_fills_after_a_restart(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    one = await se.start("scripted", tag=7)
    one.strategy.queue.append([market("buy", "0.01"), limit("buy", "0.01", "40000")])
    await se.tick("50000")
    stopped = await se.start("scripted")
    await se.manager.stop(stopped.strategy_id)

    again = await restart(se)
    try:
        (resumed,) = again.manager.active()
        assert resumed.strategy_id == one.strategy_id and resumed.params == one.params
        assert resumed.performance.trades == 1 and resumed.performance.position.quantity == D("0.01")
        assert len(again.resting(resumed.strategy_id)) == 1
        await again.tick("50100")
        assert resumed.strategy.ticks == [D("50100")]
    finally:
        await again.close()


async def test_without_resume_the_stored_instances_are_stopped_with_a_reason_and_their_orders_cancelled(
    make_strategy_engine,
) -> None:
    se = await make_strategy_engine()
    one = await se.start("scripted")
    one.strategy.queue.append([limit("buy", "0.01", "40000")])
    await se.tick("50000")
    (resting,) = se.resting(one.strategy_id)

    again = await restart(se, resume_on_start=False)
    try:
        assert again.manager.active() == []
        record = await again.engine.store.get_strategy(one.strategy_id)
        assert record.status == STOPPED
        assert "resume_on_start is false" in record.reason
        assert (await again.engine.store.get_order(resting.order_id)).status is OrderStatus.CANCELLED
        assert again.engine.account.open_orders == {}
        retired = again.manager.get(one.strategy_id)  # visible, like an instance a client stopped
        assert retired.status == STOPPED and retired.reason == record.reason
        assert retired.params == one.params and retired.task is None
        assert again.manager.performance(one.strategy_id)["status"] == STOPPED
        with pytest.raises(Conflict):
            await again.manager.stop(one.strategy_id)
    finally:
        await again.close()


async def test_a_resting_order_that_fills_on_the_first_price_after_a_restart_counts_for_its_instance(
    make_strategy_engine,
) -> None:
    se = await make_strategy_engine(fee_bps="0")
    one = await se.start("scripted")
    one.strategy.queue.append([limit("buy", "0.01", "49000")])
    await se.tick("50000")
    store = se.engine.store
    await se.close()

    # On restart run_trading resumes the instance, then starts the feed, whose first prices (below
    # the resting bid, which fills at once) come after.
    again = await build_strategy_engine(store=store, prices={"BTC-USD": D("48000"), "ETH-USD": D("3000")})
    engine = again.engine
    await engine.settle()
    await again.settle()
    try:
        (resumed,) = again.manager.active()
        assert engine.account.portfolio.position("BTC-USD").quantity == D("0.01")
        assert resumed.performance.position.quantity == D("0.01")
        assert resumed.performance.trades == 1
        assert len(await store.fills_for_strategy(one.strategy_id)) == 1
        assert counted(again.recorded, "trading_strategy_trades_total", strategy="scripted", side="buy") == 1
    finally:
        await again.close()
