"""Where backtests are kept, and what runs them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from trading_engine.domain.backtest import BacktestRecord, BacktestSpec


class BacktestStore(Protocol):
    def save(self, record: BacktestRecord) -> None:
        """Write the record whole (it replaces the previous one; never half-written)."""
        ...

    def load_all(self) -> Sequence[BacktestRecord]:
        """Every record saved, oldest first."""
        ...

    def directory(self, backtest_id: str) -> Path:
        """Where the backtest's files are (report.html, equity.png, fills.csv, ...)."""
        ...


class BacktestWorker(Protocol):
    async def run(self, backtest_id: str, spec: BacktestSpec, files: Sequence[Path], out: Path,
                  on_progress: Callable[[float, int], None]) -> dict[str, Any]:
        """Run one backtest away from the event loop; answer its report. Raises ``BacktestFailed``
        with the reason; cancelling the awaiting task stops the run."""
        ...


class BacktestFailed(Exception):
    """The backtest ran and failed (bad data, a bad parameter); the text is one line."""
