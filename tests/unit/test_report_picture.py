"""``equity.png``'s reading of the run's files: every n-th equity row, as the csv module reads it,
and the entries and exits thinned to at most ``MAX_MARKERS`` each."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

from trading_engine.infrastructure.reports.files import FILLS_HEADER, CsvLog, EquityLog
from trading_engine.infrastructure.reports.picture import MAX_MARKERS, MAX_POINTS, _kept_rows, _markers, draw_equity

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _equity(path: Path, rows: int) -> None:
    log = EquityLog(path)
    for i in range(rows):
        log.sample(T0 + timedelta(minutes=i), D(1000) + D(i % 97) / 8, D(i % 13) / 100)
    log.close()


def _fills(path: Path, sides: list[tuple[str, str]]) -> None:
    log = CsvLog(path, FILLS_HEADER)
    for i, (side, quantity) in enumerate(sides):
        log.row(T0 + timedelta(minutes=i), f"ord_{i}", side, D(quantity), D(100), D(0), D(0))
    log.close()


def test_every_nth_equity_row_is_kept(tmp_path: Path) -> None:
    for rows in (5, MAX_POINTS, 3 * MAX_POINTS + 7):
        path = tmp_path / f"equity-{rows}.csv"
        _equity(path, rows)
        with path.open(newline="") as f:
            everything = list(csv.reader(f))
        stride = max(1, rows // MAX_POINTS)
        header, kept = _kept_rows(path)
        assert header == everything[0]
        assert kept == everything[1::stride]
        assert len(kept) <= 2 * MAX_POINTS


def test_entries_and_exits_are_told_apart_and_thinned(tmp_path: Path) -> None:
    few = tmp_path / "few.csv"  # long, flip to short (an exit: no larger), flat, short, shorter
    _fills(few, [("buy", "1"), ("sell", "2"), ("buy", "1"), ("sell", "1"), ("sell", "1")])
    entries, exits, every = _markers(few)
    at = [(T0 + timedelta(minutes=i)).isoformat() for i in range(5)]
    assert (entries, exits, every) == ([at[0], at[3], at[4]], [at[1], at[2]], 1)

    many = tmp_path / "many.csv"
    _fills(many, [("buy", "1"), ("sell", "1")] * (2 * MAX_MARKERS + 1))
    entries, exits, every = _markers(many)
    assert every == 3 and len(entries) == len(exits) == -(-(2 * MAX_MARKERS + 1) // 3) <= MAX_MARKERS
    assert entries[1] == (T0 + timedelta(minutes=6)).isoformat() and exits[0] == (T0 + timedelta(minutes=1)).isoformat()


def test_a_long_run_draws_a_picture(tmp_path: Path) -> None:
    _equity(tmp_path / "equity.csv", 2 * MAX_POINTS + 1)
    _fills(tmp_path / "fills.csv", [("buy", "1"), ("sell", "1")] * (MAX_MARKERS + 1))
    draw_equity(tmp_path / "equity.csv", tmp_path / "fills.csv", tmp_path / "equity.png", title="t", currency="USD")
    assert (tmp_path / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
