"""Every benchmark command loads and parses its options: a refactor that breaks a benchmark's
imports fails here, not the next time someone measures."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import build_parser
from bench.soak import Row, duration_seconds, judge
from bench.strategies import backtest_first
from bench.sweep import PLAN_MIXES, mixed_order, plan_cpu
from tests.support.process import REPO_ROOT
from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore

COMMANDS = ("overhead", "scrape", "orders", "strategies", "grpc", "backtest", "soak", "sweep")


def test_the_bench_command_lists_every_benchmark() -> None:
    _parser, subparsers = build_parser()
    assert set(subparsers) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_benchmark_takes_its_defaults_and_prints_its_help(command: str) -> None:
    _parser, subparsers = build_parser()
    subparsers[command].parse_args([])  # the defaults a plain `python -m bench` run uses
    done = subprocess.run([sys.executable, "-m", "bench", command, "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_the_strategies_benchmark_takes_a_backtest_window() -> None:
    _parser, subparsers = build_parser()
    args = subparsers["strategies"].parse_args(["--with-backtest", "--backtest-bars", "300000"])
    assert args.with_backtest is True and args.backtest_bars == 300_000
    assert subparsers["strategies"].parse_args([]).with_backtest is False


def test_the_backtest_window_comes_first_in_every_other_round() -> None:
    _parser, subparsers = build_parser()
    with_backtest = subparsers["strategies"].parse_args(["--with-backtest", "--rounds", "4"])
    assert [backtest_first(with_backtest, n) for n in (1, 2, 3, 4)] == [False, True, False, True]
    assert not any(backtest_first(subparsers["strategies"].parse_args([]), n) for n in (1, 2, 3, 4))


def test_the_soak_benchmark_takes_a_retention_as_the_service_spells_it() -> None:
    _parser, subparsers = build_parser()
    args = subparsers["soak"].parse_args(["--seconds", "30", "--retention", "90s", "--sweep-interval", "2s",
                                          "--backend", "postgres"])
    assert (args.seconds, args.retention, args.sweep_interval, args.backend) == (30, "90s", "2s", "postgres")
    assert [duration_seconds(text) for text in ("90s", "5m", "12h", "30d", "0", "1.5s")] == [
        90, 300, 43_200, 2_592_000, 0, 1.5]
    for wrong in ("30 days", "30"):  # a unit is needed, as the service's configuration needs one
        with pytest.raises(SystemExit):
            subparsers["soak"].parse_args(["--retention", wrong])


def _rows(sizes: list[int], orders_per_row: int = 1000, interval: float = 10.0) -> list[Row]:
    return [Row(elapsed=i * interval, acked=i * orders_per_row, size=size, size_metric=None, orders=0, fills=0,
                archive=0, archived=None, sweeps=None, rows_metric=None) for i, size in enumerate(sizes)]


def test_the_soak_verdict_compares_the_last_third_with_the_growth_before_the_retention() -> None:
    # 1 KiB per order until the 40 s warm-up ends, then flat: levels off.
    flat = judge(_rows([0, 1024_000, 2048_000, 3072_000, 4096_000, 4100_000, 4096_000, 4104_000, 4100_000,
                        4102_000, 4101_000, 4103_000, 4102_000]), warmup_seconds=40)
    assert flat is not None and flat.levels_off
    assert flat.warmup.per_order == 1024 and flat.last.orders == 3000
    # Still growing at half the rate: missed.
    growing = judge(_rows([0, 1024_000, 2048_000, 3072_000, 4096_000, 4608_000, 5120_000, 5632_000, 6144_000,
                           6656_000, 7168_000, 7680_000, 8192_000]), warmup_seconds=40)
    assert growing is not None and not growing.levels_off
    assert growing.last.per_order == 512
    # Fewer than four rows after the warm-up: no verdict.
    assert judge(_rows([0, 1024_000, 2048_000, 3072_000, 4096_000, 4100_000, 4100_000]), warmup_seconds=40) is None


def test_the_orders_benchmark_takes_a_retention_sweep() -> None:
    _parser, subparsers = build_parser()
    args = subparsers["orders"].parse_args(["--sweep", "--sweep-retention", "20s", "--sweep-interval", "2s"])
    assert (args.sweep, args.sweep_retention, args.sweep_interval) == (True, "20s", "2s")
    assert subparsers["orders"].parse_args([]).sweep is False
    with pytest.raises(SystemExit):
        subparsers["orders"].parse_args(["--sweep-retention", "soon"])


def test_the_sweep_benchmark_measures_the_plan_cpu_of_every_order_of_each_mix(tmp_path: Path) -> None:
    _parser, subparsers = build_parser()
    assert subparsers["sweep"].parse_args(["--plan-cpu"]).plan_cpu is True
    assert subparsers["sweep"].parse_args([]).plan_cpu is False
    makers = [mixed_order(n, "makers") for n in range(40)]
    assert [o.strategy_id is not None for o, _f in makers] == [n % 10 == 0 for n in range(40)]
    assert all(o.strategy_id is None for o, _f in (mixed_order(n, "clients") for n in range(40)))
    for mix in PLAN_MIXES:  # plan_cpu raises unless the plans took every order
        store = SqliteTradingStore(tmp_path / f"{mix}.db", synchronous="NORMAL")
        assert asyncio.run(plan_cpu(store, tmp_path / f"archive-{mix}", mix, 150, 64)) > 0
