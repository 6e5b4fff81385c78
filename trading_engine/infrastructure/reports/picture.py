"""``equity.png``: the equity curve over dates with entries and exits marked, the fall from the
running peak shaded between them, and the drawdown (percent) shaded in a panel under it.

Drawn with matplotlib's Agg backend (no display needed) from ``equity.csv`` and ``fills.csv``; a
long run is thinned to every n-th sample (about ``MAX_POINTS`` points, each an actual sample), read
without parsing the rows in between. Entries and exits are thinned the same way when there are more
than ``MAX_MARKERS`` of either (more merge into a band at this width): every n-th of both
is drawn, and the legend says "1 in n shown". The picture then costs little for a million bars.
"""

from __future__ import annotations

import csv
from datetime import datetime
from functools import partial
from itertools import islice
from pathlib import Path

MAX_POINTS = 4000
MAX_MARKERS = 150  # of entries, and of exits: beyond that they merge into a band


def _kept_rows(equity_csv: Path) -> tuple[list[str], list[list[str]]]:
    """The header of ``equity.csv`` (as ``EquityLog`` writes it: one unquoted row a line) and every
    ``stride``-th row from the first, ``stride`` the rows over ``MAX_POINTS``: the rows are counted
    in the raw bytes and only the kept ones are decoded and split."""
    with equity_csv.open("rb") as f:
        header = f.readline()
        rows = sum(chunk.count(b"\n") for chunk in iter(partial(f.read, 1 << 20), b""))
        f.seek(len(header))
        stride = max(1, rows // MAX_POINTS)
        kept = [line.decode("utf-8").rstrip("\r\n").split(",") for line in islice(f, 0, None, stride)]
    return header.decode("utf-8").rstrip("\r\n").split(","), [row for row in kept if row != [""]]


def _markers(fills_csv: Path) -> tuple[list[str], list[str], int]:
    """The timestamps of the entries and of the exits (a fill that takes the position away from
    flat, or one towards it), each thinned to at most ``MAX_MARKERS``, and how many of each one
    drawn marker stands for."""
    entries: list[str] = []
    exits: list[str] = []
    position = 0.0
    with fills_csv.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        at, side, quantity = (header.index(name) for name in ("timestamp", "side", "quantity"))
        for row in reader:
            if row:
                signed = float(row[quantity]) if row[side] == "buy" else -float(row[quantity])
                (entries if abs(position + signed) > abs(position) else exits).append(row[at])
                position += signed
    every = max(1, -(-max(len(entries), len(exits)) // MAX_MARKERS))
    return entries[::every], exits[::every], every


def draw_equity(equity_csv: Path, fills_csv: Path, out: Path, *, title: str, currency: str) -> None:
    # A Figure of its own on the Agg canvas, without pyplot: no global figure manager to import,
    # register with or close.
    import matplotlib.dates as mdates
    import matplotlib.ticker
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    times: list[datetime] = []
    equity: list[float] = []
    peak: list[float] = []
    header, rows = _kept_rows(equity_csv)
    at, value_at, drawdown_at = (header.index(name) for name in ("timestamp", "equity", "drawdown"))
    for row in rows:
        value, drawdown = float(row[value_at]), float(row[drawdown_at])
        times.append(datetime.fromisoformat(row[at]))
        equity.append(value)
        peak.append(value / (1 - drawdown) if drawdown < 1 else value)
    entry_times, exit_times, every = _markers(fills_csv)
    entries = [(when, _equity_at(times, equity, when)) for when in map(datetime.fromisoformat, entry_times)]
    exits = [(when, _equity_at(times, equity, when)) for when in map(datetime.fromisoformat, exit_times)]
    shown = "" if every == 1 else f" (1 in {every} shown)"

    figure = Figure(figsize=(11, 6.5), dpi=100)
    FigureCanvasAgg(figure)
    axes, under = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    drawdown = [-(1 - e / p) * 100 if p else 0.0 for e, p in zip(equity, peak)]
    under.fill_between(times, drawdown, 0, color="#d62728", alpha=0.35, linewidth=0)
    under.set_ylabel("drawdown (%)")
    under.grid(True, alpha=0.3)
    axes.plot(times, equity, color="#1f4e9c", linewidth=1.3, label="equity")
    axes.fill_between(times, equity, peak, color="#d62728", alpha=0.25, linewidth=0, label="below the peak")
    if entries:
        axes.scatter(*zip(*entries), marker="^", color="#2ca02c", s=36, zorder=3, label=f"entry{shown}")
    if exits:
        axes.scatter(*zip(*exits), marker="v", color="#d62728", s=36, zorder=3, label=f"exit{shown}")
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


def _equity_at(times: list[datetime], equity: list[float], at: datetime) -> float:
    """The equity of the last kept sample at or before ``at`` (the marker sits on the curve)."""
    import bisect

    index = max(0, bisect.bisect_right(times, at) - 1)
    return equity[index] if equity else 0.0
