"""gRPC beside HTTP: the same use cases over both transports of one service, in the same run.

Load: one service (metrics on, Prometheus backend, ``LOG_LEVEL=WARNING``), loaded from this
process by an asyncio client per transport with the same number of concurrent callers: a
``grpc.aio`` stub for gRPC, an ``aiohttp`` session for HTTP (one load harness for both, so the
client's own cost weighs the same on each side). Use cases: ``GetPortfolio`` /
``GET /api/v1/portfolio/pnl`` and ``PlaceOrder`` / ``POST /api/v1/orders`` (market orders of
0.0001 BTC, buy and sell in turn: each is durable, so this one is bound by the store's commits).
Rounds alternate which transport goes first. Figures are medians over rounds: calls/s, p50 and
p99 latency, the service's CPU time per call (from /proc: what the server spends, whatever the
client costs), and the gRPC/HTTP ratio of calls/s (target: >= 1.0 for each use case).

Instructions: the metrics cost of the gRPC interceptor and of the HTTP RED middleware, in
instructions per call, counted by valgrind's callgrind in a child process that drives each one
in a loop around a trivial handler, with the container's metrics port on (Prometheus) and off
(no-op). Only the measured loop is counted (callgrind dumps its counters at the ``time.sleep(0)``
that marks the loop's start and end; a warm-up loop binds the metric handles first), so
(on - off) per call is the cost of recording a call's metrics. Target: the interceptor's cost <=
the middleware's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.support.process import REPO_ROOT
from bench.common import (
    API_TOKEN,
    BenchError,
    ForeignLoad,
    Service,
    StreamTable,
    heading,
    median,
    percentile,
    positive_int,
    print_environment,
    ratio,
    verdict,
)

TRANSPORTS = ("grpc", "http")
USE_CASES = ("portfolio", "order")
INSTRUCTION_CALLS = 2000
WARMUP_CALLS = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=positive_int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per transport per use case per round (default 3)")
    parser.add_argument("--concurrency", type=positive_int, default=16, help="concurrent callers (default 16)")
    parser.add_argument("--skip-instructions", action="store_true", help="skip the callgrind measurement")


# -- load -------------------------------------------------------------------------------------------

async def _load(call: Callable[[int], Awaitable[None]], concurrency: int, duration: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + duration
    counter = iter(range(10**12))

    async def worker() -> None:
        while (started := time.perf_counter()) < deadline:
            await call(next(counter))
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - began), latencies


async def _rounds(service: Service, args: argparse.Namespace) -> dict[tuple[str, str], list[tuple[float, ...]]]:
    import aiohttp
    import grpc

    from trading_engine.v1 import trading_pb2, trading_pb2_grpc

    auth_metadata = (("authorization", f"Bearer {API_TOKEN}"),)
    auth_header = {"Authorization": f"Bearer {API_TOKEN}"}
    sides = ("buy", "sell")
    results: dict[tuple[str, str], list[tuple[float, ...]]] = {}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel, \
            aiohttp.ClientSession(base_url=service.base_url,
                                  connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
        stub = trading_pb2_grpc.TradingServiceStub(channel)
        portfolio_request = trading_pb2.GetPortfolioRequest()
        orders = [trading_pb2.PlaceOrderRequest(symbol="BTC-USD", side=trading_pb2.SIDE_BUY, quantity="0.0001"),
                  trading_pb2.PlaceOrderRequest(symbol="BTC-USD", side=trading_pb2.SIDE_SELL, quantity="0.0001")]

        async def grpc_portfolio(n: int) -> None:
            await stub.GetPortfolio(portfolio_request)

        async def http_portfolio(n: int) -> None:
            async with session.get("/api/v1/portfolio/pnl") as response:
                await response.read()
                if response.status != 200:
                    raise BenchError(f"GET /api/v1/portfolio/pnl answered {response.status}")

        async def grpc_order(n: int) -> None:
            await stub.PlaceOrder(orders[n % 2], metadata=auth_metadata)

        async def http_order(n: int) -> None:
            body = {"symbol": "BTC-USD", "side": sides[n % 2], "quantity": "0.0001"}
            async with session.post("/api/v1/orders", json=body, headers=auth_header) as response:
                await response.read()
                if response.status != 201:
                    raise BenchError(f"POST /api/v1/orders answered {response.status}")

        calls = {("portfolio", "grpc"): grpc_portfolio, ("portfolio", "http"): http_portfolio,
                 ("order", "grpc"): grpc_order, ("order", "http"): http_order}
        for call in calls.values():  # warm both paths (connections, handle caches)
            await _load(call, args.concurrency, 0.5)
        table = StreamTable([("round", 5), ("use case", 9), ("transport", 9), ("calls/s", 9), ("p50 ms", 8),
                             ("p99 ms", 8), ("server CPU us/call", 18)])
        for number in range(args.rounds):
            order = TRANSPORTS if number % 2 == 0 else TRANSPORTS[::-1]
            for use_case in USE_CASES:
                for transport in order:
                    cpu_before = service.cpu_seconds()
                    rate, latencies = await _load(calls[(use_case, transport)], args.concurrency, args.duration)
                    cpu_after = service.cpu_seconds()
                    cpu = (float("nan") if cpu_before is None or cpu_after is None
                           else (cpu_after - cpu_before) / len(latencies) * 1e6)
                    p50, p99 = percentile(latencies, 50) * 1e3, percentile(latencies, 99) * 1e3
                    results.setdefault((use_case, transport), []).append((rate, p50, p99, cpu))
                    table.row(number + 1, use_case, transport, f"{rate:.0f}", f"{p50:.2f}", f"{p99:.2f}", f"{cpu:.0f}")
                    service.check_alive()
    return results


# -- instructions -------------------------------------------------------------------------------------

def _child(kind: str, metrics: str, calls: int) -> None:
    """Run ``calls`` calls through the gRPC metrics interceptor or the HTTP RED middleware, with
    the container's metrics port (on: Prometheus, off: no-op)."""
    from collections import namedtuple

    import grpc
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from trading_engine.containers import create_container
    from trading_engine.presentation.grpc.metrics_interceptor import GrpcMetricsInterceptor
    from trading_engine.presentation.http.keys import ROUTE
    from trading_engine.presentation.http.metrics_middleware import red_metrics_middleware

    container = create_container(overrides={"metrics": {"enabled": metrics == "on"}, "grpc": {"enabled": False}})
    port = container.guarded_metrics()

    async def drive() -> None:
        if kind == "grpc":
            method = "/trading_engine.v1.TradingService/GetPortfolio"

            async def behavior(request: object, context: object) -> object:
                return request

            async def continuation(details: object) -> grpc.RpcMethodHandler:
                return grpc.unary_unary_rpc_method_handler(behavior)

            Details = namedtuple("Details", "method invocation_metadata")

            class Context:
                def code(self) -> None:
                    return None

            handler = await GrpcMetricsInterceptor(port, [method]).intercept_service(continuation, Details(method, ()))
            call, context = handler.unary_unary, Context()
            for _ in range(WARMUP_CALLS):
                await call(b"", context)
            time.sleep(0)  # callgrind dumps here: the loop below is counted alone
            for _ in range(calls):
                await call(b"", context)
            time.sleep(0)
        else:
            response = web.Response()

            async def handler(request: web.Request) -> web.StreamResponse:
                return response

            request = make_mocked_request("GET", "/api/v1/portfolio/pnl")
            request[ROUTE] = "/api/v1/portfolio/pnl"
            middleware = red_metrics_middleware(port)
            for _ in range(WARMUP_CALLS):
                await middleware(request, handler)
            time.sleep(0)  # callgrind dumps here: the loop below is counted alone
            for _ in range(calls):
                await middleware(request, handler)
            time.sleep(0)

    asyncio.run(drive())


