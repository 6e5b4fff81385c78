"""A live service on a replay of bars, restarted while a market order waits for the next bar: the
order comes back to the paper venue and fills at that bar's open, as it would have without the
restart: whether the replay continues after the newest stored time (``market.replay_resume``, the
default) or starts again from its files' beginning (a bar that starts before the order was placed
never executes it). The clock is the data's (no wall clock, replay speed 0); the store is SQLite,
as deployed."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from trading_engine.containers import create_container
from trading_engine.domain.orders import OrderRequest, OrderStatus

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "history" / "btc-usd-1m.csv.gz"
CUT = 300  # bars replayed before the order is placed (and, in the restarted run, before the stop)
ORDER = {"symbol": "BTC-USD", "side": "buy", "type": "market", "quantity": "0.05"}


def head(tmp_path: Path, name: str, bars: int) -> Path:
    path = tmp_path / name
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        path.write_text("".join(line for _, line in zip(range(bars + 1), f)))
    return path


def service(data: Path, db: Path, *, autostart: bool = True, resume: bool = True) -> Any:
    container = create_container(overrides={
        "market": {"source": "replay", "replay_files": f"BTC-USD={data}", "replay_speed": "0",
                   "replay_resume": str(resume).lower()},
        "persistence": {"db_path": str(db), "synchronous": "NORMAL"},
        "metrics": {"backend": "none"}, "service": {"environment": "testing"}, "logging": {"level": "WARNING"},
    })
    if not autostart:
        container.replay.add_kwargs(autostart=False)
    return container


def seen(fills: Any) -> list[tuple[str, str, Any, Any, Any]]:
    return [(f.timestamp.isoformat(), f.side.value, f.quantity, f.price, f.fee) for f in fills]


@pytest.mark.parametrize("resume", [True, False], ids=["resumed", "from-the-beginning"])
async def test_a_waiting_market_order_fills_at_the_next_open_across_a_restart(tmp_path: Path, resume: bool) -> None:
    day, first_part = head(tmp_path, "day.csv", 400), head(tmp_path, "part.csv", CUT)

    # Without a restart: the order is placed on the close of bar CUT and fills on bar CUT + 1.
    container = service(day, tmp_path / "once.db", autostart=False)
    await container.trading.init()
    try:
        feed, orders, strategies = container.market_data(), container.order_service(), container.strategy_manager()
        placed = []

        async def settle() -> None:
            await strategies.settled()
            if feed.events == CUT:
                order = (await orders.place(OrderRequest(**ORDER))).order
                placed.append((order, order.status))

        feed.set_settle(settle)
        await feed.run()
        await orders.drain()
        [(order, status)] = placed
        assert status is OrderStatus.OPEN  # on bars it waits for the next bar
        expected = seen(await container.trading_store().fills_for_order(order.order_id))
    finally:
        await container.trading.shutdown()
    assert len(expected) == 1

    # With one: the first service stops after bar CUT with the order waiting; the next one replays
    # the file after bar CUT (or from its beginning), with the order back on the venue from the store.
    db = tmp_path / "restarted.db"
    container = service(first_part, db)
    await container.trading.init()
    try:
        await container.market_data().done.wait()
        waiting = (await container.order_service().place(OrderRequest(**ORDER))).order
        assert waiting.status is OrderStatus.OPEN and container.venue().resting() == (waiting.order_id,)
    finally:
        await container.trading.shutdown()

    container = service(day, db, resume=resume)
    await container.trading.init()
    try:
        feed = container.market_data()
        await feed.done.wait()
        assert feed.skipped == (CUT if resume else 0)
        assert feed.error is None
        await container.order_service().drain()
        store = container.trading_store()
        assert seen(await store.fills_for_order(waiting.order_id)) == expected
        stored = await store.get_order(waiting.order_id)
        assert stored is not None and stored.status is OrderStatus.FILLED
        assert container.venue().resting() == ()
    finally:
        await container.trading.shutdown()
