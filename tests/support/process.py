"""Run the service (or a test variant of it) as a real subprocess on a loopback port.

The tests and the benchmarks (``bench/common.py``) start every service through this runner."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """A child process whose stdout (JSON log lines) and stderr are collected as they arrive.

    ``capture_stdout=False`` sends stdout to /dev/null instead (a benchmark at INFO logs a line per
    request, which nothing reads); stderr is always collected."""

    def __init__(
        self,
        args: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
        cwd: Path | None = None,
        capture_stdout: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.grpc_port = free_port()
        self.args = list(args or [sys.executable, "-m", "trading_engine"])
        # A database of its own unless the test names one (e.g. to restart on the same file).
        self._scratch = tempfile.mkdtemp(prefix="service-")
        self.env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "GRPC_PORT": str(self.grpc_port),
            "ENVIRONMENT": "testing",
            "PYTHONUNBUFFERED": "1",
            "TRADING_ENGINE_DB_PATH": os.path.join(self._scratch, "trading.db"),
            "TRADING_ENGINE_ARCHIVE_DIR": os.path.join(self._scratch, "archive"),
            **(env or {}),
        }
        self.cwd = cwd or REPO_ROOT
        self.capture_stdout = capture_stdout
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._pumps: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if self.capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        streams = ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr))
        for stream, sink in streams:
            if stream is None:
                continue
            pump = threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
            pump.start()
            self._pumps.append(pump)
        return self

    @staticmethod
    def _pump(stream: Any, sink: list[str]) -> None:
        with stream:
            for line in stream:
                sink.append(line.rstrip("\n"))

    def _join_pumps(self) -> None:
        for pump in self._pumps:
            pump.join(10)

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"service exited with {self.proc.returncode}: {self.stderr[-5:]} {self.stdout[-5:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/v1/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"service not healthy within {timeout}s: {self.stdout[-5:]}")

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines printed so far."""
        parsed = []
        for line in list(self.stdout):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return parsed

    def wait_event(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if event.get("event") == name:
                    return event
            time.sleep(0.02)
        raise AssertionError(f"no {name!r} log event within {timeout}s: {self.stdout[-5:]}")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self._join_pumps()  # the last lines are in once both pipes hit EOF
        return code

    def stop(self) -> None:
        if self.proc is None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._join_pumps()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
