"""Instrumentation overhead: the same service with metrics on (Prometheus adapter) and off (no-op
adapter, ``METRICS_ENABLED=false``), loaded by ``wrk`` in alternating rounds.

Both services run side by side for the whole benchmark, with the same log level; each round loads
one then the other (the order swaps every round, so a drift in the machine's load hits both
equally). Only one is loaded at a time. The figures are medians over rounds.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from bench.common import (
    BenchError,
    Service,
    StreamTable,
    ForeignLoad,
    heading,
    median,
    positive_int,
    print_environment,
    ratio,
    verdict,
)

TARGET_RATIO = 0.93
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=positive_int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--duration", type=positive_int, default=5, help="seconds of wrk per configuration per round (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unrecorded wrk per configuration first (default 2)")
    parser.add_argument("--connections", type=positive_int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=positive_int, default=1, help="wrk threads (default 1: the machine has 2 cores)")
    parser.add_argument("--path", default="/api/v1/health", help="path to load (default /api/v1/health)")
    parser.add_argument(
        "--log-level", type=str.upper, choices=LOG_LEVELS, default="WARNING",
        help="LOG_LEVEL of both services (default WARNING: the access log is off, so the comparison "
        "isolates metrics; INFO includes one http_request log line per request in both)",
    )
    parser.add_argument("--wrk", default="wrk", help="the wrk binary (default: wrk on PATH)")


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    latency_ms: dict[str, float]  # "50%", "75%", "90%", "99%"
    errors: str
    cpu_us_per_request: float | None = None  # the service's CPU time per request served


def find_wrk(name: str) -> str | None:
    return shutil.which(name)


def wrk_missing_message(name: str) -> str:
    return (
        f"overhead: the load generator {name!r} was not found. Install it with `make test` (which "
        "installs the system tools the tests and benchmarks use) or `sudo apt-get install wrk`, or "
        "pass --wrk /path/to/wrk."
    )


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in ", output, re.M)
    if not rps or not total:
        raise BenchError(f"could not parse wrk output:\n{output}")
    latency = {
        m.group(1) + "%": float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    errors = []
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors.append(f"non-2xx {non2xx.group(1)}")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sock:
        errors.append("socket c/r/w/t " + "/".join(sock.groups()))
    return WrkResult(float(rps.group(1)), int(total.group(1)), latency, ", ".join(errors) or "-")


def run_wrk(wrk: str, url: str, args: argparse.Namespace, duration: int) -> WrkResult:
    cmd = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency", url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited with {done.returncode}: {done.stderr.strip()}")
    result = parse_wrk(done.stdout)
    if result.requests == 0 or "non-2xx" in result.errors:
        raise BenchError(f"{' '.join(cmd)}: requests failed ({result.errors}):\n{done.stdout}")
    return result


def fmt_us(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def fmt_ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def run(args: argparse.Namespace) -> None:
    heading("overhead: HTTP throughput with metrics on vs off")
    wrk = find_wrk(args.wrk)
    if wrk is None:
        raise BenchError(wrk_missing_message(args.wrk))
    print_environment()
    foreign = ForeignLoad()
    print(
        f"load: {wrk} -t{args.threads} -c{args.connections} -d{args.duration}s --latency GET {args.path}; "
        f"{args.rounds} round(s), order swapped every round; LOG_LEVEL={args.log_level} for both"
    )
    common = {"LOG_LEVEL": args.log_level, "LOG_FORMAT": "json", "ENVIRONMENT": "testing",
              "METRICS_BEARER_TOKEN": ""}
    command = [sys.executable, "-m", "trading_engine"]
    configs = {
        "ON": Service("metrics-on", command, {**common, "METRICS_ENABLED": "true", "METRICS_BACKEND": "prometheus"}),
        "OFF": Service("metrics-off", command, {**common, "METRICS_ENABLED": "false"}),
    }
    try:
        for service in configs.values():
            service.start()
        for service in configs.values():
            service.wait_healthy()
        for service in configs.values():
            if args.warmup > 0:
                run_wrk(wrk, service.base_url + args.path, args, args.warmup)

        results: dict[str, list[WrkResult]] = {name: [] for name in configs}
        print()
        rows = StreamTable([("round", 5), ("metrics", 7), ("req/s", 8), ("p50 ms", 6), ("p90 ms", 6),
                            ("p99 ms", 6), ("CPU us/req", 12), ("requests", 9), ("errors", 6)])
        for round_no in range(1, args.rounds + 1):
            order = ["ON", "OFF"] if round_no % 2 else ["OFF", "ON"]
            for name in order:
                service = configs[name]
                service.check_alive()
                cpu_before = service.cpu_seconds()
                result = run_wrk(wrk, service.base_url + args.path, args, args.duration)
                cpu_after = service.cpu_seconds()
                if cpu_before is not None and cpu_after is not None:
                    result.cpu_us_per_request = (cpu_after - cpu_before) / result.requests * 1e6
                results[name].append(result)
                rows.row(
                    round_no, name, f"{result.requests_per_second:,.0f}", fmt_ms(result.latency_ms.get("50%")),
                    fmt_ms(result.latency_ms.get("90%")), fmt_ms(result.latency_ms.get("99%")),
                    fmt_us(result.cpu_us_per_request), f"{result.requests:,}", result.errors,
                )
            on, off = results["ON"][-1], results["OFF"][-1]
            cpu_ratio = (ratio(off.cpu_us_per_request, on.cpu_us_per_request)
                         if on.cpu_us_per_request and off.cpu_us_per_request else None)
            rows.row("", "ON/OFF", f"{ratio(on.requests_per_second, off.requests_per_second):.3f}",
                     "", "", "", "" if cpu_ratio is None else f"OFF/ON {cpu_ratio:.3f}", "", "")

        on_requests = _served_by_prometheus(configs["ON"])
        _check_off_is_empty(configs["OFF"])
    finally:
        for service in configs.values():
            service.stop()

    on_rps = [r.requests_per_second for r in results["ON"]]
    off_rps = [r.requests_per_second for r in results["OFF"]]
    on_p99 = [r.latency_ms.get("99%", float("nan")) for r in results["ON"]]
    off_p99 = [r.latency_ms.get("99%", float("nan")) for r in results["OFF"]]
    headline = ratio(median(on_rps), median(off_rps))
    pairs = [ratio(a, b) for a, b in zip(on_rps, off_rps)]
    paired = median(pairs)
    print()
    print(f"median req/s   ON (prometheus): {median(on_rps):>10,.0f}")
    print(f"median req/s  OFF (no-op):      {median(off_rps):>10,.0f}")
    print(f"ratio ON/OFF of the medians:    {headline:>10.3f}   (target >= {TARGET_RATIO}: {verdict(headline >= TARGET_RATIO)})")
    print(f"median of per-round ratios:     {paired:>10.3f}   (range {min(pairs):.3f}..{max(pairs):.3f}: the "
          "spread is the machine's noise; more --rounds narrow it)")
    on_cpu = [r.cpu_us_per_request for r in results["ON"] if r.cpu_us_per_request]
    off_cpu = [r.cpu_us_per_request for r in results["OFF"] if r.cpu_us_per_request]
    if on_cpu and off_cpu:
        cpu_ratio = ratio(median(off_cpu), median(on_cpu))
        print(f"median service CPU per request: ON {median(on_cpu):.1f} us, OFF {median(off_cpu):.1f} us; "
              f"OFF/ON {cpu_ratio:.3f}   (the throughput ratio if the service is CPU-bound)")
    print(f"median p99 latency ON:          {median(on_p99):>10.2f} ms")
    print(f"median p99 latency OFF:         {median(off_p99):>10.2f} ms   (ON/OFF {ratio(median(on_p99), median(off_p99)):.2f})")
    print(f"check: the ON service counted {on_requests:,.0f} requests in http_requests_total; "
          "the OFF service serves an empty exposition")
    competing = foreign.report()
    if competing:
        print(competing)


def _served_by_prometheus(service: Service) -> float:
    """The ON service's own count of requests (``http_requests_total``, all routes): proves that
    the metrics were recorded."""
    status, body = service.get("/api/v1/metrics")
    if status != 200:
        raise BenchError(f"{service.label}: /api/v1/metrics answered {status}")
    samples = [float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
               if line.startswith("http_requests_total{")]
    if not samples:
        raise BenchError(f"{service.label}: no http_requests_total series: is metrics on?")
    return sum(samples)


def _check_off_is_empty(service: Service) -> None:
    status, body = service.get("/api/v1/metrics")
    if status != 200 or body.strip():
        raise BenchError(f"{service.label}: expected an empty exposition with METRICS_ENABLED=false, "
                         f"got status {status} and {len(body)} bytes")
