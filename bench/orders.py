"""Order throughput: sustained ``POST /api/v1/orders`` against a real service with durability on.

One service (SQLite file, ``synchronous=FULL``: every acknowledged order is on disk) is loaded by
``wrk`` with market orders on one symbol, alternating buy and sell so the account never runs out
of cash or position room. Acknowledged orders are the 201 answers; the service's own
``orders_total`` confirms them. In the same run, ``GET /api/v1/health`` is loaded alone on the same
service, so the two figures compare like for like. With ``--rounds`` above 1 the two alternate.
Target: at least 2,000 acknowledged orders/s with p99 below 25 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.common import (
    API_TOKEN,
    BenchError,
    ForeignLoad,
    Service,
    StreamTable,
    exposition_samples,
    heading,
    median,
    positive_int,
    print_environment,
    ratio,
    sample_total,
    verdict,
)
from bench.overhead import LOG_LEVELS, WrkResult, find_wrk, fmt_ms, fmt_us, parse_wrk, wrk_missing_message

TARGET_ORDERS_PER_SECOND = 2_000
TARGET_P99_MS = 25.0

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local n = 0
request = function()
  n = n + 1
  local side = (n %% 2 == 0) and "sell" or "buy"
  return wrk.format(nil, nil, nil,
    '{"symbol":"%(symbol)s","side":"' .. side .. '","type":"market","quantity":"%(quantity)s"}')
end
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=positive_int, default=20, help="seconds of order load per round (default 20)")
    parser.add_argument("--health-duration", type=positive_int, default=10, help="seconds of health load per round (default 10)")
    parser.add_argument("--rounds", type=positive_int, default=1, help="alternating order/health rounds (default 1)")
    parser.add_argument("--connections", type=positive_int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=positive_int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--symbol", default="BTC-USD", help="instrument to trade (default BTC-USD)")
    parser.add_argument("--quantity", default="0.001", help="quantity per order (default 0.001)")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default="INFO",
                        help="LOG_LEVEL of the service (default INFO, as deployed: an access log line and an "
                             "order event per order)")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL",
                        help="SQLite synchronous mode (default FULL: durable against power loss)")
    parser.add_argument("--wrk", default="wrk", help="the wrk binary (default: wrk on PATH)")


def _wrk(wrk: str, url: str, args: argparse.Namespace, duration: int, script: Path | None = None) -> WrkResult:
    import subprocess

    cmd = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    done = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited with {done.returncode}: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def _non_2xx(result: WrkResult) -> int:
    for part in result.errors.split(", "):
        if part.startswith("non-2xx "):
            return int(part.split()[1])
    return 0


def _orders_counted(service: Service) -> float:
    status, body = service.get("/api/v1/metrics")
    if status != 200:
        raise BenchError(f"/api/v1/metrics answered {status}")
    return sample_total(exposition_samples(body.decode()), "orders_total", status="filled")


def run(args: argparse.Namespace) -> None:
    heading("orders: sustained POST /api/v1/orders with durability on")
    wrk = find_wrk(args.wrk)
    if wrk is None:
        raise BenchError(wrk_missing_message(args.wrk))
    print_environment()
    foreign = ForeignLoad()
    env = {
        "LOG_LEVEL": args.log_level, "LOG_FORMAT": "json", "ENVIRONMENT": "testing",
        "TRADING_ENGINE_DB_SYNCHRONOUS": args.synchronous,
        # Room for every order: cash and limits far above what the run trades.
        "INITIAL_CASH": "USD=1000000000", "MAX_POSITION_SIZE": "1000000000",
        "RISK_LIMIT_THRESHOLD": "1000000000",
    }
    print(f"service: LOG_LEVEL={args.log_level}, SQLite synchronous={args.synchronous}, metrics on (prometheus)")
    print(f"orders: market {args.symbol} {args.quantity}, buy/sell alternating; wrk -t{args.threads} "
          f"-c{args.connections}, {args.duration} s per round; health: {args.health_duration} s per round; "
          f"{args.rounds} round(s)")
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as scratch:
        script = Path(scratch) / "orders.lua"
        script.write_text(LUA % {"token": API_TOKEN, "symbol": args.symbol, "quantity": args.quantity})
        service = Service("orders", [sys.executable, "-m", "trading_engine"], env)
        orders: list[WrkResult] = []
        health: list[WrkResult] = []
        acked: list[float] = []
        try:
            service.start()
            service.wait_healthy()
            _wrk(wrk, f"{service.base_url}/api/v1/orders", args, 3, script)  # warm-up, unrecorded
            before = _orders_counted(service)
            print()
            rows = StreamTable([("round", 5), ("load", 7), ("req/s", 8), ("acked/s", 8), ("p50 ms", 6),
                                ("p90 ms", 6), ("p99 ms", 6), ("CPU us/req", 10), ("requests", 9), ("refused", 7)])
            for round_no in range(1, args.rounds + 1):
                order = ["orders", "health"] if round_no % 2 else ["health", "orders"]
                for load in order:
                    service.check_alive()
                    cpu_before = service.cpu_seconds()
                    if load == "orders":
                        result = _wrk(wrk, f"{service.base_url}/api/v1/orders", args, args.duration, script)
                    else:
                        result = _wrk(wrk, f"{service.base_url}/api/v1/health", args, args.health_duration)
                    cpu_after = service.cpu_seconds()
                    if cpu_before is not None and cpu_after is not None:
                        result.cpu_us_per_request = (cpu_after - cpu_before) / result.requests * 1e6
                    refused = _non_2xx(result)
                    acked_rate = result.requests_per_second * (result.requests - refused) / result.requests
                    (orders if load == "orders" else health).append(result)
                    if load == "orders":
                        acked.append(acked_rate)
                    rows.row(round_no, load, f"{result.requests_per_second:,.0f}",
                             f"{acked_rate:,.0f}" if load == "orders" else "-",
                             fmt_ms(result.latency_ms.get("50%")), fmt_ms(result.latency_ms.get("90%")),
                             fmt_ms(result.latency_ms.get("99%")), fmt_us(result.cpu_us_per_request),
                             f"{result.requests:,}", refused)
            counted = _orders_counted(service) - before
        finally:
            service.stop()

    sent = sum(r.requests for r in orders)
    refused_total = sum(_non_2xx(r) for r in orders)
    p50 = median([r.latency_ms.get("50%", float("nan")) for r in orders])
    p99 = median([r.latency_ms.get("99%", float("nan")) for r in orders])
    health_rps = median([r.requests_per_second for r in health])
    orders_rps = median(acked)
    print()
    print(f"acknowledged orders/s (201): {orders_rps:>10,.0f}   (target >= {TARGET_ORDERS_PER_SECOND:,}: "
          f"{verdict(orders_rps >= TARGET_ORDERS_PER_SECOND)})")
    print(f"order latency p50:           {p50:>10.2f} ms")
    print(f"order latency p99:           {p99:>10.2f} ms   (target < {TARGET_P99_MS:g} ms: {verdict(p99 < TARGET_P99_MS)})")
    print(f"GET /api/v1/health req/s:    {health_rps:>10,.0f}   (same service, same run)")
    print(f"orders/s over health req/s:  {ratio(orders_rps, health_rps):>10.3f}")
    orders_cpu = median([r.cpu_us_per_request for r in orders if r.cpu_us_per_request] or [float("nan")])
    health_cpu = median([r.cpu_us_per_request for r in health if r.cpu_us_per_request] or [float("nan")])
    print(f"service CPU per request:     orders {orders_cpu:.0f} us, health {health_cpu:.0f} us "
          "(CPU above 1 s per s means the SQLite writer thread worked beside the event loop)")
    print(f"check: {sent:,} orders sent, {refused_total:,} refused (non-2xx); the service counted "
          f"{counted:,.0f} filled orders in orders_total (warm-up excluded)")
    competing = foreign.report()
    if competing:
        print(competing)
