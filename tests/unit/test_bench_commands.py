"""Every benchmark command loads and parses its options: a refactor that breaks a benchmark's
imports fails here, not the next time someone measures."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.__main__ import build_parser
from bench.strategies import backtest_first
from tests.support.process import REPO_ROOT

COMMANDS = ("overhead", "scrape", "orders", "strategies", "grpc", "backtest")


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
