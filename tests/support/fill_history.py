"""A trading history committed to a store as the engine commits it (an order with each of its
fills), with what its strategy instances add up to when every fill is applied in commit order:
for tests that the retention sweep's fold never changes a rebuilt instance."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from decimal import Decimal

from tests.fakes import FakeClock, RecordingMetrics
from tests.support.trading_data import T0
from trading_engine.domain.orders import Fill, Order
from trading_engine.domain.ports.archive import Archived
from trading_engine.domain.ports.repository import AgedOrder, ChangeSet, TradingStore
from trading_engine.domain.ports.retention import BatchPlanner
from trading_engine.services.retention import ArchivingPlanner, RetentionSweep
from trading_engine.services.strategy_runtime.performance import PerformanceTrack

SYMBOL = "BTC-USD"


class CountingArchive:
    """An archive that only counts what it is given."""

    async def open(self) -> None: ...

    async def append(self, batch: list[AgedOrder]) -> Archived:
        return Archived(len(batch), sum(len(aged.fill_records) for aged in batch))

    def close(self) -> None: ...


class History:
    """Orders and fills committed to ``store`` at the times of ``clock``; ``tracks`` holds each
    instance's performance with every fill applied as it was committed (what the live instance
    holds, and what a rebuild without any sweep gives)."""

    def __init__(self, store: TradingStore, clock: FakeClock, planner: BatchPlanner | None = None) -> None:
        self.store = store
        self.clock = clock
        self.planner = planner  # None: inline, over the store's reads and a counting archive
        self.orders: dict[str, Order] = {}
        self.tracks: dict[str, PerformanceTrack] = {}
        self._ids = itertools.count(1)

    async def place(self, side: str, quantity: str, strategy_id: str | None = "s-1") -> str:
        order_id = f"o-{next(self._ids)}"
        limit = "1000" if side == "buy" else "1"  # any fill price below is within the limit
        order = Order.create(order_id=order_id, symbol=SYMBOL, side=side, type="limit", quantity=quantity,
                             limit_price=limit, created_at=self.clock.now(), strategy_id=strategy_id)
        order.accept(self.clock.now())
        self.orders[order_id] = order
        await self.store.commit(ChangeSet(orders=(order.snapshot,)))
        return order_id

    async def fill(self, order_id: str, quantity: Decimal | str | None, price: str) -> Fill:
        """A fill of ``quantity`` (the remainder when None) at ``price``, now."""
        order = self.orders[order_id]
        fill = Fill(fill_id=f"f-{order_id}-{next(self._ids)}", order_id=order_id, symbol=SYMBOL, side=order.side,
                    quantity=order.remaining_quantity if quantity is None else Decimal(quantity),
                    price=Decimal(price), fee=Decimal("0.01"), fee_currency="USD", timestamp=self.clock.now(),
                    strategy_id=order.request.strategy_id)
        order.apply_fill(fill)
        await self.store.commit(ChangeSet(orders=(order.snapshot,), fills=(fill,)))
        if fill.strategy_id is not None:
            self.tracks.setdefault(fill.strategy_id, PerformanceTrack.starting_from(SYMBOL, None)).apply_fill(fill)
        return fill

    async def cancel(self, order_id: str) -> None:
        order = self.orders[order_id]
        order.cancel(self.clock.now(), reason="client asked")
        await self.store.commit(ChangeSet(orders=(order.snapshot,)))

    async def sweep(self, retention: timedelta, batch_size: int = 256) -> int:
        planner = self.planner or ArchivingPlanner(self.store, CountingArchive())
        sweep = RetentionSweep(self.store, planner, self.clock, RecordingMetrics(), retention=retention,
                               interval=timedelta(seconds=60), batch_size=batch_size)
        return await sweep.sweep()

    async def rebuilt(self, strategy_id: str) -> PerformanceTrack:
        """The instance as a restart rebuilds it: its fold, then the stored fills it does not hold."""
        folded = (await self.store.folded_fills([strategy_id])).get(strategy_id)
        return PerformanceTrack.rebuilt(SYMBOL, folded, await self.store.fills_for_strategy(strategy_id))


def state(track: PerformanceTrack) -> tuple[object, ...]:
    """What a rebuild must reproduce exactly: the position and the counts."""
    return track.position.snapshot, track.trades, track.closing_fills, track.winning_fills


async def random_history(
    store: TradingStore, seed: int, *, events: int = 80, planner: BatchPlanner | None = None
) -> list[str]:
    """A seeded random history over two instances and manual orders, with sweeps at random
    cutoffs (planned by ``planner``, inline with a counting archive by default); after each sweep
    every instance's rebuild must equal its fills applied in commit order. Returns a line per
    sweep that broke that (empty when none did)."""
    rng = random.Random(seed)
    clock = FakeClock(T0)
    history = History(store, clock, planner)
    open_ids: list[str] = []
    broken: list[str] = []
    started: datetime = clock.now()
    for step in range(events):
        clock.advance(rng.choice([0, 0, 0.5, 1, 2, 5]))  # ties in time are common
        roll = rng.random()
        if roll < 0.3 or not open_ids:
            strategy_id = rng.choice(["s-1", "s-1", "s-2", None])
            quantity = str(rng.choice([1, 2, 3, 5]))
            open_ids.append(await history.place(rng.choice(["buy", "sell"]), quantity, strategy_id))
        elif roll < 0.8:
            order_id = rng.choice(open_ids)
            remaining = history.orders[order_id].remaining_quantity
            part = None if rng.random() < 0.4 or remaining <= 1 else Decimal(rng.randint(1, int(remaining) - 1))
            await history.fill(order_id, part, str(rng.randint(80, 120)))
            if not history.orders[order_id].status.is_open:
                open_ids.remove(order_id)
        elif roll < 0.9:
            order_id = rng.choice(open_ids)
            await history.cancel(order_id)
            open_ids.remove(order_id)
        else:
            elapsed = (clock.now() - started).total_seconds()
            retention = timedelta(seconds=rng.uniform(0.5, max(1.0, elapsed)))
            await history.sweep(retention, batch_size=rng.randint(1, 4))
            broken += await _differing(history, f"seed {seed} step {step}")
    clock.advance(10)  # at last every finished order leaves; the open ones stay with their fills
    await history.sweep(timedelta(seconds=1))
    return broken + await _differing(history, f"seed {seed} at the end")


async def _differing(history: History, when: str) -> list[str]:
    return [
        f"{when}: {strategy_id} rebuilt as {state(await history.rebuilt(strategy_id))}, not {state(track)}"
        for strategy_id, track in history.tracks.items()
        if state(await history.rebuilt(strategy_id)) != state(track)
    ]
