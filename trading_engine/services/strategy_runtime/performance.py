"""An instance's performance, in the symbol's quote currency.

* ``trades``: fills of the instance's orders; ``realized_pnl`` (average cost, gross of fees),
  ``unrealized_pnl`` at the current mark, ``fees``, ``net_pnl = realized + unrealized - fees``;
* ``win_rate``: of the fills that closed (part of) a position, the share with positive realized
  P&L; None before the first closing fill;
* ``max_drawdown``: the largest fall of ``net_pnl`` from a previous peak, over samples taken every
  ``strategies.performance_interval_seconds`` (on ticks) and the current value;
* ``sharpe_ratio``: mean over standard deviation (population) of the per-interval changes of
  ``net_pnl`` across those samples, not annualised; None with fewer than two changes or no
  variation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from trading_engine.domain.decimals import ZERO
from trading_engine.domain.orders import Fill
from trading_engine.domain.performance import max_drawdown, sharpe_ratio
from trading_engine.domain.portfolio import Position
from trading_engine.domain.strategy_record import FoldedFills
from trading_engine.services.market import MarketView

MAX_PERFORMANCE_SAMPLES = 10_000


def mark_of(market: MarketView, symbol: str) -> Decimal | None:
    """The latest price of ``symbol``; None before the first."""
    quote = market.quote(symbol)
    return None if quote is None else quote.price


@dataclass
class PerformanceTrack:
    """What an instance has done: its position (rebuilt on restart from its ``FoldedFills`` and
    the fills still stored), its fills, the ticks it handled and the samples of its net P&L."""

    position: Position
    trades: int = 0
    closing_fills: int = 0
    winning_fills: int = 0
    ticks: int = 0
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_PERFORMANCE_SAMPLES))
    last_sample_at: float | None = None

    def apply_fill(self, fill: Fill) -> None:
        realized = self.position.apply_fill(fill.side, fill.quantity, fill.price, fill.fee)
        self.trades += 1
        if realized != 0:
            self.closing_fills += 1
            self.winning_fills += realized > 0

    @classmethod
    def starting_from(cls, symbol: str, folded: FoldedFills | None) -> PerformanceTrack:
        """A track of ``symbol`` holding what ``folded`` (fills that left the store) added up to."""
        if folded is None:
            return cls(Position(symbol))
        return cls(Position.from_snapshot(folded.position), trades=folded.trades,
                   closing_fills=folded.closing_fills, winning_fills=folded.winning_fills)

    @classmethod
    def rebuilt(cls, symbol: str, folded: FoldedFills | None, stored: Iterable[Fill]) -> PerformanceTrack:
        """A track of ``symbol`` from ``folded`` and then the ``stored`` fills (the instance's, in
        the store's order) that it does not hold."""
        track = cls.starting_from(symbol, folded)
        for fill in stored if folded is None else folded.not_folded(stored):
            track.apply_fill(fill)
        return track

    def folded(self, strategy_id: str, kept_fills: Mapping[str, int]) -> FoldedFills:
        """The position and counts of this track, as a store keeps them; ``kept_fills`` names the
        fills it holds that stay in the store (see ``FoldedFills``)."""
        return FoldedFills(strategy_id, self.position.snapshot, trades=self.trades,
                           closing_fills=self.closing_fills, winning_fills=self.winning_fills,
                           kept_fills=kept_fills)

    def unrealized_pnl(self, mark: Decimal | None) -> Decimal:
        position = self.position
        return position.unrealized_pnl(mark) if mark is not None and position.quantity else ZERO

    def net_pnl(self, mark: Decimal | None) -> Decimal:
        return self.position.realized_pnl + self.unrealized_pnl(mark) - self.position.fees_paid

    def sample(self, now: float, interval: float, mark: Decimal | None) -> bool:
        """Take a sample of the net P&L if ``interval`` seconds passed since the last one; True
        when it did."""
        if self.last_sample_at is None or now - self.last_sample_at >= interval:
            self.last_sample_at = now
            self.samples.append(float(self.net_pnl(mark)))
            return True
        return False

    def report(self, mark: Decimal | None) -> dict[str, Any]:
        position = self.position
        net = self.net_pnl(mark)
        return {
            "trades": self.trades,
            "position": position.quantity,
            "average_entry_price": position.average_entry_price,
            "realized_pnl": position.realized_pnl,
            "unrealized_pnl": self.unrealized_pnl(mark),
            "fees": position.fees_paid,
            "net_pnl": net,
            "win_rate": (self.winning_fills / self.closing_fills) if self.closing_fills else None,
            "max_drawdown": max_drawdown([*self.samples, float(net)]),
            "sharpe_ratio": sharpe_ratio(list(self.samples)),
            "samples": len(self.samples),
        }
