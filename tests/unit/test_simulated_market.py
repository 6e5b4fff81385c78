"""The simulated market: reproducible walks on the tick grid, isolated subscribers, a clean loop."""

from __future__ import annotations

import asyncio
import math
import statistics
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from tests.fakes import FakeClock
from trading_engine.domain.instruments import Instrument
from trading_engine.domain.ports.market_data import MarketDataPort, Quote
from trading_engine.infrastructure.market.simulated import SimulatedMarketData, next_deadline

BTC = Instrument.create("BTC-USD", tick_size="0.01", lot_size="0.0001", min_quantity="0.0001",
                        initial_price="50000")
ETH = Instrument.create("ETH-USD", tick_size="0.05", lot_size="0.001", min_quantity="0.001",
                        initial_price="3000")
SOL = Instrument.create("SOL-USD", tick_size="0.25", lot_size="1", min_quantity="1", initial_price="150")


def market(
    *instruments: Instrument,
    seed: int = 7,
    volatility_bps: float | dict[str, float] = 10.0,
    interval: float = 1.0,
    clock: FakeClock | None = None,
) -> SimulatedMarketData:
    return SimulatedMarketData(
        {i.symbol: i for i in instruments or (BTC, ETH)},
        clock or FakeClock(),
        tick_interval_seconds=interval,
        volatility_bps=volatility_bps,
        seed=seed,
    )


def path(feed: SimulatedMarketData, symbol: str, steps: int) -> list[Decimal]:
    prices = []
    for _ in range(steps):
        feed.step()
        quote = feed.latest(symbol)
        assert quote is not None
        prices.append(quote.price)
    return prices


def test_implements_the_market_data_port() -> None:
    feed: MarketDataPort = market()
    assert feed.latest("BTC-USD") is None
    assert dict(feed.snapshot()) == {}


def test_same_seed_same_path_and_different_seeds_differ() -> None:
    first = path(market(seed=42), "BTC-USD", 500)
    again = path(market(seed=42), "BTC-USD", 500)
    other = path(market(seed=43), "BTC-USD", 500)
    assert first == again
    assert first != other
    assert len(set(first)) > 100  # it actually moves


def test_an_instruments_path_does_not_depend_on_the_others() -> None:
    alone = path(market(BTC, seed=5), "BTC-USD", 300)
    with_others = path(market(ETH, BTC, SOL, seed=5), "BTC-USD", 300)
    other_volatility = path(
        market(BTC, ETH, seed=5, volatility_bps={"BTC-USD": 10.0, "ETH-USD": 80.0}), "BTC-USD", 300
    )
    assert alone == with_others == other_volatility


def test_prices_stay_on_the_tick_grid_for_10000_steps() -> None:
    feed = market(BTC, ETH, SOL, volatility_bps=25.0)
    for _ in range(10_000):
        for quote in feed.step():
            tick = {"BTC-USD": BTC, "ETH-USD": ETH, "SOL-USD": SOL}[quote.symbol].tick_size
            assert isinstance(quote.price, Decimal)
            assert quote.price % tick == 0, (quote.symbol, quote.price)
            assert quote.price >= tick


def test_price_never_reaches_zero_and_floors_at_one_tick() -> None:
    penny = Instrument.create("PEN-USD", tick_size="0.01", lot_size="1", min_quantity="1", initial_price="0.03")
    feed = market(penny, volatility_bps=2000.0)  # 20% per step: it soon tries to go below a tick
    prices = path(feed, "PEN-USD", 10_000)
    assert min(prices) == Decimal("0.01")
    assert all(price > 0 and price % Decimal("0.01") == 0 for price in prices)
    assert max(prices) > Decimal("0.03")  # and it comes back up: the floor is not a trap


@pytest.mark.parametrize("volatility", [5.0, 20.0, 100.0])
def test_volatility_of_log_returns_is_as_configured(volatility: float) -> None:
    prices = [BTC.initial_price, *path(market(BTC, seed=11, volatility_bps=volatility), "BTC-USD", 20_000)]
    returns = [math.log(b / a) for a, b in zip(prices, prices[1:], strict=False)]
    measured = statistics.pstdev(returns) * 10_000
    # A fixed seed makes this deterministic; the band is ~10 standard errors wide anyway.
    assert volatility * 0.9 < measured < volatility * 1.1
    assert abs(statistics.fmean(returns)) * 10_000 < volatility * 0.05


def test_volatility_below_one_tick_still_moves_the_price() -> None:
    coarse = Instrument.create("ABC-USD", tick_size="1", lot_size="1", min_quantity="1", initial_price="100")
    prices = path(market(coarse, volatility_bps=5.0), "ABC-USD", 2_000)  # 0.05 per step, tick 1
    assert len(set(prices)) > 3


def test_zero_volatility_keeps_the_initial_price() -> None:
    assert set(path(market(BTC, volatility_bps=0), "BTC-USD", 50)) == {Decimal("50000")}


def test_step_stamps_one_batch_with_the_clock_and_stores_it() -> None:
    clock = FakeClock()
    feed = market(clock=clock)
    clock.advance(3)
    batch = feed.step()
    assert [q.symbol for q in batch] == ["BTC-USD", "ETH-USD"]
    assert {q.timestamp for q in batch} == {clock.now()}
    assert feed.latest("ETH-USD") == batch[1]
    assert dict(feed.snapshot()) == {q.symbol: q for q in batch}
    assert feed.latest("XRP-USD") is None


