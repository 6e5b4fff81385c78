"""Bars: intervals, the price path, and aggregation of ticks and finer bars into time bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from trading_engine.domain.bars import Bar, BarAggregator, interval_name, interval_seconds, window_start
from trading_engine.domain.errors import ValidationError

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "seconds", "name"), [("1s", 1, "1s"), ("60s", 60, "1m"), ("5m", 300, "5m"),
                                                       ("1h", 3600, "1h"), ("24h", 86400, "1d"), ("1440m", 86400, "1d")])
def test_intervals_parse_and_have_one_spelling(text: str, seconds: int, name: str) -> None:
    assert interval_seconds(text) == seconds and interval_name(seconds) == name


@pytest.mark.parametrize("text", ["0s", "7m", "2d", "1w", "", "m", "1.5m", 5, "1D", " 1m"])
def test_intervals_that_do_not_divide_a_day_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="from 1s to 1d"):
        interval_seconds(text)  # type: ignore[arg-type]


def test_windows_start_on_multiples_of_the_interval_from_midnight_utc() -> None:
    assert window_start(datetime(2026, 3, 2, 9, 34, 59, 999, tzinfo=UTC), 300) == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert window_start(datetime(2026, 3, 2, 23, 59, tzinfo=UTC), 86400) == datetime(2026, 3, 2, tzinfo=UTC)


def test_the_path_visits_the_near_extreme_first() -> None:
    up = Bar("X", "1m", D(10), D(12), D(9), D(11), D(1), T0, at(60))
    down = Bar("X", "1m", D(10), D(12), D(9), D("9.5"), D(1), T0, at(60))
    assert up.path() == (D(10), D(9), D(12), D(11))
    assert down.path() == (D(10), D(12), D(9), D("9.5"))


def test_ticks_make_bars_closed_by_the_first_tick_of_a_later_window() -> None:
    bars = BarAggregator("BTC-USD", "1m")
    assert bars.on_price(D(100), at(1), D("0.5")) is None
    assert bars.on_price(D(103), at(20)) is None
    assert bars.on_price(D(99), at(59.9), D(2)) is None
    # nothing between 60 s and 180 s: no bar for those minutes
    closed = bars.on_price(D(101), at(185))
    assert closed == Bar("BTC-USD", "1m", D(100), D(103), D(99), D(99), D("2.5"), T0, at(60))
    assert bars.on_price(D(102), at(240)) == Bar("BTC-USD", "1m", D(101), D(101), D(101), D(101), D(0), at(180), at(240))


def test_finer_bars_merge_and_close_with_the_one_that_reaches_the_end() -> None:
    bars = BarAggregator("BTC-USD", "5m")

    def minute(i: int, o: int, h: int, lo: int, c: int) -> Bar:
        return Bar("BTC-USD", "1m", D(o), D(h), D(lo), D(c), D(1), at(60 * i), at(60 * (i + 1)))

    assert bars.on_bar(minute(0, 10, 11, 9, 10)) == ()
    assert bars.on_bar(minute(2, 10, 15, 10, 14)) == ()
    assert bars.on_bar(minute(4, 14, 14, 8, 9)) == (Bar("BTC-USD", "5m", D(10), D(15), D(8), D(9), D(3), T0, at(300)),)
    # a window whose last minute is missing is closed by the next window's first bar
    assert bars.on_bar(minute(6, 9, 9, 9, 9)) == ()
    nxt = minute(10, 7, 7, 7, 7)
    assert bars.on_bar(nxt) == (Bar("BTC-USD", "5m", D(9), D(9), D(9), D(9), D(1), at(300), at(600)),)
    one_minute = BarAggregator("BTC-USD", "1m")
    assert one_minute.on_bar(nxt) == (nxt,)
    with pytest.raises(ValidationError, match="cannot be made of the data's 5m bars"):
        BarAggregator("BTC-USD", "1m").on_bar(Bar("BTC-USD", "5m", D(1), D(1), D(1), D(1), D(0), T0, at(300)))


def test_momentum_on_bars_decides_once_per_bar_on_its_close() -> None:
    from trading_engine.domain.strategies import BUILTIN
    from trading_engine.domain.strategy import bar_interval_of

    spec = BUILTIN["momentum"]
    assert bar_interval_of(spec.create(spec.validate_params(None), 0)) is None
    strategy = spec.create(spec.validate_params({"fast": 1, "slow": 2, "bar_interval": "60s"}), 0)
    assert bar_interval_of(strategy) == "1m"
    with pytest.raises(ValidationError, match="params.bar_interval '7m' is not allowed"):
        spec.validate_params({"bar_interval": "7m"})
