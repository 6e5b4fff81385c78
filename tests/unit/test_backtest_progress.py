"""The backtest command's progress output: the bar for people, the lines for the worker."""

from __future__ import annotations

import io

from trading_engine.backtesting.cli import ProgressBar, ProgressLines


def test_the_bar_shows_share_events_rate_and_time_left_and_ends_its_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, after=0.0)
    bar(0.5, 12_345)
    text = stream.getvalue()
    assert text.startswith("\r[" + "#" * 15 + "." * 15 + "]") and " 50% 12,345 events " in text
    assert "events/s" in text and "s left" in text
    bar.finish()
    assert stream.getvalue().endswith("\n")


def test_no_bar_for_a_run_shorter_than_its_delay() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, after=3600.0)
    bar(0.9, 10)
    bar.finish()
    assert stream.getvalue() == ""


def test_worker_lines_are_share_and_events() -> None:
    stream = io.StringIO()
    ProgressLines(stream)(0.25, 400)
    assert stream.getvalue() == "progress 0.2500 400\n"
