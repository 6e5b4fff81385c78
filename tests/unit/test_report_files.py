"""The backtest's CSV files: each row exactly what the csv module writes for its cells."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

from trading_engine.infrastructure.reports.files import CsvLog

T0 = datetime(2024, 3, 1, 0, 1, tzinfo=UTC)
ROWS = [
    (T0, D("9876.5432100000"), D("0E-10")),
    (T0, "ord_1", "buy", D("1E+2"), D("-0.5"), 7, None),
    (T0, "a,b", 'say "hi"', "two\nlines", "cr\r", ""),
    ("x", "a,b"), ("x", 'say "hi"'), ("x", "two\nlines"), ("x", "cr\r"),
    ("", ""),
    (D(1),),
]


def test_rows_are_what_the_csv_writer_writes(tmp_path: Path) -> None:
    log = CsvLog(tmp_path / "x.csv", ("a", "b"))
    for row in ROWS:
        log.row(*row)
    log.close()
    expected = io.StringIO(newline="")
    writer = csv.writer(expected, lineterminator="\n")
    writer.writerow(("a", "b"))
    for row in ROWS:
        writer.writerow([format(c, "f") if isinstance(c, D) else c.isoformat() if isinstance(c, datetime) else str(c)
                         for c in row])
    assert (tmp_path / "x.csv").read_bytes().decode() == expected.getvalue()
    assert "9876.5432100000,0.0000000000\n" in expected.getvalue() and '"a,b"' in expected.getvalue()


def test_timestamps_are_their_isoformat() -> None:
    from datetime import timedelta, timezone

    from trading_engine.infrastructure.reports.files import IsoText

    iso = IsoText().text
    times = [datetime(2024, 2, 28, 23, 0, tzinfo=UTC) + timedelta(seconds=37 * i) for i in range(12000)]
    times += [datetime(2024, 3, 5, 1, 2, 3, tzinfo=UTC), datetime(2024, 4, 5, 1, 2, 3, tzinfo=UTC),  # same day, new month
              datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2024, 3, 1, 0, 0, 0, 1, tzinfo=UTC),
              datetime(2024, 3, 1, 9, 30), datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
              datetime(2024, 3, 1, tzinfo=UTC)]
    assert [iso(at) for at in times] == [at.isoformat() for at in times]
