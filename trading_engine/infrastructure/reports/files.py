"""``fills.csv`` and ``equity.csv``, written row by row as the run goes, and ``report.json``."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from trading_engine.domain.decimals import plain

FILLS_HEADER = ("timestamp", "order_id", "side", "quantity", "price", "fee", "realized_pnl")
EQUITY_HEADER = ("timestamp", "equity", "drawdown")


class CsvLog:
    """A CSV file with a header, appended to one row at a time."""

    def __init__(self, path: Path, header: tuple[str, ...]) -> None:
        self._file: TextIO = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(header)

    def row(self, *cells: object) -> None:
        self._writer.writerow([_cell(c) for c in cells])

    def close(self) -> None:
        self._file.close()


def _cell(value: object) -> str:
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=_cell) + "\n", encoding="utf-8")
