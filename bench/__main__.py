"""``python -m bench [overhead|scrape|orders|strategies|grpc|backtest|soak|sweep] [options]``: the benchmarks.

Without a command, runs ``overhead``, ``scrape`` and ``orders`` with their defaults (about 12 minutes,
most of it the instruction counts under callgrind).
Figures and ratios are printed; nothing asserts on time. Exit status 0 unless something broke
(2 when a required tool such as wrk is missing or a service/request failed, 130 on Ctrl-C).
"""

from __future__ import annotations

import argparse
import compileall
import signal
import sys
import time
import traceback

from pathlib import Path

import trading_engine
from bench import backtest, grpc, orders, overhead, scrape, soak, strategies, sweep
from bench.common import BenchError


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the metrics path of trading-system-engine. Without a command, "
        "runs 'overhead', 'scrape' and 'orders' with their defaults. Each prints figures, medians and "
        "ratios next to their targets; none asserts on time.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m bench                      # overhead, scrape and orders, defaults (about 12 minutes)\n"
        "  python -m bench overhead --log-level INFO\n"
        "  python -m bench scrape --part stall --kind mix\n"
        "  python -m bench strategies --counts 50 --rounds 3\n"
        "  python -m bench strategies --counts 50 --with-backtest   # and again while a backtest runs\n"
        "  python -m bench backtest --bars 200000\n"
        "  python -m bench soak --seconds 300          # does the store level off with a short retention?\n"
        "  python -m bench sweep --runs 3              # commit latency during a sweep: worker vs inline\n",
    )
    commands = parser.add_subparsers(dest="command", metavar="{overhead,scrape,orders,strategies,grpc,backtest,soak,sweep}")
    subparsers = {
        "overhead": commands.add_parser(
            "overhead", help="req/s and latency of the service with metrics on vs off (wrk, alternating rounds), "
            "and instructions per request (callgrind)",
            description=overhead.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        "orders": commands.add_parser(
            "orders", help="acknowledged orders/s and latency of sustained POST /api/v1/orders (durable), beside health req/s",
            description=orders.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        "scrape": commands.add_parser(
            "scrape", help="scrape render cost in process, and health latency while a real service is scraped",
            description=scrape.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        "strategies": commands.add_parser(
            "strategies", help="1, 10 and 50 market makers on the simulated feed: ticks/s, decision latency, "
            "orders/s and health latency (--with-backtest: also while a backtest runs)",
            description=strategies.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        "grpc": commands.add_parser(
            "grpc", help="GetPortfolio and PlaceOrder over gRPC beside HTTP: calls/s, p50/p99, ratio; "
            "the metrics interceptor's instructions per call",
            description=grpc.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        "backtest": commands.add_parser(
            "backtest", help="momentum on 1,000,000 synthetic 1-minute bars: bars/s and peak RSS, beside "
            "backtrader and backtesting.py on the same data",
            description=backtest.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        "soak": commands.add_parser(
            "soak", help="market makers and posted orders for a while with a short retention: the store's "
            "size over time, and whether it levels off",
            description=soak.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        "sweep": commands.add_parser(
            "sweep", help="store commit latency while one retention sweep runs, its plan in the worker process "
            "vs inline (SQLite, in process)",
            description=sweep.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
    }
    overhead.add_arguments(subparsers["overhead"])
    backtest.add_arguments(subparsers["backtest"])
    orders.add_arguments(subparsers["orders"])
    scrape.add_arguments(subparsers["scrape"])
    strategies.add_arguments(subparsers["strategies"])
    grpc.add_arguments(subparsers["grpc"])
    soak.add_arguments(subparsers["soak"])
    sweep.add_arguments(subparsers["sweep"])
    return parser, subparsers


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the services


def compile_engine() -> None:
    """Write the engine's bytecode (``__pycache__``) before anything is measured. The peers come
    from wheels, whose modules pip compiled at install; this package is installed editable, so
    under ``PYTHONDONTWRITEBYTECODE`` (set in many images) every process started here would
    otherwise compile each of its modules again (about a second for a backtest's imports)."""
    compileall.compile_dir(Path(trading_engine.__file__).parent, quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser, subparsers = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        plan = [(module, subparsers[name].parse_args([]))
                for name, module in (("overhead", overhead), ("scrape", scrape), ("orders", orders))]
    else:
        modules = {"overhead": overhead, "scrape": scrape, "orders": orders, "strategies": strategies, "grpc": grpc,
                   "backtest": backtest, "soak": soak, "sweep": sweep}
        plan = [(modules[args.command], args)]
    signal.signal(signal.SIGTERM, _terminate)
    compile_engine()

    started = time.monotonic()
    failures = []
    try:
        for module, module_args in plan:
            try:
                module.run(module_args)
            except BenchError as exc:
                sys.stdout.flush()
                print(f"\nbench: {exc}", file=sys.stderr)
                failures.append(exc)
            except Exception as exc:  # a request or the service broke unexpectedly: say where
                sys.stdout.flush()
                traceback.print_exc()
                print(f"\nbench: {module.__name__} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                failures.append(exc)
    except KeyboardInterrupt:
        sys.stdout.flush()
        print("\nbench: interrupted; services stopped", file=sys.stderr)
        return 130
    print(f"\nbench: done in {time.monotonic() - started:.0f} s" + (f", {len(failures)} failed" if failures else ""))
    return 2 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
