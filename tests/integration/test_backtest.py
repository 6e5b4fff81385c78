"""Backtests: the command line, byte-identical reruns, statistics recomputed independently from the
files, and parity with the live service running on the same replay."""

from __future__ import annotations

import csv
import gzip
import json
import math
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from trading_engine.__main__ import main
from trading_engine.backtesting.run import run_backtest
from trading_engine.domain.backtest import BacktestSpec
from trading_engine.containers import create_container
from trading_engine.domain.ports.repository import ChangeSet
from trading_engine.domain.strategy_record import StrategyRecord, StrategyStatus
from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "history" / "btc-usd-1m.csv.gz"
YEAR = 365 * 86400


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's first 12 hours of bars (enough for every strategy to trade, quick to run)."""
    path = tmp_path_factory.mktemp("data") / "half-day.csv"
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        path.write_text("".join(line for _, line in zip(range(721), f)))
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- the command line -----------------------------------------------------------------------------
def test_the_command_line_writes_every_file(tmp_path: Path, day: Path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["backtest", "--data", str(day), "--symbol", "btc-usd", "--strategy", "donchian",
                 "--param", "channel=10", "--param", "position_size=0.05", "--cash", "USD=20000",
                 "--fee-bps", "5", "--slippage-bps", "1", "--out", str(out), "--quiet"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["equity.csv", "equity.png", "fills.csv", "report.html", "report.json"]
    report = json.loads((out / "report.json").read_text())
    for key in ("strategy", "symbol", "params", "data", "start_equity", "final_equity", "total_return",
                "annualized_return", "max_drawdown", "max_drawdown_duration_seconds", "sharpe_ratio", "sortino_ratio",
                "fills", "round_trips", "win_rate", "profit_factor", "fees", "exposure", "events", "elapsed_seconds"):
        assert key in report, key
    assert report["start_equity"] == "20000" and report["params"]["channel"] == 10 and report["events"] == 720
    assert report["fills"] > 0 and isinstance(report["fees"], str)
    fills = rows(out / "fills.csv")
    assert list(fills[0]) == ["timestamp", "order_id", "side", "quantity", "price", "fee", "realized_pnl"]
    assert D(fills[0]["fee"]) == D(fills[0]["quantity"]) * D(fills[0]["price"]) * D("0.0005")
    assert list(rows(out / "equity.csv")[0]) == ["timestamp", "equity", "drawdown"]
    assert (out / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "<script" not in page and "http" not in page.split("<body>")[1]
    assert capsys.readouterr().out == ""  # --quiet


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbol", "BTC-USD", "--strategy", "donchian"], "the following arguments are required: --data"),
        (["--data", "{day}", "--symbol", "DOGE-USD", "--strategy", "donchian"], "'DOGE-USD': is not a configured instrument"),
        (["--data", "{day}", "--symbol", "BTC-USD", "--strategy", "nope"], "unknown strategy 'nope'; available:"),
        (["--data", "{day}", "--symbol", "BTC-USD", "--strategy", "donchian", "--param", "channel=0"], "params.channel"),
        (["--data", "{day}", "--symbol", "BTC-USD", "--strategy", "donchian", "--param", "channel"], "is not NAME=VALUE"),
        (["--data", "{bad}", "--symbol", "BTC-USD", "--strategy", "donchian"], "bad.csv:3: column high: 1 is below low 2"),
        (["--data", "{day}", "--symbol", "BTC-USD", "--strategy", "donchian", "--fee-bps", "x"], "--fee-bps: 'x' is not a number"),
    ],
)
def test_bad_arguments_or_data_exit_2_with_one_line(tmp_path: Path, day: Path, capsys, args, message) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n1000,1,1,1,1,1\n61000,1,1,2,1,1\n")
    argv = [a.format(day=day, bad=bad) for a in args]
    assert main(["backtest", *argv, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out" / "report.json").exists()


# -- the same inputs, the same bytes ----------------------------------------------------------------
async def test_the_same_inputs_give_byte_identical_files(tmp_path: Path, day: Path) -> None:
    request = BacktestSpec("momentum", "BTC-USD", (str(day),), {"fast": 10, "slow": 20, "bar_interval": "5m",
                                                             "position_size": "0.05"})
    first, second = await run_backtest(request, tmp_path / "a"), await run_backtest(request, tmp_path / "b")
    assert first["fills"] > 0
    for name in ("fills.csv", "equity.csv", "equity.png", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    timing = {"elapsed_seconds", "events_per_second"}
    assert {k: v for k, v in first.items() if k not in timing} == {k: v for k, v in second.items() if k not in timing}


def test_the_fast_event_loop_gives_the_same_files_as_asyncios(tmp_path: Path, day: Path) -> None:
    """A backtest run as a program runs it (``run``, on uvloop) writes what the same run on
    asyncio's own loop writes, byte for byte: the loop changes only how fast callbacks run."""
    import asyncio

    from trading_engine.backtesting.run import run

    request = BacktestSpec("momentum", "BTC-USD", (str(day),), {"fast": 2, "slow": 3, "bar_interval": "1m",
                                                             "position_size": "0.05"})
    fast = run(request, tmp_path / "uvloop")
    plain = asyncio.run(run_backtest(request, tmp_path / "asyncio"))
    assert fast["fills"] > 100
    for name in ("fills.csv", "equity.csv", "equity.png", "report.html"):
        assert (tmp_path / "uvloop" / name).read_bytes() == (tmp_path / "asyncio" / name).read_bytes(), name


async def test_finished_orders_leave_the_store_as_the_run_goes_and_the_results_do_not_change(
    tmp_path: Path, day: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory does not grow with the run's orders: every FORGET_EVERY events the finished ones
    leave the in-memory store; the files are the same as with them all kept."""
    import trading_engine.backtesting.run as backtest_run

    request = BacktestSpec("momentum", "BTC-USD", (str(day),), {"fast": 2, "slow": 3, "bar_interval": "1m",
                                                             "position_size": "0.05"})
    stored: dict[str, int] = {}
    for every in (10**9, 50):  # never, then every 50 events
        monkeypatch.setattr(backtest_run, "FORGET_EVERY", every)
        container = backtest_run.build_engine(request)
        report = await run_backtest(request, tmp_path / str(every), container=container)
        await container.trading_store().start()  # stopped with the run; its rows are still there
        stored[str(every)] = (await container.trading_store().stats()).orders
    assert report["fills"] > 100
    assert stored[str(10**9)] == report["fills"]  # every order kept (market orders, one fill each)
    assert stored["50"] < 60  # at most about 50 events' orders, and those of the last ones
    for name in ("fills.csv", "equity.csv"):
        assert (tmp_path / "50" / name).read_bytes() == (tmp_path / str(10**9) / name).read_bytes(), name


# -- the statistics, recomputed from the files ----------------------------------------------------
async def test_statistics_match_an_independent_recomputation_from_the_files(tmp_path: Path, day: Path) -> None:
    report = await run_backtest(BacktestSpec("donchian", "BTC-USD", (str(day),), {"channel": 5, "position_size": "0.1"}),
                                tmp_path)
    equity = [(datetime.fromisoformat(r["timestamp"]), D(r["equity"]), D(r["drawdown"])) for r in rows(tmp_path / "equity.csv")]
    fills = rows(tmp_path / "fills.csv")
    times, values = [t for t, _, _ in equity], [e for _, e, _ in equity]
    assert report["start_equity"] == str(values[0]) and D(report["final_equity"]) == values[-1]
    assert D(report["total_return"]) == (values[-1] / values[0] - 1).quantize(D("1e-12"))
    span = (times[-1] - times[0]).total_seconds()
    assert report["annualized_return"] == pytest.approx(float(values[-1] / values[0]) ** (YEAR / span) - 1, rel=1e-9)
    # drawdown and its longest duration, from a running peak
    peak, peak_at, worst, longest = values[0], times[0], D(0), 0.0
    for (t, e, dd) in equity:
        if e >= peak:
            longest = max(longest, (t - peak_at).total_seconds())
            peak, peak_at = e, t
        assert dd == (peak - e) / peak
        worst = max(worst, dd)
    if values[-1] < peak:
        longest = max(longest, (times[-1] - peak_at).total_seconds())
    assert D(report["max_drawdown"]) == worst.quantize(D("1e-12"))
    assert report["max_drawdown_duration_seconds"] == longest
    # Sharpe and Sortino over per-sample returns, annualised from the data's own interval
    returns = [float(b / a - 1) for a, b in zip(values, values[1:])]
    n = len(returns)
    mean = sum(returns) / n
    stdev = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
    periods = YEAR / (span / n)
    assert report["sharpe_ratio"] == pytest.approx(mean / stdev * math.sqrt(periods), rel=1e-7)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / n)
    assert report["sortino_ratio"] == pytest.approx(mean / downside * math.sqrt(periods), rel=1e-7)
    # fills, round trips, win rate, profit factor, fees, exposure
    assert report["fills"] == len(fills) and D(report["fees"]) == sum((D(f["fee"]) for f in fills), D(0))
    trips, pnl, position, opened_at, in_market = [], D(0), D(0), None, 0.0
    for f in fills:
        signed = D(f["quantity"]) * (1 if f["side"] == "buy" else -1)
        pnl += D(f["realized_pnl"]) - D(f["fee"])
        before, position = position, position + signed
        at = datetime.fromisoformat(f["timestamp"])
        if before == 0:
            opened_at = at
        if before != 0 and position == 0:  # (the strategy never reverses in one fill: checked)
            trips.append(pnl)
            pnl = D(0)
            in_market += (at - opened_at).total_seconds()
        assert before == 0 or position == 0 or (before > 0) == (position > 0)
    if position != 0:
        in_market += (times[-1] - opened_at).total_seconds()
    wins, losses = [p for p in trips if p > 0], [p for p in trips if p < 0]
    assert trips and report["round_trips"] == len(trips)
    assert report["win_rate"] == pytest.approx(len(wins) / len(trips), abs=1e-12)
    assert report["profit_factor"] == pytest.approx(float(sum(wins) / -sum(losses)), rel=1e-9)
    # fills land on sample times (bar closes are where equity is sampled), so exposure is exact
    assert report["exposure"] == pytest.approx(in_market / span, abs=1e-12)


# -- parity with the live service ---------------------------------------------------------------------
PARITY = [
    ("market_making", {"quote_size": "0.01", "spread_bps": "10", "requote_bps": "5"}),
    ("momentum", {"fast": 5, "slow": 20, "position_size": "0.05"}),
    ("momentum", {"fast": 3, "slow": 6, "position_size": "0.05", "bar_interval": "15m", "allow_short": 1}),
    ("mean_reversion", {"window": 20, "entry_z": 1.5, "exit_z": 0.3, "position_size": "0.05"}),
    ("donchian", {"channel": 10, "position_size": "0.05"}),
]


@pytest.mark.parametrize(("strategy", "params"), PARITY, ids=lambda v: v if isinstance(v, str) else None)
async def test_the_live_service_on_the_replay_makes_the_same_fills(tmp_path: Path, day: Path, strategy, params) -> None:
    report = await run_backtest(BacktestSpec(strategy, "BTC-USD", (str(day),), params), tmp_path / "backtest")
    expected = [(r["timestamp"], r["side"], D(r["quantity"]), D(r["price"]), D(r["fee"]))
                for r in rows(tmp_path / "backtest" / "fills.csv")]
    assert expected, strategy

    # The live service: its SQLite store, its own ids, the replay as its feed (paced, not instant),
    # and the instance stored as running so that it resumes before the first price, as after a restart.
    db = tmp_path / "live.db"
    store = SqliteTradingStore(str(db), synchronous="NORMAL")
    await store.start()
    start = datetime.fromisoformat(report["start"])
    await store.commit(ChangeSet(strategies=(StrategyRecord(
        strategy_id="stg_00000000000000000000000001", strategy=strategy, symbol="BTC-USD", params=report["params"],
        status=StrategyStatus.RUNNING, reason=None, created_at=start, updated_at=start),)))
    await store.stop()
    container = create_container(overrides={
        "market": {"source": "replay", "replay_files": f"BTC-USD={day}", "replay_speed": "200000"},
        "persistence": {"db_path": str(db), "synchronous": "NORMAL"},
        "metrics": {"backend": "none"}, "service": {"environment": "testing"}, "logging": {"level": "WARNING"},
    })
    await container.trading.init()
    try:
        feed = container.market_data()
        await feed.done.wait()
        assert feed.error is None and feed.events == report["events"]
        await container.order_service().drain()
        live = await container.trading_store().fills_for_strategy("stg_00000000000000000000000001")
        valuation = container.portfolio_service().valuation()
    finally:
        await container.trading.shutdown()
    assert [(f.timestamp.isoformat(), f.side.value, f.quantity, f.price, f.fee) for f in live] == expected
    assert valuation.equity == D(report["final_equity"])
