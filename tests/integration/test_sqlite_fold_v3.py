"""On a real SQLite file: a ``folded_fills`` row written by schema version 3 (before ``kept_fills``)
folded only fills that left the store, so a rebuild applies every stored fill after it, as it did
then; a later sweep on top of it keeps what the instance rebuilds to."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from tests.fakes import FakeClock
from tests.support.fill_history import SYMBOL, History, state
from tests.support.trading_data import T0
from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore
from trading_engine.services.strategy_runtime.performance import PerformanceTrack


async def test_a_version_3_fold_applies_every_stored_fill_after_it(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteTradingStore(path, synchronous="NORMAL")
    await store.start()
    clock = FakeClock(T0)
    history = History(store, clock)
    long = await history.place("buy", "10")
    clock.advance(1)
    kept = await history.fill(long, "2", "100")  # stays: its order is open
    clock.advance(1)
    aged = await history.place("buy", "2")
    left = await history.fill(aged, None, "120")
    # What version 3 wrote: the departed fill alone, without kept_fills.
    old = PerformanceTrack.starting_from(SYMBOL, None)
    old.apply_fill(left)
    assert await store.delete_orders([aged], [old.folded("s-1", {})]) == 1
    await store.stop()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE folded_fills SET data = json_remove(data, '$.kept_fills')")
        (data,) = conn.execute("SELECT data FROM folded_fills").fetchone()
    assert "kept_fills" not in data

    store = SqliteTradingStore(path, synchronous="NORMAL")
    await store.start()
    try:
        history.store = store
        folded = (await store.folded_fills(["s-1"]))["s-1"]
        assert folded.kept_fills == {}
        then = PerformanceTrack.starting_from(SYMBOL, folded)
        then.apply_fill(kept)  # the rebuild of version 3: the fold, then every stored fill
        assert state(await history.rebuilt("s-1")) == state(then)

        clock.advance(1)
        await history.fill(await history.place("sell", "3"), None, "130")
        then.apply_fill((await store.fills_for_strategy("s-1"))[-1])
        before = state(await history.rebuilt("s-1"))
        assert before == state(then)
        clock.advance(60)
        assert await history.sweep(timedelta(seconds=30)) == 1  # the sell leaves; the open order stays
        assert dict((await store.folded_fills(["s-1"]))["s-1"].kept_fills) == {long: 1}
        assert state(await history.rebuilt("s-1")) == before
    finally:
        await store.stop()
