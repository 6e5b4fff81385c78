"""Performance arithmetic over a series of P&L samples (floats: these are statistics, not money)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def max_drawdown(values: Sequence[float]) -> float:
    """The largest fall of ``values`` from a previous peak; 0 when it never falls."""
    peak = -math.inf
    worst = 0.0
    for value in values:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


def sharpe_ratio(values: Sequence[float]) -> float | None:
    """Mean over population standard deviation of the changes between consecutive ``values``,
    not annualised; None with fewer than two changes or when they do not vary."""
    changes = [b - a for a, b in zip(values, values[1:])]
    if len(changes) < 2:
        return None
    mean = sum(changes) / len(changes)
    variance = sum((c - mean) ** 2 for c in changes) / len(changes)
    if variance <= 0:
        return None
    return mean / math.sqrt(variance)
