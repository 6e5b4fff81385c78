"""A running (or stopped) strategy instance: who it is, its state, its inbox and its task."""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from trading_engine.domain.bars import BarAggregator
from trading_engine.domain.decimals import plain
from trading_engine.domain.ports.market_data import Quote
from trading_engine.domain.strategy import Intent, Strategy, StrategySpec
from trading_engine.domain.strategy_record import StrategyRecord, StrategyStatus
from trading_engine.services.strategy_runtime.limits import InstanceLimits
from trading_engine.services.strategy_runtime.performance import PerformanceTrack


@dataclass(frozen=True, slots=True)
class Decision:
    """What the strategy answered to one event: its intents (``latency``: for a tick, the seconds
    from its arrival to the intents, for the decision-latency metric; None for other events), or
    why it failed."""

    intents: tuple[Intent, ...] = ()
    latency: float | None = None
    failure: str | None = None


NOTHING_TO_DO = Decision()
_RUNNING = StrategyStatus.RUNNING  # read on every event: a module global is found faster


@dataclass
class Inbox:
    """What the instance's task has still to handle: a decision taken for it but not acted on
    yet, its own events (fills, risk events, bars) oldest first, then the latest tick of its
    symbol (a newer tick replaces one not handled yet). ``wake=False`` queues an event without
    waking the task, for a feed that settles the engine after each batch
    (``StrategyManager.settle_each_batch``)."""

    events: deque[tuple[str, Any]] = field(default_factory=deque)
    pending_tick: tuple[Decimal, float] | None = None  # (price, monotonic time received)
    decided: Decision | None = None
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, kind: str, payload: Any, wake: bool = True) -> None:
        self.events.append((kind, payload))
        if wake:
            self.wakeup.set()

    def put_tick(self, price: Decimal, received: float, wake: bool = True) -> None:
        self.pending_tick = (price, received)
        if wake:
            self.wakeup.set()

    @property
    def pending(self) -> bool:
        """Something waits to be handled (whether or not the task was woken for it)."""
        return bool(self.events) or self.pending_tick is not None or self.decided is not None

    @property
    def idle(self) -> bool:
        return not self.pending and not self.wakeup.is_set()


@dataclass
class Instance:
    strategy_id: str
    spec: StrategySpec
    symbol: str
    params: dict[str, Any]  # validated: decimals as Decimal
    strategy: Strategy
    created_at: datetime
    performance: PerformanceTrack
    limits: InstanceLimits
    status: StrategyStatus = StrategyStatus.RUNNING
    reason: str | None = None
    updated_at: datetime | None = None
    inbox: Inbox = field(default_factory=Inbox)
    task: asyncio.Task[None] | None = None
    bars: BarAggregator | None = None  # set when the strategy asks for bars
    busy: bool = False  # handling events (its task is not waiting for the next one)

    @property
    def settled(self) -> bool:
        """Nothing to handle and not handling anything."""
        return not self.running or (not self.busy and self.inbox.idle)

    def on_quote(self, quote: Quote, received: float, wake: bool = True) -> None:
        """A quote of the instance's symbol: the latest tick, or for a strategy on bars the bars
        it closes, each an event of its own (bars are never coalesced)."""
        if self.bars is None:
            self.inbox.put_tick(quote.price, received, wake)
        elif quote.bar is not None:
            for bar in self.bars.on_bar(quote.bar):
                self.inbox.put("bar", bar, wake)
        else:
            bar = self.bars.on_price(quote.price, quote.timestamp, quote.volume)
            if bar is not None:
                self.inbox.put("bar", bar, wake)

    @property
    def running(self) -> bool:
        return self.status is _RUNNING

    def record(self) -> StrategyRecord:
        return StrategyRecord(
            strategy_id=self.strategy_id,
            strategy=self.spec.name,
            symbol=self.symbol,
            params={k: plain(v) if isinstance(v, Decimal) else v for k, v in self.params.items()},
            status=self.status,
            reason=self.reason,
            created_at=self.created_at,
            updated_at=self.updated_at or self.created_at,
        )


def seed_of(strategy_id: str) -> int:
    """A seed of the instance's own, the same across restarts."""
    return int.from_bytes(hashlib.sha256(strategy_id.encode()).digest()[:8], "big")