def test_a_failing_subscriber_is_logged_stays_subscribed_and_others_still_hear() -> None:
    feed = market()
    heard: list[tuple[Quote, ...]] = []
    calls = 0

    def broken(quotes):
        nonlocal calls
        calls += 1
        raise RuntimeError("strategy crashed")

    feed.subscribe(broken)
    feed.subscribe(lambda quotes: heard.append(tuple(quotes)))
    with capture_logs() as logs:
        first = feed.step()
        second = feed.step()
    assert heard == [first, second]
    assert calls == 2
    failures = [e for e in logs if e["event"] == "market_data_listener_failed"]
    assert len(failures) == 2
    assert failures[0]["log_level"] == "error"
    assert "broken" in failures[0]["listener"]
    assert failures[0]["error"] == "RuntimeError: strategy crashed"


def test_unsubscribe_stops_delivery_and_is_idempotent() -> None:
    feed = market()
    heard: list[object] = []
    unsubscribe = feed.subscribe(heard.append)
    feed.step()
    unsubscribe()
    unsubscribe()
    feed.step()
    assert len(heard) == 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="tick_interval_seconds"):
        market(interval=0)
    with pytest.raises(ValueError, match="volatility_bps"):
        market(volatility_bps=-1.0)
    with pytest.raises(ValueError, match="missing: \\['ETH-USD'\\]"):
        market(volatility_bps={"BTC-USD": 10.0})
    with pytest.raises(ValueError, match="listed under"):
        SimulatedMarketData({"ETH-USD": BTC}, FakeClock(), tick_interval_seconds=1,
                            volatility_bps=1.0, seed=1)


async def test_start_publishes_the_initial_prices_at_once() -> None:
    clock = FakeClock()
    feed = market(interval=60, clock=clock)  # the first background step is a minute away
    heard: list[tuple[Quote, ...]] = []
    feed.subscribe(lambda quotes: heard.append(tuple(quotes)))
    await feed.start()
    try:
        assert feed.latest("BTC-USD") == Quote("BTC-USD", Decimal("50000"), clock.now())
        assert feed.latest("ETH-USD") == Quote("ETH-USD", Decimal("3000"), clock.now())
        assert len(heard) == 1
        with pytest.raises(RuntimeError, match="already running"):
            await feed.start()
    finally:
        await feed.stop()


async def test_background_task_ticks_then_stops_cleanly() -> None:
    feed = market(interval=0.01)
    enough = asyncio.Event()
    batches: list[object] = []

    def listener(quotes):
        batches.append(quotes)
        if len(batches) >= 6:
            enough.set()

    feed.subscribe(listener)
    await feed.start()
    assert feed.running
    await asyncio.wait_for(enough.wait(), timeout=10)
    await feed.stop()
    assert not feed.running
    count = len(batches)
    await asyncio.sleep(0.05)
    assert len(batches) == count  # no step after stop
    await feed.stop()  # idempotent
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in tasks if t.get_name() == "simulated-market-data"]


async def test_a_slow_subscriber_does_not_make_ticks_pile_up() -> None:
    interval = 0.01
    feed = market(interval=interval)
    loop = asyncio.get_running_loop()
    times: list[float] = []
    done = asyncio.Event()

    def listener(quotes):
        times.append(loop.time())
        if len(times) == 2:
            import time

            time.sleep(0.2)  # blocks the loop for 20 intervals, once
        if len(times) >= 12:
            done.set()

    feed.subscribe(listener)
    with capture_logs() as logs:
        await feed.start()
        try:
            await asyncio.wait_for(done.wait(), timeout=10)
        finally:
            await feed.stop()
    after = times[2:]
    # Catching up would deliver ~20 batches back to back; at most two may fall within an interval.
    assert all(later - earlier > interval / 2 for earlier, later in zip(after, after[2:], strict=False))
    skipped = [e for e in logs if e["event"] == "market_data_ticks_skipped"]
    assert skipped and skipped[0]["skipped"] >= 15


def test_next_deadline_keeps_the_grid_and_skips_missed_ticks() -> None:
    assert next_deadline(10.0, 10.004, 1.0) == (11.0, 0)  # a little late: stay on the grid
    assert next_deadline(10.0, 10.999, 1.0) == (11.0, 0)
    assert next_deadline(10.0, 11.0, 1.0) == (12.0, 1)  # the next tick is already due: skip it
    deadline, skipped = next_deadline(10.0, 13.5, 1.0)
    assert (deadline, skipped) == (14.5, 3)  # restart one interval after now, never a burst


@pytest.mark.parametrize("kind", ["simulated", "scripted"])
def test_the_scripted_fake_behaves_like_the_real_feed(kind: str) -> None:
    from tests.fakes import ScriptedMarketData

    clock = FakeClock()
    feed: MarketDataPort
    if kind == "simulated":
        sim = market(BTC, clock=clock)
        feed, publish = sim, sim.step
    else:
        scripted = ScriptedMarketData(clock)
        feed, publish = scripted, lambda: scripted.push("BTC-USD", "50000")
    heard: list[object] = []
    feed.subscribe(lambda quotes: 1 / 0)
    unsubscribe = feed.subscribe(heard.append)
    with capture_logs() as logs:
        batch = publish()
    batch = (batch,) if isinstance(batch, Quote) else batch
    assert heard == [batch]
    assert feed.latest("BTC-USD") == batch[0] and batch[0].timestamp == clock.now()
    assert dict(feed.snapshot()) == {"BTC-USD": batch[0]}
    assert [e["event"] for e in logs] == ["market_data_listener_failed"]
    unsubscribe()
    publish()
    assert len(heard) == 1
