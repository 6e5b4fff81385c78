"""History files: the formats read, and every bad row named by file, line and column."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from trading_engine.domain.bars import Bar
from trading_engine.infrastructure.market.history import HistoryError, ReadProgress, read_file, read_files

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str, *, compress: bool = False) -> Path:
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


BARS = """timestamp,open,high,low,close,volume
2024-03-01T00:00:00Z,100,101,99,100.5,3
2024-03-01T00:01:00+00:00,100.5,102,100,101,0
1709251440000,101,101,98,99,1.5
"""


@pytest.mark.parametrize("compress", [False, True])
def test_bars_become_quotes_of_their_close_at_their_end(tmp_path: Path, compress: bool) -> None:
    # gzip is recognised by its bytes, whatever the name says
    quotes = list(read_file(write(tmp_path, "bars.csv", BARS, compress=compress), "BTC-USD"))
    assert [q.price for q in quotes] == [D("100.5"), D(101), D(99)]
    assert [q.timestamp for q in quotes] == [T0 + timedelta(minutes=m) for m in (1, 2, 5)]
    assert quotes[0].bar == Bar("BTC-USD", "1m", D(100), D(101), D(99), D("100.5"), D(3), T0, T0 + timedelta(minutes=1))
    assert quotes[2].bar is not None and quotes[2].bar.start == T0 + timedelta(minutes=4)  # a gap is allowed


def test_spaces_around_cells_and_any_offset_read_as_the_plain_rows_do(tmp_path: Path) -> None:
    padded = BARS.replace(",", " , ").replace("\n2024-03-01T00:01:00+00:00", "\n 2024-03-01T01:01:00+01:00 ")
    plain = list(read_file(write(tmp_path, "plain.csv", BARS), "BTC-USD"))
    assert list(read_file(write(tmp_path, "padded.csv", padded.replace("timestamp , open", "timestamp,open")
                                .replace(" , high , low , close , volume", ",high,low,close,volume")),
                          "BTC-USD")) == plain
    assert [str(q.bar.close) for q in plain if q.bar] == ["100.5", "101", "99"]  # the digits as written


def test_trades_with_and_without_quantity(tmp_path: Path) -> None:
    with_quantity = write(tmp_path, "t.csv", "timestamp,price,quantity\n2024-03-01T00:00:00.5Z,100,0.2\n1709251201000,101,1\n")
    quotes = list(read_file(with_quantity, "BTC-USD"))
    assert [(q.timestamp, q.price, q.volume, q.bar) for q in quotes] == [
        (T0 + timedelta(seconds=0.5), D(100), D("0.2"), None), (T0 + timedelta(seconds=1), D(101), D(1), None)]
    plain = write(tmp_path, "p.csv", "timestamp,price\n2024-03-01T01:00:00+01:00,7\n")
    assert [(q.timestamp, q.volume) for q in read_file(plain, "X-Y")] == [(T0, D(0))]


def test_the_headerless_kline_export_is_recognised_by_its_shape(tmp_path: Path) -> None:
    ms = 1709251200000
    rows = [f"{ms + i * 60000},{p},{p + 1},{p - 1},{p},10,{ms + i * 60000 + 59999},1000,5,4,400,0" for i, p in
            enumerate((100, 102))]
    quotes = list(read_file(write(tmp_path, "k.csv", "\n".join(rows) + "\n"), "BTC-USD"))
    assert [(q.bar.interval, q.bar.start, q.bar.high, q.timestamp) for q in quotes if q.bar] == [
        ("1m", T0, D(101), T0 + timedelta(minutes=1)), ("1m", T0 + timedelta(minutes=1), D(103), T0 + timedelta(minutes=2))]
    micro = f"{ms * 1000},1,1,1,1,1,{ms * 1000 + 3_599_999_999},1,1,1,1,0\n"  # newer exports: microseconds
    assert next(read_file(write(tmp_path, "u.csv", micro), "BTC-USD")).bar.interval == "1h"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty; expected timestamp,open,high,low,close,volume (bars)"),
        ("timestamp,price\n", "the file has a header but no rows"),
        ("time,px\n1,2\n", ":1: header 'time,px' is not allowed"),
        (BARS + "2024-03-01T00:06:00Z,1,2,1\n", ":5: column close: is missing"),
        (BARS + "2024-03-01T00:06:00Z,1,2,x,1,1\n", ":5: column low: 'x' is not a number"),
        (BARS + "2024-03-01T00:06:00Z,-1,2,1,1,1\n", ":5: column open: -1 is not allowed; it must be greater than 0"),
        (BARS + "2024-03-01T00:06:00Z,1,1,2,1,1\n", ":5: column high: 1 is below low 2"),
        (BARS + "2024-03-01T00:06:00Z,1,2,NaN,1,1\n", ":5: column low: 'NaN' is not a number"),
        (BARS + "2024-03-01T00:06:00Z,1,Infinity,1,1,1\n", ":5: column high: 'Infinity' is not a number"),
        (BARS + "2024-03-01T00:06:00Z,1,2,1,1,sNaN\n", ":5: column volume: 'sNaN' is not a number"),
        (BARS + "2024-03-01T00:06:00Z,1,2,1,1,-1\n", ":5: column volume: -1 is not allowed; it must be 0 or more"),
        (BARS + "2024-03-01T00:06:00Z,3,4,2,1,1\n", ":5: column close: 1 is outside low 2 and high 4"),
        (BARS + "2024-03-01T00:04:00Z,1,2,x,1,1\n", ":5: column timestamp: 2024-03-01T00:04:00Z is not after"),
        (BARS + "2024-03-01T00:06:00,1,1,1,1,1\n", ":5: column timestamp: '2024-03-01T00:06:00' is not allowed"),
        (BARS + "2024-03-01T00:06:00Z,1,1,1,1,1,1\n", ":5: has 7 columns"),
        (BARS + "2024-03-01T00:04:00Z,1,1,1,1,1\n", ":5: column timestamp: 2024-03-01T00:04:00Z is not after"),
        (BARS + "2024-03-01T00:04:30Z,1,1,1,1,1\n", ":5: column timestamp: 2024-03-01T00:04:30Z is less than the bars' interval 1m"),
        (BARS + "2024-03-01 00:06,1,1,1,1,1\n", ":5: column timestamp: '2024-03-01 00:06' is not allowed; expected ISO 8601 with an offset"),
        ("timestamp,open,high,low,close,volume\n2024-03-01T00:00:00Z,1,1,1,1,1\n", "needs at least two rows"),
        ("timestamp,open,high,low,close,volume\n2024-03-01T00:00:00Z,1,1,1,1,1\n2024-03-01T00:07:00Z,1,1,1,1,1\n",
         ":3: column timestamp: the first two bars are 420 s apart"),
        ("timestamp,price\n1,1\n1,2\n", ":3: column timestamp: 1 is not after"),
        # an hour's kline, then a minute's that opens inside it and closes before it: published at
        # their closes, they would go back in time
        ("1709251200000,1,1,1,1,1,1709254799999,1,1,1,1,0\n1709251260000,1,1,1,1,1,1709251319999,1,1,1,1,0\n",
         ":2: column close_time: 1709251319999 is not after the previous row's close time"),
        ("timestamp,price,quantity\n1,1,-2\n", ":2: column quantity: -2 is not allowed; it must be 0 or more"),
    ],
)
def test_bad_data_is_one_line_naming_file_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(HistoryError) as raised:
        list(read_file(path, "BTC-USD"))
    assert str(raised.value).startswith(str(path)) and message in str(raised.value), str(raised.value)
    assert "\n" not in str(raised.value)


def test_files_of_one_symbol_follow_each_other_in_time(tmp_path: Path) -> None:
    first = write(tmp_path, "a.csv", "timestamp,price\n1000,1\n2000,2\n")
    second = write(tmp_path, "b.csv", "timestamp,price\n3000,3\n")
    progress = ReadProgress(2)
    quotes = read_files([first, second], "X-Y", progress)
    assert progress.share() == 0.0
    assert next(quotes).price == 1 and 0.0 < progress.share() <= 0.5  # into the first of two files
    assert next(quotes).price == 2 and next(quotes).price == 3 and 0.5 <= progress.share() <= 1.0
    assert next(quotes, None) is None and progress.share() == 1.0
    with pytest.raises(HistoryError, match="a.csv: starts at .* not after the previous file's last timestamp"):
        list(read_files([second, first], "X-Y"))
    with pytest.raises(HistoryError, match="nope.csv: no such file"):
        list(read_files([tmp_path / "nope.csv"], "X-Y"))


def test_one_file_reads_as_the_same_file_listed_with_another(tmp_path: Path) -> None:
    # one file is read without the check between files (its reader checks its own order); its
    # quotes and progress are those it has as the first of several
    only = write(tmp_path, "a.csv", "timestamp,price\n1000,1\n2000,2\n")
    later = write(tmp_path, "b.csv", "timestamp,price\n3000,3\n")
    progress = ReadProgress(1)
    quotes = list(read_files([only], "X-Y", progress))
    assert quotes == list(read_files([only, later], "X-Y"))[:2] and progress.share() == 1.0
