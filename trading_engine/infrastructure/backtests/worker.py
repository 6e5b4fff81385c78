"""Each backtest in its own process: ``python -m trading_engine backtest`` with the service's
trading configuration, progress read from its standard output, stopped by killing it.

The worker writes the sections a backtest uses (instruments, account, venue, orders, risk,
strategies, the market's staleness) to ``config.json`` in the run's directory and hands it to the
command as ``--config`` (JSON is YAML); secrets (the API token, the metrics token) are not among
them. A process of its own keeps the event loop free and a crash contained; it runs
``WORKER_NICENESS`` below the service's priority, so that on a small machine the live event loop
gets a core before the replay does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trading_engine.domain.backtest import BacktestSpec
from trading_engine.domain.ports.backtests import BacktestFailed

WORKER_NICENESS = 10
SECTIONS = ("instruments", "account", "venue", "orders", "risk", "strategies")


class ProcessBacktestWorker:
    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._config = {key: settings[key] for key in SECTIONS}
        self._config["market"] = {"stale_after_seconds": settings["market"]["stale_after_seconds"]}

    async def run(self, backtest_id: str, spec: BacktestSpec, files: Sequence[Path], out: Path,
                  on_progress: Callable[[float, int], None]) -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        config = out / "config.json"
        config.write_text(json.dumps(self._config, default=str), encoding="utf-8")
        argv = [sys.executable, "-m", "trading_engine", "backtest", "--symbol", spec.symbol, "--strategy", spec.strategy,
                "--config", str(config), "--out", str(out), "--quiet", "--progress-lines"]
        for path in files:
            argv += ["--data", str(path)]
        for name, value in spec.params.items():
            argv += ["--param", f"{name}={value}"]
        for flag, value in (("--cash", spec.cash), ("--fee-bps", spec.fee_bps), ("--slippage-bps", spec.slippage_bps)):
            if value is not None:
                argv += [flag, str(value)]
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        with contextlib.suppress(ProcessLookupError):  # already gone: its exit status tells
            os.setpriority(os.PRIO_PROCESS, process.pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS))
        try:
            assert process.stdout is not None and process.stderr is not None
            errors = asyncio.ensure_future(process.stderr.read())
            async for line in process.stdout:
                parts = line.split()
                if len(parts) == 3 and parts[0] == b"progress":
                    on_progress(float(parts[1]), int(parts[2]))
            code = await process.wait()
            stderr = (await errors).decode(errors="replace").strip()
        except BaseException:  # cancelled: stop the process, then let the cancellation through
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if code != 0:
            last = stderr.splitlines()[-1] if stderr else f"the backtest process exited with status {code}"
            raise BacktestFailed(last.removeprefix("trading-engine backtest: "))
        return json.loads((out / "report.json").read_text(encoding="utf-8"))