def _per_call(kind: str, metrics: str, valgrind: str) -> float:
    """Instructions per call of the measured loop: the second of callgrind's dumps (the first
    holds the startup and the warm-up, the last the exit)."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as scratch:
        out = Path(scratch) / "callgrind.out"
        cmd = [valgrind, "--tool=callgrind", "--dump-before=time_sleep", f"--callgrind-out-file={out}",
               sys.executable, "-m", "bench.grpc", "--child", kind, metrics, str(INSTRUCTION_CALLS)]
        done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "PYTHONHASHSEED": "0"}, check=False)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} exited with {done.returncode}: {done.stderr[-500:]}")
        loop = Path(f"{out}.2")
        found = re.search(r"^summary:\s*(\d+)", loop.read_text(), re.M) if loop.exists() else None
        if not found:
            raise BenchError(f"callgrind wrote no dump of the measured loop ({loop}):\n{done.stderr[-500:]}")
        return int(found.group(1)) / INSTRUCTION_CALLS


def _measure_instructions() -> None:
    heading("Instructions per call of recording its metrics (callgrind, on - off)")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise BenchError("grpc: valgrind was not found; install it with `make test` (system tools) or "
                         "`sudo apt-get install valgrind`, or pass --skip-instructions")
    table = StreamTable([("path", 26), ("metrics on", 11), ("metrics off", 11), ("on - off", 9)])
    cost = {}
    for kind, label in (("grpc", "gRPC metrics interceptor"), ("http", "HTTP RED middleware")):
        on, off = _per_call(kind, "on", valgrind), _per_call(kind, "off", valgrind)
        cost[kind] = on - off
        table.row(label, f"{on:.0f}", f"{off:.0f}", f"{on - off:.0f}")
    print(f"\ninterceptor / middleware cost: {ratio(cost['grpc'], cost['http']):.2f} "
          f"(target <= 1.00: {verdict(cost['grpc'] <= cost['http'])})")


# -- the command --------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> None:
    heading("gRPC beside HTTP: the same use cases, one service, one run")
    print_environment()
    print(f"rounds {args.rounds} x {args.duration:g} s per transport and use case, {args.concurrency} concurrent callers")
    foreign = ForeignLoad()
    env = {"LOG_LEVEL": "WARNING", "INITIAL_CASH": "USD=100000000", "MAX_POSITION_SIZE": "100000000",
           "RISK_LIMIT_THRESHOLD": "100000000", "MARKET_VOLATILITY_BPS": "0"}
    with Service("grpc", [sys.executable, "-m", "trading_engine"], env) as service:
        service.wait_healthy()
        results = asyncio.run(_rounds(service, args))
    print()
    table = StreamTable([("use case", 9), ("transport", 9), ("calls/s", 9), ("p50 ms", 8), ("p99 ms", 8),
                         ("server CPU us/call", 18), ("gRPC/HTTP", 9), ("target", 13)])
    for use_case in USE_CASES:
        rates = {t: median([r[0] for r in results[(use_case, t)]]) for t in TRANSPORTS}
        share = ratio(rates["grpc"], rates["http"])
        for transport in TRANSPORTS:
            rows = results[(use_case, transport)]
            table.row(use_case, transport, f"{rates[transport]:.0f}", f"{median([r[1] for r in rows]):.2f}",
                      f"{median([r[2] for r in rows]):.2f}", f"{median([r[3] for r in rows]):.0f}",
                      f"{share:.2f}" if transport == "grpc" else "",
                      f">= 1.00 {verdict(share >= 1.0)}" if transport == "grpc" else "")
    report = foreign.report()
    if report:
        print(report)
    if not args.skip_instructions:
        _measure_instructions()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("usage: python -m bench grpc [options]")
