"""The business metrics count what is durable: a fill or expiry the venue reports later is counted
once the change set carrying it is committed (its own background commit or another use case's),
never when that commit fails and the reload undoes it."""

from __future__ import annotations

import pytest

from tests.support.engine import Engine, make_engine  # noqa: F401  (make_engine is a fixture)
from tests.support.strategy_engine import limit, make_strategy_engine  # noqa: F401  (a fixture)
from trading_engine.domain.errors import StoreUnavailable

DISK_FULL = OSError(28, "No space left on device")


def increments(engine: Engine, name: str) -> list[dict[str, str]]:
    """The label sets of every increment of the counter ``name`` since the test cleared them."""
    return [labels for kind, _name, labels, _amount in engine.recorded.named(name) if kind == "counter"]


def statuses(engine: Engine) -> list[str]:
    return [labels["status"] for labels in increments(engine, "orders_total")]


async def test_a_venue_fill_whose_commit_fails_is_not_counted_and_counted_once_when_it_succeeds(
    make_engine,
) -> None:
    engine = await make_engine()
    resting = await engine.place("BTC-USD", "buy", "0.1", "49000")
    engine.recorded.calls.clear()

    engine.store.fail_commits(DISK_FULL)
    engine.market.push("BTC-USD", "48000")  # filled on the venue; its background commit fails
    await engine.settle()
    assert increments(engine, "fills_total") == [] and statuses(engine) == []
    assert resting.order_id in engine.account.open_orders  # reloaded: open again, as it is on disk

    engine.store.fail_commits(None)
    engine.market.push("BTC-USD", "48000")  # back on the venue, it fills again; this time stored
    await engine.settle()
    assert increments(engine, "fills_total") == [{"symbol": "BTC-USD", "side": "buy"}]
    assert statuses(engine) == ["filled"]
    assert len(await engine.store.fills_for_order(resting.order_id)) == 1


async def test_a_fill_carried_by_another_order_counts_with_that_order_or_not_at_all(make_engine) -> None:
    engine = await make_engine()
    resting = await engine.place("BTC-USD", "sell", "0.1", "50100")
    engine.recorded.calls.clear()

    engine.market.push("BTC-USD", "50200")  # filled in memory; the next change set carries it
    engine.store.fail_commits(DISK_FULL)
    with pytest.raises(StoreUnavailable):
        await engine.place("ETH-USD", "buy", "1")  # takes the fill with it, and fails
    await engine.settle()
    assert increments(engine, "fills_total") == [] and statuses(engine) == []

    engine.store.fail_commits(None)
    engine.market.push("BTC-USD", "50200")  # the restored order fills again
    await engine.place("ETH-USD", "buy", "1")  # its commit carries the fill, before the background one
    await engine.settle()
    assert sorted(f["symbol"] for f in increments(engine, "fills_total")) == ["BTC-USD", "ETH-USD"]
    assert sorted(statuses(engine)) == ["filled", "filled"]
    assert len(await engine.store.fills_for_order(resting.order_id)) == 1


async def test_partial_fills_committed_together_count_each_status_entered_once(make_engine) -> None:
    engine = await make_engine(liquidity={"BTC-USD": "0.05"})
    await engine.place("BTC-USD", "buy", "0.1", "49000")
    engine.recorded.calls.clear()
    engine.market.push("BTC-USD", "48000")  # 0.05: partially filled
    engine.market.push("BTC-USD", "48000")  # 0.05 more: filled; both in one change set
    await engine.settle()
    assert len(increments(engine, "fills_total")) == 2
    assert statuses(engine) == ["partially_filled", "filled"]


async def test_an_expiry_is_counted_once_it_is_durable(make_engine) -> None:
    engine = await make_engine(order_timeout_seconds=30)
    order = await engine.place("BTC-USD", "buy", "0.1", "49000")
    engine.recorded.calls.clear()
    engine.store.fail_commits(DISK_FULL)
    engine.clock.advance(30)
    engine.market.push("BTC-USD", "50000")
    await engine.settle()
    assert statuses(engine) == []

    engine.store.fail_commits(None)
    engine.market.push("BTC-USD", "50000")
    await engine.settle()
    assert statuses(engine) == ["expired"]
    assert (await engine.store.get_order(order.order_id)).status.value == "expired"  # type: ignore[union-attr]


async def test_an_order_placed_and_filled_at_once_counts_after_its_commit(make_engine) -> None:
    engine = await make_engine()
    engine.store.fail_commits(DISK_FULL)
    with pytest.raises(StoreUnavailable):
        await engine.place("BTC-USD", "buy", "0.1")
    assert increments(engine, "fills_total") == [] and statuses(engine) == []
    engine.store.fail_commits(None)
    await engine.place("BTC-USD", "buy", "0.1")
    assert len(increments(engine, "fills_total")) == 1 and statuses(engine) == ["filled"]


async def test_a_strategy_fill_counts_as_a_trade_once_it_is_durable(make_strategy_engine) -> None:
    se = await make_strategy_engine()
    instance = await se.start("scripted")
    instance.strategy.queue.append([limit("buy", "0.01", "49000")])
    await se.tick("50000")  # rests
    se.recorded.calls.clear()

    se.engine.store.fail_commits(DISK_FULL)
    await se.tick("48000")  # fills on the venue; the commit fails and the reload undoes it
    assert increments(se.engine, "trading_strategy_trades_total") == []
    assert increments(se.engine, "fills_total") == []

    se.engine.store.fail_commits(None)
    await se.tick("48000")  # the restored order fills again, and is stored
    assert increments(se.engine, "trading_strategy_trades_total") == [{"strategy": "scripted", "side": "buy"}]
    assert len(increments(se.engine, "fills_total")) == 1
