"""``bench backtest``: a moving-average crossover on seeded synthetic one-minute bars, in this
engine's backtest and, on the same data in the same run, in backtrader and backtesting.py.

The rules are the same in all three: ``fast`` 10 and ``slow`` 20 simple moving averages of the
close; long a fixed size while fast is above slow, flat otherwise; market orders filled at the next
bar's open; 10 bps commission; a starting cash of 1,000,000 USD, which none of them runs out of on
the default million bars, so all three place the same orders (with 10,000 USD the fees took the
account down to about 100 USD by the end, and each engine refused the orders its cash no longer
covered in its own way, so their fills differed). Here that is ``momentum`` with
``bar_interval=1m``, run by ``trading-engine backtest`` (the live engine's runtime, pre-trade
risk, paper venue and portfolio, and its files: fills.csv, equity.csv, equity.png, report.html);
backtesting.py trades whole units, so it runs as its ``FractionalBacktest`` with a unit of the
same size.

Each engine runs in a process of its own, one after the other, so each reports its own peak
resident memory (``ru_maxrss``); each time includes importing the engine and reading the CSV. Our
engine runs also on the file's first tenth, once, to show whether its memory grows with the bars.
With ``--rounds`` above 1 the three run in turn, round after round (this engine first in odd
rounds, last in even ones), so a machine that gets busier or quieter meanwhile weighs on all of
them alike: the table shows each one's median round, and the ratios are the medians of the rounds'
own ratios, each round's printed too. Prints bars/s, peak RSS, fills and the ratios (targets: ≥ 3×
backtrader's bars/s; the ratio to backtesting.py printed, aim ≥ 0.5), and the same ratios of bars
per CPU second (the processes' own user and system time: what the engine costs, whoever else runs
on the machine). backtrader and backtesting.py come from the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import synthetic
from bench.common import median, positive_int

FAST, SLOW, SIZE, COMMISSION, CASH = 10, 20, 0.01, 0.001, 1_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bars", type=int, default=1_000_000, help="synthetic one-minute bars (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-peers", action="store_true", help="only this engine")
    parser.add_argument("--rounds", type=positive_int, default=1,
                        help="rounds of the three engines in turn; medians are shown (default 1)")


PEERS = (("backtrader", "target >= 3"), ("backtesting.py", "aim >= 0.5"))


def run(args: argparse.Namespace) -> None:
    kinds = {"engine": "engine"} if args.no_peers else {
        "engine": "engine", "backtrader": "backtrader", "backtesting.py": "backtesting"}
    rounds: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        folder = Path(tmp)
        data, tenth = folder / "bars.csv", folder / "bars-tenth.csv"
        started = time.perf_counter()
        synthetic.write(data, args.bars, args.seed)
        synthetic.write(tenth, max(args.bars // 10, SLOW * 2), args.seed)
        print(f"backtest: {args.bars:,} synthetic 1-minute bars (seed {args.seed}) written in "
              f"{time.perf_counter() - started:.1f} s; momentum fast={FAST} slow={SLOW}; "
              f"{args.rounds} round(s)")
        small = _child("engine", tenth, folder / "out-tenth")
        for number in range(1, args.rounds + 1):
            order = list(kinds) if number % 2 else list(reversed(kinds))
            rounds.append({name: _child(kinds[name], data, folder / "out") for name in order})
            if args.rounds > 1:
                print(f"round {number}: " + ", ".join(
                    f"{name} {rounds[-1][name]['bars'] / rounds[-1][name]['seconds']:,.0f} bars/s" for name in order)
                    + "".join(f"; engine / {peer} {_ratio(rounds[-1], peer):.2f}" for peer, _ in PEERS
                              if peer in kinds))
    shown = {"engine (1/10 of the bars)": small, **{name: _median_round(rounds, name) for name in kinds}}
    print(f"\n{'':28} {'bars':>10} {'seconds':>9} {'bars/s':>10} {'peak RSS MiB':>13} {'fills':>7}")
    for name, r in shown.items():
        print(f"{name:28} {r['bars']:>10,} {r['seconds']:>9.1f} {r['bars'] / r['seconds']:>10,.0f} "
              f"{r['peak_rss_kib'] / 1024:>13.1f} {r['fills']:>7}")
    growth = shown["engine"]["peak_rss_kib"] / small["peak_rss_kib"]
    print(f"\npeak RSS with 10x the bars: x{growth:.2f} (flat when memory does not grow with the bars)")
    middle = " (median of the rounds)" if args.rounds > 1 else ""
    for peer, target in PEERS:
        if peer in kinds:
            print(f"engine / {peer} bars/s: {median([_ratio(r, peer) for r in rounds]):.2f} ({target}){middle}")
    for peer, _ in PEERS:
        if peer in kinds:
            print(f"engine / {peer} bars per CPU second: "
                  f"{median([_ratio(r, peer, 'cpu_seconds') for r in rounds]):.2f}{middle}")


def _median_round(rounds: list[dict[str, dict[str, Any]]], name: str) -> dict[str, Any]:
    """``name``'s result in the round whose time is nearest the median of its rounds' times."""
    middle = median([r[name]["seconds"] for r in rounds])
    return min((r[name] for r in rounds), key=lambda result: abs(result["seconds"] - middle))


def _ratio(results: dict[str, dict[str, Any]], peer: str, time_key: str = "seconds") -> float:
    """This engine's bars per second (of ``time_key``) over ``peer``'s, in one round."""
    ours, theirs = results["engine"], results[peer]
    return (ours["bars"] / ours[time_key]) / (theirs["bars"] / theirs[time_key])


def _child(kind: str, data: Path, out: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.backtest", "--child", kind, str(data), str(out)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- in the child process ----------------------------------------------------------------------
def _engine(data: Path, out: Path) -> tuple[int, int]:
    from trading_engine.backtesting.run import run as run_backtest
    from trading_engine.domain.backtest import BacktestSpec

    request = BacktestSpec("momentum", "BTC-USD", (str(data),), {
        "fast": FAST, "slow": SLOW, "bar_interval": "1m", "position_size": str(SIZE),
        "max_orders_per_second": 1000}, cash=f"USD={CASH}")
    report = run_backtest(request, out)
    return report["events"], report["fills"]


def _frame(data: Path) -> Any:
    import pandas as pd

    frame = pd.read_csv(data, parse_dates=["timestamp"], index_col="timestamp")
    return frame.rename(columns=str.capitalize)


def _backtrader(data: Path) -> tuple[int, int]:
    import backtrader as bt

    class Cross(bt.Strategy):
        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=FAST), bt.ind.SMA(period=SLOW))
            self.fills = 0

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                self.fills += 1

        def next(self) -> None:
            if self.cross > 0 and not self.position:
                self.buy(size=SIZE)
            elif self.cross < 0 and self.position:
                self.close()

    frame = _frame(data)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame.rename(columns=str.lower)))
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=COMMISSION)
    strategy = cerebro.run()[0]
    return len(frame), strategy.fills


def _backtesting(data: Path) -> tuple[int, int]:
    import warnings

    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover
    from backtesting.test import SMA

    class Cross(Strategy):
        def init(self) -> None:
            self.fast = self.I(SMA, self.data.Close, FAST)
            self.slow = self.I(SMA, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow) and not self.position:
                self.buy(size=1)  # one unit of SIZE (FractionalBacktest)
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    frame = _frame(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = FractionalBacktest(frame, Cross, cash=CASH, commission=COMMISSION, finalize_trades=True,
                                   fractional_unit=SIZE).run()
    return len(frame), int(stats["# Trades"]) * 2


def _child_main(kind: str, data: Path, out: Path) -> None:
    started = time.perf_counter()
    bars, fills = {"engine": lambda: _engine(data, out), "backtrader": lambda: _backtrader(data),
                   "backtesting": lambda: _backtesting(data)}[kind]()
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)  # the process's CPU time, from its start
    print(json.dumps({"bars": bars, "seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                      "peak_rss_kib": usage.ru_maxrss, "fills": fills}))  # ru_maxrss: KiB on Linux


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child_main(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
