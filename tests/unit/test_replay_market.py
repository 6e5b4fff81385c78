"""The replay feed: symbols merged by time, the data's clock, settling after each batch, pacing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from trading_engine.infrastructure.market.history import HistoryError
from trading_engine.infrastructure.market.replay import ReplayMarketData


def trades(tmp_path: Path, name: str, rows: str) -> Path:
    path = tmp_path / name
    path.write_text(("timestamp,price\n" + rows) if rows else "")
    return path


async def test_batches_in_time_order_on_the_datas_clock(tmp_path: Path) -> None:
    btc = trades(tmp_path, "btc.csv", "1000,100\n3000,101\n")
    eth = trades(tmp_path, "eth.csv", "1000,10\n2000,11\n")
    feed = ReplayMarketData({"BTC-USD": [btc], "ETH-USD": [eth]}, speed=0)
    assert feed.clock.now() == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)  # the data's start, before any event
    seen: list[tuple[datetime, list[tuple[str, D]]]] = []
    feed.subscribe(lambda quotes: seen.append((feed.clock.now(), [(q.symbol, q.price) for q in quotes])))
    settled: list[int] = []

    async def settle() -> None:
        settled.append(feed.events)

    feed.set_settle(settle)
    await feed.run()
    assert [batch for _, batch in seen] == [[("BTC-USD", D(100)), ("ETH-USD", D(10))], [("ETH-USD", D(11))],
                                           [("BTC-USD", D(101))]]
    assert [at.second for at, _ in seen] == [1, 2, 3] and settled == [2, 3, 4] and feed.done.is_set()
    assert feed.progress() == 1.0 and feed.latest("ETH-USD").price == D(11)


async def test_speed_paces_by_the_datas_gaps(tmp_path: Path) -> None:
    feed = ReplayMarketData({"BTC-USD": [trades(tmp_path, "b.csv", "0,1\n200,2\n400,3\n")]}, speed=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await feed.run()
    assert loop.time() - started >= 0.04 - 0.005  # 400 ms of data at 10x


async def test_a_bad_row_part_way_stops_the_live_feed_with_its_line(tmp_path: Path) -> None:
    feed = ReplayMarketData({"BTC-USD": [trades(tmp_path, "b.csv", "1,1\n2,2\n3,3\n4,x\n")]}, speed=0)
    await feed.start()
    await asyncio.wait_for(feed.done.wait(), 5)
    assert feed.error is not None and "b.csv:5: column price: 'x' is not a number" in str(feed.error)
    await feed.stop()
    with pytest.raises(HistoryError, match="the file is empty"):
        ReplayMarketData({"BTC-USD": [trades(tmp_path, "e.csv", "")]}, speed=0)
