"""A live service on a replay, stopped part way and started again, continues the replay where it
had got to: the events at or before the newest time in its store are skipped (unheard by the
strategies, unpaced), so no order is placed on data it already traded on, and a strategy whose
decisions depend on nothing but the bar and its position makes, over the two runs, exactly the fills
of a run that was never interrupted. With ``market.replay_resume`` false the replay starts again
from its beginning. The clock is the data's (replay speed 0); the store is SQLite, as deployed."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from trading_engine.containers import create_container
from trading_engine.domain.orders import Order
from trading_engine.domain.ports.repository import OrderQuery
from trading_engine.domain.timefmt import isoformat_exact

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "history" / "btc-usd-1m.csv.gz"
BARS, CUT = 400, 250  # bars in the day; bars handled before the first service stops
PARAMS = {"position_size": "0.05"}


class Stop(Exception):
    """Raised by the settle hook to stop the replay after a bar, as a stop between events does."""


def day(tmp_path: Path) -> Path:
    path = tmp_path / "day.csv"
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        path.write_text("".join(line for _, line in zip(range(BARS + 1), f)))
    return path


def service(data: Path, db: Path, *, resume: bool = True) -> Any:
    container = create_container(overrides={
        "market": {"source": "replay", "replay_files": f"BTC-USD={data}", "replay_speed": "0",
                   "replay_resume": str(resume).lower()},
        "strategies": {"modules": "tests.support.bar_follower:SPEC"},
        "persistence": {"db_path": str(db), "synchronous": "NORMAL"},
        "metrics": {"backend": "none"}, "service": {"environment": "testing"}, "logging": {"level": "WARNING"},
    })
    container.replay.add_kwargs(autostart=False)  # the test runs the feed, so it can stop it after a bar
    return container


async def run(container: Any, *, stop_after: int | None = None) -> None:
    """Replay the feed (to its end, or until ``stop_after`` events were handled) and finish writing."""
    feed, strategies = container.market_data(), container.strategy_manager()

    async def settle() -> None:
        await strategies.settled()
        if feed.events == stop_after:
            raise Stop

    feed.set_settle(settle)
    try:
        await feed.run()
    except Stop:
        pass
    assert feed.error is None
    await container.order_service().drain()


async def orders_of(container: Any, strategy_id: str) -> list[Order]:
    store, found, cursor = container.trading_store(), [], None
    while True:
        page = await store.list_orders(OrderQuery(strategy_id=strategy_id, limit=1000, cursor=cursor))
        found += page.orders
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def fills_of(container: Any, strategy_id: str) -> list[tuple[str, str, Any, Any, Any]]:
    fills = await container.trading_store().fills_for_strategy(strategy_id)
    return [(f.timestamp.isoformat(), f.side.value, f.quantity, f.price, f.fee) for f in fills]


async def uninterrupted(data: Path, db: Path) -> list[tuple[str, str, Any, Any, Any]]:
    container = service(data, db)
    await container.trading.init()
    try:
        strategy_id = (await container.strategy_manager().start("bar_follower", "BTC-USD", PARAMS)).strategy_id
        await run(container)
        return await fills_of(container, strategy_id)
    finally:
        await container.trading.shutdown()


async def first_part(data: Path, db: Path) -> tuple[str, datetime, list[Order]]:
    """A service that handles CUT bars and stops: its strategy id, the newest time in its store
    and the orders its strategy placed."""
    container = service(data, db)
    await container.trading.init()
    try:
        strategy_id = (await container.strategy_manager().start("bar_follower", "BTC-USD", PARAMS)).strategy_id
        await run(container, stop_after=CUT)
        stopped_at = await container.trading_store().latest_update()
        return strategy_id, stopped_at, await orders_of(container, strategy_id)
    finally:
        await container.trading.shutdown()


async def test_a_restarted_replay_continues_where_it_stopped_and_fills_as_if_never_stopped(tmp_path: Path) -> None:
    data = day(tmp_path)
    expected = await uninterrupted(data, tmp_path / "once.db")
    assert len(expected) > 20  # the strategy trades all day

    db = tmp_path / "restarted.db"
    strategy_id, stopped_at, before = await first_part(data, db)
    assert before and max(o.updated_at for o in before) <= stopped_at

    container = service(data, db)
    with capture_logs() as logs:
        await container.trading.init()
    try:
        feed, market = container.market_data(), container.market_view()
        # Skipped: every bar that ended at or before the newest stored time; time, marks are there.
        [resumed] = [e for e in logs if e["event"] == "replay_resumed"]
        assert resumed["resumed_after"] == isoformat_exact(stopped_at)
        skipped = feed.skipped
        assert resumed["events_skipped"] == skipped and 0 < skipped <= CUT and feed.events == 0
        assert container.clock().now() == stopped_at == feed.latest("BTC-USD").timestamp
        assert market.age_seconds("BTC-USD") == 0
        assert container.strategy_manager().get(strategy_id).running  # resumed, with its position

        await run(container)
        after = [o for o in await orders_of(container, strategy_id) if o.order_id not in {b.order_id for b in before}]
        assert after and min(o.created_at for o in after) > stopped_at  # nothing decided on old data
        assert feed.events == BARS - skipped
        # Over both runs, exactly the fills of the run that never stopped.
        assert await fills_of(container, strategy_id) == expected
    finally:
        await container.trading.shutdown()


async def test_with_replay_resume_off_the_replay_starts_again_from_its_beginning(tmp_path: Path) -> None:
    data, db = day(tmp_path), tmp_path / "restarted.db"
    strategy_id, stopped_at, before = await first_part(data, db)

    container = service(data, db, resume=False)
    with capture_logs() as logs:
        await container.trading.init()
    try:
        feed = container.market_data()
        assert [e for e in logs if e["event"] == "replay_resumed"] == [] and feed.skipped == 0
        assert feed.latest("BTC-USD") is None and container.clock().now() < stopped_at
        await run(container)
        assert feed.events == BARS
        # The resumed instance decides again on the bars it had traded on: orders on old data.
        again = [o for o in await orders_of(container, strategy_id) if o.order_id not in {b.order_id for b in before}]
        assert any(o.created_at <= stopped_at for o in again)
    finally:
        await container.trading.shutdown()
