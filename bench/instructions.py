"""Instructions per request, counted by callgrind: a figure the machine's load does not move.

Each service runs under ``valgrind --tool=callgrind --vgdb=yes``. After a warm-up, a block is:
``callgrind_control -z`` (zero the counters), a fixed number of keep-alive ``GET`` requests from
one client connection, each answered 200 before the next is sent, ``callgrind_control -d`` (dump);
the block's figure is the dump's total ``Ir`` (instructions executed by every thread of the
service) divided by the requests served. Blocks in one process agree to ~0.5%; processes to 1-2%
among themselves (hash seeds, memory layout). So each configuration runs in several processes,
started side by side, each measured in several blocks, the configurations alternating block by
block; a process's figure is its minimum over blocks, a configuration's the minimum over its
processes.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.common import BenchError, Service, StreamTable, positive_int

CALLGRIND = ("valgrind", "--tool=callgrind", "--vgdb=yes", "--dump-instr=no", "--dump-line=no")
# Under callgrind the service runs ~50 times slower: its start takes tens of seconds.
START_TIMEOUT_SECONDS = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("instructions per request (callgrind)")
    group.add_argument("--ir-processes", type=positive_int, default=3, metavar="N",
                       help="processes per configuration (default 3)")
    group.add_argument("--ir-blocks", type=positive_int, default=3, metavar="N",
                       help="measured blocks per process (default 3)")
    group.add_argument("--ir-requests", type=positive_int, default=1000, metavar="N",
                       help="keep-alive requests per block (default 1000)")
    group.add_argument("--ir-warmup", type=int, default=300, metavar="N",
                       help="unmeasured requests per process first (default 300)")


def missing_tools() -> list[str]:
    return [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]


def missing_message(missing: Sequence[str]) -> str:
    return (
        f"overhead: {' and '.join(missing)} not found: the instruction counts need valgrind. Install "
        "it with `make test` (which installs the system tools the tests and benchmarks use) or "
        "`sudo apt-get install valgrind`, or pass --part throughput."
    )


class CallgrindService(Service):
    """The service under callgrind, with its counters zeroed and dumped on demand."""

    def __init__(self, label: str, args: Sequence[str], env: dict[str, str]) -> None:
        self.dumps = Path(tempfile.mkdtemp(prefix=f"bench-callgrind-{label}-"))
        super().__init__(label, [*CALLGRIND, f"--callgrind-out-file={self.dumps / 'callgrind.out'}", *args], env)
        self._dumped = 0

    def _control(self, option: str) -> None:
        assert self.proc is not None
        # vgdb finds the service by files named after its pid, user and $HOST: run it with the
        # service's environment (which sets HOST), or it looks for other names and finds nothing.
        done = subprocess.run(["callgrind_control", option, str(self.proc.pid)], env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0 or "OK." not in done.stdout or "error" in done.stdout + done.stderr:
            raise BenchError(f"{self.label}: callgrind_control {option} failed: {done.stdout}{done.stderr}")

    def zero(self) -> None:
        self._control("-z")

    def dump(self) -> int:
        """Dump the counters; the instructions executed since the last zero or dump."""
        self._control("-d")
        self._dumped += 1
        path = self.dumps / f"callgrind.out.{self._dumped}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists():
                for line in path.read_text().splitlines():
                    if line.startswith("summary:"):
                        return int(line.split()[1])
            time.sleep(0.05)
        raise BenchError(f"{self.label}: callgrind wrote no complete dump {path}")

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.dumps, ignore_errors=True)


class KeepAliveClient:
    """One HTTP/1.1 connection; each request is answered before the next is sent."""

    def __init__(self, service: Service) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
        self._label = service.label

    def get(self, path: str, count: int) -> int:
        for _ in range(count):
            self._connection.request("GET", path)
            response = self._connection.getresponse()
            response.read()
            if response.status != 200:
                raise BenchError(f"{self._label}: GET {path} answered {response.status}")
        return count

    def close(self) -> None:
        self._connection.close()


def measure(
    configurations: Mapping[str, tuple[Sequence[str], dict[str, str]]], args: argparse.Namespace
) -> dict[str, list[float]]:
    """Instructions per request of each configuration's processes (each the minimum over its
    blocks), printing a row per block as it is measured."""
    names = list(configurations)
    minima: dict[str, list[float]] = {name: [] for name in names}
    rows = StreamTable([("process", 7), ("metrics", 13), *[(f"block {b + 1} Ir/req", 13) for b in range(args.ir_blocks)],
                        ("min Ir/req", 10)])
    for process_no in range(1, args.ir_processes + 1):
        services = {name: CallgrindService(f"{name}-{process_no}", command, env)
                    for name, (command, env) in configurations.items()}
        clients: dict[str, KeepAliveClient] = {}
        try:
            for service in services.values():  # started side by side: their starts overlap
                service.start()
            for name, service in services.items():
                service.wait_healthy(START_TIMEOUT_SECONDS)
                clients[name] = KeepAliveClient(service)
                clients[name].get(args.path, args.ir_warmup)
            blocks: dict[str, list[float]] = {name: [] for name in names}
            for block in range(args.ir_blocks):
                shift = (process_no - 1 + block) % len(names)
                for name in names[shift:] + names[:shift]:  # each configuration takes each slot in turn
                    service = services[name]
                    service.check_alive()
                    service.zero()
                    served = clients[name].get(args.path, args.ir_requests)
                    blocks[name].append(service.dump() / served)
            for name in names:
                minima[name].append(min(blocks[name]))
                rows.row(process_no, name, *[f"{v:,.0f}" for v in blocks[name]], f"{min(blocks[name]):,.0f}")
        finally:
            for client in clients.values():
                client.close()
            for service in services.values():
                service.stop()
    return minima


def spread(values: Sequence[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:,.0f}..{high:,.0f} ({(high - low) / low * 100:.1f}%)"


def print_summary(minima: Mapping[str, list[float]], off: str, targets: Mapping[str, float]) -> None:
    """Each configuration's instructions per request, its cost over ``off``, and the
    throughput-equivalent ratio (``off``'s instructions over its own) against its target."""
    base = min(minima[off])
    print(f"{'configuration':<16}{'Ir/request':>12}{'+Ir/req vs OFF':>16}   {'OFF/config (target)':<26}"
          "process minima (spread)")
    for name, values in minima.items():
        figure = min(values)
        if name == off:
            cost, equivalent = "-", "-"
        else:
            cost = f"{figure - base:+,.0f}"
            ratio = base / figure
            equivalent = f"{ratio:.3f}"
            if name in targets:
                equivalent += f" (>= {targets[name]}: {'met' if ratio >= targets[name] else 'MISSED'})"
        print(f"{name:<16}{figure:>12,.0f}{cost:>16}   {equivalent:<26}{spread(values)}")
