"""The replay feed: symbols merged by time, the data's clock, settling after each batch, pacing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from structlog.testing import capture_logs

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


def at_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


async def test_resume_after_drops_the_events_up_to_it_unheard_and_keeps_the_marks(tmp_path: Path) -> None:
    btc = trades(tmp_path, "btc.csv", "1000,100\n3000,101\n5000,102\n")
    eth = trades(tmp_path, "eth.csv", "1000,10\n2000,11\n4000,12\n")
    feed = ReplayMarketData({"BTC-USD": [btc], "ETH-USD": [eth]}, speed=0)
    heard: list[list[tuple[str, D]]] = []
    feed.subscribe(lambda quotes: heard.append([(q.symbol, q.price) for q in quotes]))
    with capture_logs() as logs:
        await feed.resume_after(at_ms(3000))  # at or before: 1 s (two quotes), 2 s, 3 s
    assert heard == [] and feed.skipped == 4 and feed.events == 0
    assert feed.clock.now() == at_ms(3000)
    assert feed.latest("BTC-USD").price == D(101) and feed.latest("ETH-USD").price == D(11)
    assert [e for e in logs if e["event"] == "replay_resumed"] == [{
        "event": "replay_resumed", "log_level": "info", "resumed_after": "1970-01-01T00:00:03.000000Z",
        "events_skipped": 4, "data_time": "1970-01-01T00:00:03.000000Z", "next_event": "1970-01-01T00:00:04.000000Z",
    }]
    await feed.run()
    assert heard == [[("ETH-USD", D(12))], [("BTC-USD", D(102))]] and feed.events == 2


async def test_resume_after_between_events_or_outside_the_data(tmp_path: Path) -> None:
    rows = "1000,1\n2000,2\n3000,3\n"
    feed = ReplayMarketData({"BTC-USD": [trades(tmp_path, "a.csv", rows)]}, speed=0)
    await feed.resume_after(at_ms(2500))  # between two events: the clock is the last one skipped
    assert feed.skipped == 2 and feed.clock.now() == at_ms(2000) and feed.latest("BTC-USD").price == D(2)

    with capture_logs() as logs:
        for nothing_to_skip in (None, at_ms(999)):
            feed = ReplayMarketData({"BTC-USD": [trades(tmp_path, "b.csv", rows)]}, speed=0)
            await feed.resume_after(nothing_to_skip)
            assert feed.skipped == 0 and feed.latest("BTC-USD") is None and feed.clock.now() == at_ms(1000)
    assert logs == []

    feed = ReplayMarketData({"BTC-USD": [trades(tmp_path, "c.csv", rows)]}, speed=0)
    await feed.resume_after(at_ms(9000))  # past the end: the replay had finished, and stays so
    assert feed.skipped == 3 and feed.latest("BTC-USD").price == D(3)
    await feed.start()
    await asyncio.wait_for(feed.done.wait(), 5)
    assert feed.events == 0 and feed.error is None
    await feed.stop()


async def test_the_skipped_part_is_not_paced_and_pacing_counts_from_the_resume_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An hour of data at real time: resumed after it, the next event is one second away, not 3601.
    feed = ReplayMarketData({"BTC-USD": [trades(tmp_path, "b.csv", "0,1\n3600000,2\n3601000,3\n")]}, speed=1)
    delays: list[float] = []

    async def no_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    await feed.resume_after(at_ms(3_600_000))
    assert delays == []
    await feed.run()
    assert len(delays) == 1 and 0.9 < delays[0] <= 1.0 and feed.events == 1


async def test_a_bad_row_among_the_skipped_stops_the_feed_with_its_line(tmp_path: Path) -> None:
    feed = ReplayMarketData({"BTC-USD": [trades(tmp_path, "b.csv", "1,1\n2,2\n3,3\n4,x\n5,5\n")]}, speed=0)
    await feed.resume_after(at_ms(5))
    assert feed.done.is_set() and feed.error is not None and "b.csv:5: column price" in str(feed.error)
    await feed.start()  # nothing more to run
    await feed.stop()
