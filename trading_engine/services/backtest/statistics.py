"""The statistics of a backtest, accumulated as the run goes (memory does not grow with it).

Equity ``e_0 … e_n`` is sampled at the start and after every event (for bars, at each bar's close)
in the reporting currency; ``t_i`` are the sample times; ``r_i = e_i / e_(i-1) - 1``.

* ``total_return = e_n / e_0 - 1``; ``annualized_return = (e_n / e_0) ** (Y / (t_n - t_0)) - 1``
  with ``Y`` = 365 days in seconds (markets of this engine trade every day).
* ``drawdown_i = (max(e_0..e_i) - e_i) / max(e_0..e_i)``; ``max_drawdown`` is its largest value;
  ``max_drawdown_duration_seconds`` the longest time from a peak until equity is back at or above
  it (or until the end, if it never is).
* With the data's own interval ``dt = (t_n - t_0) / n`` and ``P = Y / dt`` periods a year:
  ``sharpe_ratio = mean(r) / stdev(r) * sqrt(P)`` (sample standard deviation, n - 1), and
  ``sortino_ratio = mean(r) / sqrt(mean(min(r_i, 0) ** 2)) * sqrt(P)``; null when undefined (fewer
  than two returns, or no variation / no losing period).
* A **round trip** runs from a fill that takes the position away from 0 to the fill that brings it
  back to 0 (a fill that reverses the position closes one and opens the next, its fee split by
  quantity). Its P&L is the realized P&L of its fills less their fees. ``win_rate`` = round trips
  with a P&L above 0 / round trips; ``profit_factor`` = the sum of the positive P&Ls / the absolute
  sum of the negative ones (null without a losing trip); ``fees`` the sum of every fill's fee.
* ``exposure`` = the share of ``t_n - t_0`` during which the position was not 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from trading_engine.domain.decimals import ZERO, plain

YEAR_SECONDS = 365 * 86400


@dataclass
class EquityTrack:
    """Equity samples in, drawdown and the return statistics out."""

    start_time: datetime | None = None
    start_equity: Decimal | None = None
    last_time: datetime | None = None
    last_equity: Decimal | None = None
    peak: Decimal = ZERO
    peak_time: datetime | None = None
    max_drawdown: Decimal = ZERO
    longest_underwater: float = 0.0
    samples: int = 0
    # Welford's running mean and sum of squared deviations of the returns, and the downside sum
    _mean: float = 0.0
    _m2: float = 0.0
    _downside: float = 0.0
    _in_market_seconds: float = 0.0
    _position_open: bool = False
    _drawdown: Decimal | None = None  # the last sample's

    def add(self, at: datetime, equity: Decimal, position_open: bool) -> Decimal:
        """Add a sample; answer its drawdown."""
        if self.start_time is None:
            self.start_time, self.start_equity = at, equity
            self.peak, self.peak_time = equity, at
        else:
            assert self.last_equity is not None and self.last_time is not None
            if self._position_open:
                self._in_market_seconds += (at - self.last_time).total_seconds()
            # the same equity as the last sample (flat, nothing moved it): a return of 0 exactly
            if equity is self.last_equity or not self.last_equity:
                r = 0.0
            else:
                r = float(equity / self.last_equity - 1)
            self.samples += 1
            delta = r - self._mean
            self._mean += delta / self.samples
            self._m2 += delta * (r - self._mean)
            if r < 0.0:
                self._downside += r * r
        if equity >= self.peak:
            assert self.peak_time is not None
            self.longest_underwater = max(self.longest_underwater, (at - self.peak_time).total_seconds())
            self.peak, self.peak_time = equity, at
        if equity is self.last_equity and self._drawdown is not None:
            drawdown = self._drawdown  # same equity, same peak (a new one would be this equity)
        else:
            drawdown = (self.peak - equity) / self.peak if self.peak > 0 else ZERO
        self._drawdown = drawdown
        if drawdown > self.max_drawdown:
            self.max_drawdown = drawdown
        self.last_time, self.last_equity, self._position_open = at, equity, position_open
        return drawdown

    def report(self) -> dict[str, Any]:
        assert self.start_equity is not None and self.last_equity is not None
        assert self.start_time is not None and self.last_time is not None and self.peak_time is not None
        span = (self.last_time - self.start_time).total_seconds()
        growth = self.last_equity / self.start_equity
        annualized = (float(growth) ** (YEAR_SECONDS / span) - 1) if span > 0 and growth > 0 else None
        underwater = max(self.longest_underwater, (self.last_time - self.peak_time).total_seconds()
                         if self.last_equity < self.peak else 0.0)
        sharpe = sortino = None
        if self.samples >= 2 and span > 0:
            periods = YEAR_SECONDS / (span / self.samples)
            stdev = math.sqrt(self._m2 / (self.samples - 1))
            downside = math.sqrt(self._downside / self.samples)
            sharpe = self._mean / stdev * math.sqrt(periods) if stdev > 0 else None
            sortino = self._mean / downside * math.sqrt(periods) if downside > 0 else None
        return {
            "start": self.start_time.isoformat(),
            "end": self.last_time.isoformat(),
            "start_equity": plain(self.start_equity),
            "final_equity": plain(self.last_equity),
            "total_return": _ratio(growth - 1),
            "annualized_return": _float(annualized),
            "max_drawdown": _ratio(self.max_drawdown),
            "max_drawdown_duration_seconds": underwater,
            "sharpe_ratio": _float(sharpe),
            "sortino_ratio": _float(sortino),
            "exposure": _float(self._in_market_seconds / span if span > 0 else 0.0),
        }


@dataclass
class TradeTrack:
    """Fills in, round trips, win rate, profit factor and fees out."""

    fills: int = 0
    fees: Decimal = ZERO
    position: Decimal = ZERO
    trip_pnl: Decimal = ZERO
    trips: list[Decimal] = field(default_factory=list)  # closed round trips' P&L (one per trip)

    def add(self, signed_quantity: Decimal, realized: Decimal, fee: Decimal) -> None:
        self.fills += 1
        self.fees += fee
        before, after = self.position, self.position + signed_quantity
        self.position = after
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            closing_share = abs(before) / abs(signed_quantity)
            closing_fee = fee * closing_share if after != 0 else fee
            self.trips.append(self.trip_pnl + realized - closing_fee)
            self.trip_pnl = -(fee - closing_fee)  # the reversed part opens the next trip
        else:
            self.trip_pnl += realized - fee

    def report(self) -> dict[str, Any]:
        wins = [p for p in self.trips if p > 0]
        losses = [p for p in self.trips if p < 0]
        return {
            "fills": self.fills,
            "round_trips": len(self.trips),
            "win_rate": _float(len(wins) / len(self.trips) if self.trips else None),
            "profit_factor": _float(float(sum(wins, ZERO) / -sum(losses, ZERO)) if losses else None),
            "fees": plain(self.fees),
        }


def _ratio(value: Decimal) -> str:
    """A fraction as a decimal string, to 12 places (an exact quotient can be endless)."""
    return plain(value.quantize(Decimal("1e-12")))


def _float(value: float | None) -> float | None:
    return None if value is None else round(value, 12)
