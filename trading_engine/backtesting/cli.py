"""``trading-engine backtest``: run one backtest from the command line.

Exit status 0 on success; 2 with one line on stderr for bad arguments, configuration or data.
A progress bar (events done, events per second, time left) is drawn on stderr once a run has
taken a second, unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn, TextIO

from trading_engine.backtesting.run import backtest_logging, build_engine, on_fast_loop, run_backtest
from trading_engine.domain.backtest import BacktestSpec
from trading_engine.domain.decimals import plain
from trading_engine.domain.errors import DomainError
from trading_engine.infrastructure.config import ConfigError
from trading_engine.infrastructure.market.history import HistoryError
from trading_engine.infrastructure.strategy_plugins import StrategyLoadError


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"trading-engine backtest: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="trading-engine backtest",
        description="Backtest a strategy on history files with the live engine's own code: the strategy "
        "runtime, pre-trade risk and limits, the paper venue and the portfolio, on the data's clock.",
    )
    p.add_argument("--data", action="append", required=True, type=Path, metavar="FILE",
                   help="CSV (optionally gzip) of bars or trades; repeat for consecutive files")
    p.add_argument("--symbol", required=True, help="the configured instrument the data is of, e.g. BTC-USD")
    p.add_argument("--strategy", required=True, help="a strategy name (GET /api/v1/strategies/available lists them)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a strategy parameter")
    p.add_argument("--config", type=Path, help="YAML merged over the shipped defaults (instruments, risk, venue)")
    p.add_argument("--cash", metavar="CUR=AMOUNT,...", help="starting cash (default: account.initial_cash)")
    p.add_argument("--fee-bps", type=_decimal, help="fee per fill in basis points (default: venue.fee_bps)")
    p.add_argument("--slippage-bps", type=_decimal, help="market order slippage (default: venue.slippage_bps)")
    p.add_argument("--out", type=Path, help="output directory (default: ./backtests/<run id>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    # For the service's worker processes: "progress <share> <events>" lines on stdout.
    p.add_argument("--progress-lines", action="store_true", help=argparse.SUPPRESS)
    return p


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--param {pair!r} is not NAME=VALUE")
        params[name.strip()] = value.strip()
    return params


class ProgressBar:
    """Drawn on ``stream`` once the run has taken ``after`` seconds, at most ten times a second."""

    def __init__(self, stream: TextIO, after: float = 1.0, width: int = 30) -> None:
        self._stream, self._after, self._width = stream, after, width
        self._started = time.perf_counter()
        self._last = 0.0
        self.drawn = False

    def __call__(self, share: float, events: int) -> None:
        now = time.perf_counter()
        elapsed = now - self._started
        if elapsed < self._after or now - self._last < 0.1:
            return
        self._last = now
        rate = events / elapsed
        left = elapsed * (1 - share) / share if share > 0 else 0.0
        filled = int(self._width * share)
        self._stream.write(f"\r[{'#' * filled}{'.' * (self._width - filled)}] {share:4.0%} {events:,} events "
                           f"{rate:,.0f} events/s {left:4.0f} s left ")
        self._stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self._stream.write("\n")
            self._stream.flush()


class ProgressLines:
    """Machine-readable progress for a parent process, at most ten lines a second."""

    def __init__(self, stream: TextIO) -> None:
        self._stream, self._last = stream, 0.0

    def __call__(self, share: float, events: int) -> None:
        now = time.perf_counter()
        if now - self._last >= 0.1:
            self._last = now
            self._stream.write(f"progress {share:.4f} {events}\n")
            self._stream.flush()

    def finish(self) -> None:
        pass


def main(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad argument (2, its one line already printed)
        return int(exit_.code or 0)
    try:
        spec = BacktestSpec(
            strategy=args.strategy, symbol=args.symbol.strip().upper(), data=tuple(str(p) for p in args.data),
            params=_params(args.param), cash=args.cash,
            fee_bps=None if args.fee_bps is None else plain(args.fee_bps),
            slippage_bps=None if args.slippage_bps is None else plain(args.slippage_bps),
        )
        container = build_engine(spec, args.config)
    except (ValueError, ConfigError, StrategyLoadError, DomainError) as exc:
        return _refuse(exc)
    run_id = f"{args.strategy}-{spec.symbol}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out = args.out or Path("backtests") / run_id
    bar: ProgressBar | ProgressLines | None = None if args.quiet else ProgressBar(sys.stderr)
    if args.progress_lines:
        bar = ProgressLines(sys.stdout)
    try:
        with backtest_logging(container):  # warnings only, on stdout
            report = on_fast_loop(run_backtest(spec, out, bar, container=container))
    except (HistoryError, DomainError) as exc:
        if bar is not None:
            bar.finish()
        return _refuse(exc)
    if bar is not None:
        bar.finish()
    if not args.quiet:
        print(f"{report['strategy']} on {report['symbol']}: {report['events']:,} events, {report['fills']} fills, "
              f"return {float(report['total_return']):.2%}, max drawdown {float(report['max_drawdown']):.2%}, "
              f"Sharpe {report['sharpe_ratio']}; report in {out}/report.html")
    return 0


def _refuse(exc: Exception) -> int:
    message = getattr(exc, "message", None) or str(exc)
    print(f"trading-engine backtest: {message}", file=sys.stderr)
    return 2
