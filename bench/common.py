"""What the benchmarks share: the service as a subprocess, the exposition's samples, statistics,
table printing."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.process import ServiceProcess

API_TOKEN = "bench-api-token-0123456789"


class BenchError(RuntimeError):
    """Something broke (not "something was slow"): the run exits non-zero."""


class Service(ServiceProcess):
    """The service (or a variant) as a subprocess on a loopback port, started by the runner the
    tests use, with a database of its own. Its stdout (the JSON log, one line per request at INFO)
    goes to /dev/null; its stderr (configuration errors, a port already taken, tracebacks) is
    collected and quoted when the service fails."""

    def __init__(self, label: str, args: Sequence[str], env: dict[str, str]) -> None:
        super().__init__(args, env={"TRADING_ENGINE_API_TOKEN": API_TOKEN, **env}, capture_stdout=False)
        self.label = label

    def log_tail(self, lines: int = 10) -> str:
        return "\n".join(self.stderr[-lines:])

    def wait_healthy(self, timeout: float = 60.0) -> None:
        try:
            super().wait_healthy(timeout)
        except AssertionError as exc:
            raise BenchError(f"{self.label}: {exc}; stderr:\n{self.log_tail()}") from None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{self.base_url}{path}", headers=headers or {})
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read()

    def post_json(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        """POST ``body`` as JSON with the API token: the status and the decoded answer (an error's
        too)."""
        request = urllib.request.Request(
            f"{self.base_url}{path}", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the service process (all its threads) has used so far, from
        /proc (Linux); None where that is not available."""
        assert self.proc is not None
        try:
            with open(f"/proc/{self.proc.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchError(
                f"{self.label}: service died (status {self.proc.returncode}); stderr:\n{self.log_tail()}"
            )


def retention_configurable() -> bool:
    """Whether this build's configuration has ``persistence.retention`` (a service ignores the
    ``TRADING_ENGINE_RETENTION`` variable when its config.yml does not read it)."""
    from trading_engine.infrastructure.config.settings import PersistenceSettings

    return "retention" in PersistenceSettings.model_fields


def exposition_samples(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition, parsed by ``prometheus_client.parser``."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def sample_total(samples: Sequence[Sample], name: str, **where: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``where``."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in where.items()))


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


_DURATION = re.compile(r"(?P<amount>\d+(?:\.\d+)?)(?P<unit>[smhd])|(?P<zero>0)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> str:
    """A retention or interval as the service's configuration spells it (``90s``, ``12h``, ``30d``,
    ``0``), checked here so a typo fails before a service starts."""
    if _DURATION.fullmatch(text.strip()) is None:
        raise argparse.ArgumentTypeError(f"must be a duration such as 30s, 5m, 12h or 30d, got {text!r}")
    return text.strip()


def duration_seconds(text: str) -> float:
    match = _DURATION.fullmatch(text)
    assert match is not None
    return 0.0 if match["zero"] else float(match["amount"]) * _UNIT_SECONDS[match["unit"]]


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


class StreamTable:
    """A table printed row by row as results arrive (an interrupted run still shows its rows)."""

    def __init__(self, columns: Sequence[tuple[str, int]]) -> None:
        self._widths = [max(len(name), width) for name, width in columns]
        self._print([name for name, _ in columns])
        print("  ".join("-" * w for w in self._widths), flush=True)

    def row(self, *cells: object) -> None:
        self._print([str(c) for c in cells])

    def _print(self, cells: Sequence[str]) -> None:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, self._widths))),
              flush=True)


class ForeignLoad:
    """How much CPU other processes took while a benchmark ran: the machine's busy time (from
    /proc/stat, hypervisor steal included) minus this process's and its reaped children's (the
    services, once stopped, and wrk). Linux only; elsewhere it reports nothing."""

    def __init__(self) -> None:
        self._start = self._snapshot()

    @staticmethod
    def _snapshot() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as stat:
                values = [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal ...
        busy = sum(values[i] for i in (0, 1, 2, 5, 6, 7) if i < len(values)) / os.sysconf("SC_CLK_TCK")
        own = os.times()
        return time.monotonic(), busy, own.user + own.system + own.children_user + own.children_system

    def report(self) -> str:
        end = self._snapshot()
        if self._start is None or end is None or end[0] <= self._start[0]:
            return ""
        elapsed = end[0] - self._start[0]
        foreign = max(0.0, (end[1] - self._start[1]) - (end[2] - self._start[2])) / elapsed
        cpus = os.cpu_count() or 1
        line = f"other processes used {foreign:.2f} of {cpus} CPUs on average during this benchmark"
        if foreign > 0.25:
            line += ("; WARNING: that much competing work makes the figures unreliable (the side-by-side "
                     "ratios less so); rerun when the machine is quiet")
        return line


def print_environment() -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load}; Python {platform.python_version()} "
        f"({sys.executable})"
    )


def heading(text: str) -> None:
    print()
    print(text)
    print("=" * len(text))
