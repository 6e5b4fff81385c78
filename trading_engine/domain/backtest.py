"""A backtest submitted to the service: what was asked, where it is, and what came of it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class BacktestStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (BacktestStatus.DONE, BacktestStatus.FAILED, BacktestStatus.CANCELLED)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class BacktestSpec:
    """What to run: names of files under ``backtests.data_dir``, parameters as given."""

    strategy: str
    symbol: str
    data: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    cash: str | None = None
    fee_bps: str | None = None
    slippage_bps: str | None = None


@dataclass(frozen=True)
class BacktestRecord:
    backtest_id: str
    spec: BacktestSpec
    status: BacktestStatus
    created_at: datetime
    progress: float = 0.0
    events: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    statistics: dict[str, Any] | None = None
    error: str | None = None

    def replace(self, **changes: Any) -> BacktestRecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["status"] = self.status.value
        out["spec"]["data"] = list(self.spec.data)
        for key in ("created_at", "started_at", "finished_at"):
            out[key] = None if out[key] is None else out[key].isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BacktestRecord:
        spec = dict(data["spec"])
        spec["data"] = tuple(spec["data"])
        times = {k: None if data.get(k) is None else datetime.fromisoformat(data[k])
                 for k in ("created_at", "started_at", "finished_at")}
        return cls(
            backtest_id=data["backtest_id"], spec=BacktestSpec(**spec), status=BacktestStatus(data["status"]),
            progress=data.get("progress", 0.0), events=data.get("events", 0), statistics=data.get("statistics"),
            error=data.get("error"), **times,  # type: ignore[arg-type]
        )
