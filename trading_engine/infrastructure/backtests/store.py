"""Backtest records as ``<results_dir>/<backtest_id>/backtest.json``, each written to a temporary
file and renamed over the old one, so a record is never half-written."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import structlog

from trading_engine.domain.backtest import BacktestRecord

log = structlog.get_logger(__name__)
RECORD = "backtest.json"


class FileBacktestStore:
    def __init__(self, results_dir: str) -> None:
        self._root = Path(results_dir)

    def directory(self, backtest_id: str) -> Path:
        return self._root / backtest_id

    def save(self, record: BacktestRecord) -> None:
        folder = self.directory(record.backtest_id)
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{RECORD}.tmp"
        with temporary.open("w", encoding="utf-8") as f:
            json.dump(record.to_dict(), f, indent=2, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, folder / RECORD)

    def load_all(self) -> Sequence[BacktestRecord]:
        if not self._root.is_dir():
            return []
        records = []
        for path in sorted(self._root.glob(f"*/{RECORD}")):
            try:
                records.append(BacktestRecord.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, KeyError, TypeError) as exc:
                log.error("backtest_record_unreadable", path=str(path), error=f"{type(exc).__name__}: {exc}")
        return sorted(records, key=lambda r: (r.created_at, r.backtest_id))
