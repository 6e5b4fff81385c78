"""Instrumentation overhead: the same service with metrics off (no-op adapter,
``METRICS_ENABLED=false``), with the Prometheus adapter and with the OpenTelemetry adapter.

(a) throughput: the services run side by side for the whole part, with the same log level, loaded
    by ``wrk`` one at a time in an order rotated every round (so a drift in the machine's load hits
    all equally). The figures are medians over rounds; the ratios are each backend's median req/s
    over the median with metrics off (targets: Prometheus >= 0.93, OpenTelemetry >= 0.85). On a
    shared machine they swing by 15-30% between rounds.

(b) instructions: the same three configurations under callgrind, instructions per keep-alive
    ``GET`` counted in blocks (see ``bench/instructions.py``); the cost of a backend is its
    instructions per request minus metrics off's, and ``OFF / backend`` is the throughput the
    instructions alone predict, against the same targets. These agree to 1-2% between runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from bench import instructions
from bench.common import (
    BenchError,
    Service,
    StreamTable,
    ForeignLoad,
    exposition_samples,
    heading,
    median,
    positive_int,
    print_environment,
    ratio,
    sample_total,
    verdict,
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--part", choices=("all", "throughput", "instructions"), default="all",
                        help="throughput: (a) req/s under wrk; instructions: (b) instructions per request "
                        "under callgrind; all (default): both")
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
    parser.add_argument(
        "--backends", nargs="+", choices=("prometheus", "opentelemetry"), default=["prometheus", "opentelemetry"],
        help="metrics backends compared with metrics off (default: both)",
    )
    instructions.add_arguments(parser)


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


BACKENDS = ("prometheus", "opentelemetry")
TARGETS = {"prometheus": 0.93, "opentelemetry": 0.85}


def configurations(args: argparse.Namespace, **extra: str) -> dict[str, dict[str, str]]:
    """The environment of each configuration compared: metrics off, then each backend."""
    common = {"LOG_LEVEL": args.log_level, "LOG_FORMAT": "json", "ENVIRONMENT": "testing",
              "METRICS_BEARER_TOKEN": "", **extra}
    configs = {"OFF": {**common, "METRICS_ENABLED": "false"}}
    for backend in args.backends:
        configs[backend] = {**common, "METRICS_ENABLED": "true", "METRICS_BACKEND": backend}
    return configs


COMMAND = [sys.executable, "-m", "trading_engine"]


def run(args: argparse.Namespace) -> None:
    if args.part in ("all", "throughput"):
        throughput_part(args)
    if args.part in ("all", "instructions"):
        instructions_part(args)


def instructions_part(args: argparse.Namespace) -> None:
    heading("overhead (b): instructions per request with metrics off, Prometheus and OpenTelemetry")
    missing = instructions.missing_tools()
    if missing:
        raise BenchError(instructions.missing_message(missing))
    print_environment()
    print(f"callgrind: {' '.join(instructions.CALLGRIND)}; keep-alive GET {args.path} from one connection; "
          f"{args.ir_processes} process(es) per configuration x {args.ir_blocks} block(s) of "
          f"{args.ir_requests:,} requests after {args.ir_warmup:,} unmeasured; LOG_LEVEL={args.log_level}; "
          "market ticks every 60 s (the least), so the feed adds next to nothing to a block")
    # The slowest feed the configuration allows: its ticks are work done per second, not per request.
    envs = configurations(args, MARKET_TICK_INTERVAL_SECONDS="60")
    print()
    minima = instructions.measure({name: (COMMAND, env) for name, env in envs.items()}, args)
    print()
    instructions.print_summary(minima, "OFF", TARGETS)
    print("a process's figure is its minimum over blocks, a configuration's the minimum over its processes; "
          "OFF/config is the throughput the instruction counts predict")


def throughput_part(args: argparse.Namespace) -> None:
    heading("overhead (a): HTTP throughput with metrics off, Prometheus and OpenTelemetry")
    wrk = find_wrk(args.wrk)
    if wrk is None:
        raise BenchError(wrk_missing_message(args.wrk))
    print_environment()
    foreign = ForeignLoad()
    print(
        f"load: {wrk} -t{args.threads} -c{args.connections} -d{args.duration}s --latency GET {args.path}; "
        f"{args.rounds} round(s), order rotated every round; LOG_LEVEL={args.log_level} for all"
    )
    configs = {name: Service(f"metrics-{name.lower()}", COMMAND, env)
               for name, env in configurations(args).items()}
    names = list(configs)
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
        rows = StreamTable([("round", 5), ("metrics", 13), ("req/s", 8), ("p50 ms", 6), ("p90 ms", 6),
                            ("p99 ms", 6), ("CPU us/req", 12), ("requests", 9), ("errors", 6)])
        for round_no in range(1, args.rounds + 1):
            shift = (round_no - 1) % len(names)
            order = names[shift:] + names[:shift]  # each configuration takes each slot in turn
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
            off = results["OFF"][-1]
            for backend in args.backends:
                on = results[backend][-1]
                rows.row("", f"{backend[:4]}/OFF", f"{ratio(on.requests_per_second, off.requests_per_second):.3f}",
                         "", "", "", "", "", "")

        counted = {backend: _served_by_prometheus(configs[backend]) for backend in args.backends}
        _check_off_is_empty(configs["OFF"])
    finally:
        for service in configs.values():
            service.stop()

    def med(name: str, key: str) -> float:
        if key == "rps":
            return median([r.requests_per_second for r in results[name]])
        if key == "p99":
            return median([r.latency_ms.get("99%", float("nan")) for r in results[name]])
        return median([r.cpu_us_per_request for r in results[name] if r.cpu_us_per_request] or [float("nan")])

    print()
    print(f"{'configuration':<16}{'median req/s':>14}{'p99 ms':>9}{'CPU us/req':>12}   ratio to OFF (target)")
    print(f"{'OFF (no-op)':<16}{med('OFF', 'rps'):>14,.0f}{med('OFF', 'p99'):>9.2f}{med('OFF', 'cpu'):>12.1f}")
    for backend in args.backends:
        headline = ratio(med(backend, "rps"), med("OFF", "rps"))
        pairs = [ratio(a.requests_per_second, b.requests_per_second) for a, b in zip(results[backend], results["OFF"])]
        target = TARGETS[backend]
        print(f"{backend:<16}{med(backend, 'rps'):>14,.0f}{med(backend, 'p99'):>9.2f}{med(backend, 'cpu'):>12.1f}"
              f"   {headline:.3f} (>= {target}: {verdict(headline >= target)}); per-round "
              f"{min(pairs):.3f}..{max(pairs):.3f}")
    print("the ratio is of the median req/s; per-round ratios show the machine's noise (more --rounds narrow it)")
    print("check: requests counted in http_requests_total: "
          + ", ".join(f"{b} {n:,.0f}" for b, n in counted.items()) + "; OFF serves an empty exposition")
    competing = foreign.report()
    if competing:
        print(competing)


def _served_by_prometheus(service: Service) -> float:
    """The ON service's own count of requests (``http_requests_total``, all routes): proves that
    the metrics were recorded."""
    status, body = service.get("/api/v1/metrics")
    if status != 200:
        raise BenchError(f"{service.label}: /api/v1/metrics answered {status}")
    samples = exposition_samples(body.decode())
    if not any(s.name == "http_requests_total" for s in samples):
        raise BenchError(f"{service.label}: no http_requests_total series: is metrics on?")
    return sample_total(samples, "http_requests_total")


def _check_off_is_empty(service: Service) -> None:
    status, body = service.get("/api/v1/metrics")
    if status != 200 or body.strip():
        raise BenchError(f"{service.label}: expected an empty exposition with METRICS_ENABLED=false, "
                         f"got status {status} and {len(body)} bytes")
