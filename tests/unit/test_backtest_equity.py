"""The backtest's equity samples: an equity repeated as the same object (nothing moved it) gives
the statistics and the rows a fresh, equal value gives; the data clock's seconds follow its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

from trading_engine.infrastructure.clock import DataClock
from trading_engine.infrastructure.reports.files import EQUITY_HEADER, CsvLog, EquityLog
from trading_engine.services.backtest.statistics import EquityTrack

T0 = datetime(2024, 3, 1, tzinfo=UTC)
HIGH, LOW = D("10100.50"), D("9980.2500")
# repeats of one object (flat), at a new peak and under water, and equal values of other exponents
EQUITIES = [D("10000.00"), HIGH, HIGH, HIGH, LOW, LOW, LOW, D("9980.25"), D("9980.25"), HIGH, D("0"),
            D("0"), D("10100.5000")]


def samples() -> list[tuple[datetime, D]]:
    return [(T0 + timedelta(minutes=i), e) for i, e in enumerate(EQUITIES)]


def test_a_repeated_equity_gives_what_an_equal_copy_gives() -> None:
    same, fresh = EquityTrack(), EquityTrack()
    drawdowns = [same.add(at, equity, True) for at, equity in samples()]
    copies = [fresh.add(at, D(str(equity)), True) for at, equity in samples()]
    assert [str(d) for d in drawdowns] == [str(d) for d in copies]
    assert same.report() == fresh.report()
    assert drawdowns[2] is drawdowns[1] and drawdowns[5] is drawdowns[4]  # not computed again


def test_equity_rows_are_what_the_csv_log_writes(tmp_path: Path) -> None:
    track = EquityTrack()
    fast, plain = EquityLog(tmp_path / "fast.csv"), CsvLog(tmp_path / "plain.csv", EQUITY_HEADER)
    for at, equity in samples():
        drawdown = track.add(at, equity, False)
        fast.sample(at, equity, drawdown)
        plain.row(at, equity, drawdown)
    fast.close()
    plain.close()
    text = (tmp_path / "fast.csv").read_text()
    assert text == (tmp_path / "plain.csv").read_text()
    assert text.splitlines()[3] == "2024-03-01T00:02:00+00:00,10100.50,0"


def test_equity_rows_gathered_in_batches_keep_their_order_with_plain_rows_between(tmp_path: Path) -> None:
    # more samples than a batch, a plain row among them, and a tail shorter than a batch
    fast, plain = EquityLog(tmp_path / "fast.csv"), CsvLog(tmp_path / "plain.csv", EQUITY_HEADER)
    count = EquityLog.BATCH * 2 + 7
    for i in range(count):
        at, equity = T0 + timedelta(minutes=i), D(10_000 + i % 5)
        if i == EquityLog.BATCH + 3:
            fast.row(at, "note", D(1))
            plain.row(at, "note", D(1))
        fast.sample(at, equity, D(0))
        plain.row(at, equity, D(0))
    fast.close()
    plain.close()
    text = (tmp_path / "fast.csv").read_text()
    assert text == (tmp_path / "plain.csv").read_text() and len(text.splitlines()) == count + 2


def test_data_clock_seconds_follow_its_time_forward_only() -> None:
    clock = DataClock(T0)
    assert clock.monotonic() == T0.timestamp()
    clock.advance_to(T0 + timedelta(seconds=90))
    assert clock.monotonic() == T0.timestamp() + 90
    clock.advance_to(T0)
    assert clock.monotonic() == T0.timestamp() + 90 and clock.now() == T0 + timedelta(seconds=90)
