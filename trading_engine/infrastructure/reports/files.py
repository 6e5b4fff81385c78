"""``fills.csv`` and ``equity.csv``, written row by row as the run goes, and ``report.json``."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from trading_engine.domain.decimals import plain

FILLS_HEADER = ("timestamp", "order_id", "side", "quantity", "price", "fee", "realized_pnl")
EQUITY_HEADER = ("timestamp", "equity", "drawdown")


_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))


class IsoText:
    """``text(at)`` is what ``at.isoformat()`` answers, for the timestamps of a run one after the
    other: for a UTC time on whole seconds the date's text is kept while the day is the same and the
    time's is put together from its fields (``isoformat`` spent most of a row's cost in
    ``equity.csv``)."""

    def __init__(self) -> None:
        self._date: date | None = None
        self._day = ""  # "YYYY-MM-DDT" of _date

    def text(self, at: datetime) -> str:
        if at.tzinfo is not UTC or at.microsecond:
            return at.isoformat()
        day = at.date()
        if day != self._date:
            self._date, self._day = day, f"{day.isoformat()}T"
        two = _TWO_DIGITS
        return f"{self._day}{two[at.hour]}:{two[at.minute]}:{two[at.second]}+00:00"


class CsvLog:
    """A CSV file with a header, appended to one row at a time."""

    def __init__(self, path: Path, header: tuple[str, ...]) -> None:
        self._file: TextIO = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(header)
        self._iso = IsoText().text  # a bound method: cheaper to call than an instance
        self._text = {**_TEXT, datetime: self._iso}

    def row(self, *cells: object) -> None:
        texts = [self._text.get(c.__class__, _cell)(c) for c in cells]
        line = ",".join(texts)
        if (len(texts) > 1 and line.count(",") == len(texts) - 1
                and '"' not in line and "\n" not in line):
            self._file.write(line + "\n")  # what the writer writes when no cell needs quoting
        else:
            self._writer.writerow(texts)

    def close(self) -> None:
        self._file.close()


class EquityLog(CsvLog):
    """``equity.csv``: what ``row(at, equity, drawdown)`` writes, the text of an equity and drawdown
    unchanged since the last row (the same objects) kept rather than formatted again. ``sample``
    gathers ``BATCH`` rows before writing them at once (a write per row cost more than the row);
    ``close`` writes what is left."""

    BATCH = 1024

    def __init__(self, path: Path) -> None:
        super().__init__(path, EQUITY_HEADER)
        self._last: tuple[Decimal, Decimal] | None = None
        self._tail = ""
        self._rows: list[str] = []

    def sample(self, at: datetime, equity: Decimal, drawdown: Decimal) -> None:
        last = self._last
        if last is None or last[0] is not equity or last[1] is not drawdown:
            self._last = (equity, drawdown)
            # neither a timestamp nor a plain number needs quoting
            self._tail = f",{plain(equity)},{plain(drawdown)}\n"
        rows = self._rows
        rows.append(self._iso(at) + self._tail)
        if len(rows) >= self.BATCH:
            self._write_rows()

    def _write_rows(self) -> None:
        if self._rows:
            self._file.write("".join(self._rows))
            self._rows.clear()

    def row(self, *cells: object) -> None:
        self._write_rows()  # after the samples before it
        super().row(*cells)

    def close(self) -> None:
        self._write_rows()
        super().close()


def _cell(value: object) -> str:
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# the usual cells' own types straight to their text (what ``_cell`` answers for them), the rest through it
_TEXT: dict[type, Callable[[Any], str]] = {Decimal: plain, datetime: datetime.isoformat, str: str}


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=_cell) + "\n", encoding="utf-8")
