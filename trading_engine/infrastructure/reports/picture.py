"""``equity.png``: the equity curve over dates with entries and exits marked, the fall from the
running peak shaded between them, and the drawdown (percent) shaded in a panel under it.

Drawn with matplotlib's Agg backend (no display needed) from ``equity.csv`` and ``fills.csv``; a
long run is thinned to at most ``MAX_POINTS`` points (each kept point an actual sample), so the
picture costs the same for a million bars as for a thousand.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

MAX_POINTS = 4000


def _rows(path: Path) -> int:
    with path.open(encoding="utf-8") as f:
        return sum(1 for _ in f) - 1


def draw_equity(equity_csv: Path, fills_csv: Path, out: Path, *, title: str, currency: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    stride = max(1, _rows(equity_csv) // MAX_POINTS)
    times: list[datetime] = []
    equity: list[float] = []
    peak: list[float] = []
    with equity_csv.open(encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        at, value_at, drawdown_at = (header.index(name) for name in ("timestamp", "equity", "drawdown"))
        for index, row in enumerate(row for row in reader if row):  # only the kept rows are parsed
            if index % stride == 0:
                value, drawdown = float(row[value_at]), float(row[drawdown_at])
                times.append(datetime.fromisoformat(row[at]))
                equity.append(value)
                peak.append(value / (1 - drawdown) if drawdown < 1 else value)
    entries: list[tuple[datetime, float]] = []
    exits: list[tuple[datetime, float]] = []
    position = 0.0
    with fills_csv.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            signed = float(row["quantity"]) * (1 if row["side"] == "buy" else -1)
            at = datetime.fromisoformat(row["timestamp"])
            (entries if abs(position + signed) > abs(position) else exits).append((at, _equity_at(times, equity, at)))
            position += signed

    figure, (axes, under) = plt.subplots(2, 1, figsize=(11, 6.5), dpi=100, sharex=True,
                                         gridspec_kw={"height_ratios": (3, 1)})
    drawdown = [-(1 - e / p) * 100 if p else 0.0 for e, p in zip(equity, peak)]
    under.fill_between(times, drawdown, 0, color="#d62728", alpha=0.35, linewidth=0)
    under.set_ylabel("drawdown (%)")
    under.grid(True, alpha=0.3)
    axes.plot(times, equity, color="#1f4e9c", linewidth=1.3, label="equity")
    axes.fill_between(times, equity, peak, color="#d62728", alpha=0.25, linewidth=0, label="below the peak")
    if entries:
        axes.scatter(*zip(*entries), marker="^", color="#2ca02c", s=36, zorder=3, label="entry")
    if exits:
        axes.scatter(*zip(*exits), marker="v", color="#d62728", s=36, zorder=3, label="exit")
    axes.set_title(title)
    axes.set_ylabel(f"equity ({currency})")
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    locator = mdates.AutoDateLocator()
    under.xaxis.set_major_locator(locator)
    under.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best")
    figure.tight_layout()
    # No timestamp or software version in the file: the same run gives the same bytes.
    figure.savefig(out, format="png", metadata={"Software": None})
    plt.close(figure)


def _equity_at(times: list[datetime], equity: list[float], at: datetime) -> float:
    """The equity of the last kept sample at or before ``at`` (the marker sits on the curve)."""
    import bisect

    index = max(0, bisect.bisect_right(times, at) - 1)
    return equity[index] if equity else 0.0
