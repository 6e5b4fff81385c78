"""Scrape cost and event-loop stall.

(a) render, in process: for each series count, a PrometheusMetricsAdapter on a fresh
    CollectorRegistry holds N synthetic series; ``prometheus_client.generate_latest(registry)`` and
    the adapter's HTTP handler (ScrapeRenderer: negotiation, render in a worker thread, response)
    are timed alternately. The handler's figure excludes gzip, which aiohttp applies when it sends
    the response (off the loop for bodies over 4 KiB); gzip of the same body is timed on its own.

(b) stall, a real service: ``bench.serve_with_series`` with N series is started as a subprocess;
    a health prober (GET /api/v1/health one at a time, a short sleep between probes) runs alone
    (baseline windows) and alongside a scraper (GET /api/v1/metrics back to back, gzip, like a
    Prometheus server) in alternating windows. The prober's latency is what a request to the
    service sees while a scrape is rendering.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import zlib
from collections.abc import Callable

from bench.common import (
    BenchError,
    Service,
    StreamTable,
    ForeignLoad,
    exposition_samples,
    heading,
    median,
    positive_float,
    positive_int,
    percentile,
    print_environment,
    ratio,
    verdict,
)
from bench.series import KINDS, register_series

TARGET_HANDLER_RATIO = 1.05
TARGET_MAX_STALL_MS = 50.0
# The constant labels the service adds with its default configuration (they are in every sample).
CONSTANT_LABELS = {"service": "trading-system-engine", "instance": "trading-system-engine", "version": "0.1.0"}
SCRAPE_HEADERS = {"Accept-Encoding": "gzip"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--part", choices=("all", "render", "stall"), default="all",
                        help="render: (a) in-process render cost; stall: (b) loop stall in a real "
                        "service; all (default): both")
    parser.add_argument("--kind", choices=KINDS, default="counter",
                        help="series kind for both parts (default counter; see bench/series.py)")
    parser.add_argument("--series", type=positive_int, nargs="+", default=[1_000, 10_000], metavar="N",
                        help="(a) series counts to render (default 1000 10000)")
    parser.add_argument("--reps", type=positive_int, default=15,
                        help="(a) timed repetitions of each of generate_latest and the handler (default 15)")
    parser.add_argument("--stall-series", type=positive_int, default=10_000, metavar="N",
                        help="(b) series registered in the service (default 10000)")
    parser.add_argument("--window", type=positive_float, default=5.0,
                        help="(b) seconds per measurement window (default 5)")
    parser.add_argument("--stall-rounds", type=positive_int, default=2,
                        help="(b) rounds of one baseline and one under-scrape window, order swapped "
                        "each round (default 2)")
    parser.add_argument("--server-switch-interval", type=float, default=None, metavar="SECONDS",
                        help="(b) experiment: sys.setswitchinterval in the service (default: Python's 0.005)")
    parser.add_argument("--server-gc-freeze", action="store_true",
                        help="(b) experiment: gc.freeze() in the service once the series are registered")
    parser.add_argument("--probe-interval", type=float, default=0.005,
                        help="(b) seconds between health probes (default 0.005)")


def run(args: argparse.Namespace) -> None:
    if args.part in ("all", "render"):
        asyncio.run(render_part(args))
    if args.part in ("all", "stall"):
        stall_part(args)


# -- (a) render cost, in process ----------------------------------------------------------------


async def render_part(args: argparse.Namespace) -> None:
    from aiohttp.test_utils import make_mocked_request
    from prometheus_client import CollectorRegistry, generate_latest

    from trading_engine.infrastructure.observability.prometheus import PrometheusMetricsAdapter

    heading("scrape (a): render cost in process, generate_latest vs the adapter's handler")
    print_environment()
    foreign = ForeignLoad()
    print(f"series kind: {args.kind}; {args.reps} alternating repetitions of each per size "
          "(order swapped every repetition), 2 unrecorded warm-ups each; text format 0.0.4")
    print()
    rows = StreamTable([("series", 6), ("samples", 7), ("body KiB", 8), ("gzip KiB", 8),
                        ("generate_latest ms median [min..max]", 24), ("handler ms median [min..max]", 24),
                        (f"handler/gen (target <= {TARGET_HANDLER_RATIO})", 14), ("handler-gen ms", 8),
                        ("gzip ms", 7)])
    for count in args.series:
        registry = CollectorRegistry()
        adapter = PrometheusMetricsAdapter(
            CONSTANT_LABELS, registry, max_series_per_metric=max(20_000, count + 1)
        )
        register_series(adapter, count, args.kind)
        handler = adapter.get_http_handler()
        request = make_mocked_request(
            "GET", "/api/v1/metrics", headers={"Accept": "text/plain", "Accept-Encoding": "gzip"}
        )

        # The handler must serve the same exposition as generate_latest.
        response = await handler(request)
        body = generate_latest(registry)
        if response.status != 200 or not response.content_type.startswith("text/plain"):
            raise BenchError(f"handler answered {response.status} {response.content_type}")
        served = response.body
        if not isinstance(served, bytes) or abs(len(served) - len(body)) > 0.01 * len(body) + 200:
            raise BenchError(f"handler body ({len(served or b'')} bytes) differs from generate_latest ({len(body)} bytes)")
        samples = len(exposition_samples(body.decode()))

        async def time_handler() -> float:
            started = time.perf_counter()
            resp = await handler(request)
            elapsed = time.perf_counter() - started
            if resp.status != 200:
                raise BenchError(f"handler answered {resp.status}")
            return elapsed

        def time_generate() -> float:
            started = time.perf_counter()
            generate_latest(registry)
            return time.perf_counter() - started

        for _ in range(2):
            time_generate()
            await time_handler()
        gen_times: list[float] = []
        handler_times: list[float] = []
        for rep in range(args.reps):
            for which in (("gen", "handler") if rep % 2 == 0 else ("handler", "gen")):
                gc.collect()
                if which == "gen":
                    gen_times.append(time_generate())
                else:
                    handler_times.append(await time_handler())
        gzip_times = []
        for _ in range(5):
            started = time.perf_counter()
            compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
            gzipped = compressor.compress(body) + compressor.flush()
            gzip_times.append(time.perf_counter() - started)

        gen_ms = median(gen_times) * 1e3
        handler_ms = median(handler_times) * 1e3
        rows.row(
            f"{count:,}", f"{samples:,}", f"{len(body) / 1024:,.0f}", f"{len(gzipped) / 1024:,.0f}",
            f"{gen_ms:.2f} [{min(gen_times) * 1e3:.2f}..{max(gen_times) * 1e3:.2f}]",
            f"{handler_ms:.2f} [{min(handler_times) * 1e3:.2f}..{max(handler_times) * 1e3:.2f}]",
            f"{ratio(handler_ms, gen_ms):.3f} ({verdict(ratio(handler_ms, gen_ms) <= TARGET_HANDLER_RATIO)})",
            f"{handler_ms - gen_ms:+.2f}", f"{median(gzip_times) * 1e3:.2f}",
        )
        del adapter, registry
    print("samples: sample lines in the exposition, runtime collectors (process, platform, gc) included; "
          "gzip ms: gzip of the body, which aiohttp does off the loop when it sends the response")
    competing = foreign.report()
    if competing:
        print(competing)


# -- (b) loop stall in a real service -----------------------------------------------------------


def stall_part(args: argparse.Namespace) -> None:
    heading(f"scrape (b): health latency while {args.stall_series:,} series are scraped back to back")
    print_environment()
    foreign = ForeignLoad()
    command = [sys.executable, "-m", "bench.serve_with_series", "--series", str(args.stall_series), "--kind", args.kind]
    if args.server_switch_interval is not None:
        command += ["--switch-interval", str(args.server_switch_interval)]
    if args.server_gc_freeze:
        command.append("--gc-freeze")
    service = Service(
        "series",
        command,
        {"LOG_LEVEL": "WARNING", "LOG_FORMAT": "json", "ENVIRONMENT": "testing", "METRICS_ENABLED": "true",
         "METRICS_BACKEND": "prometheus", "METRICS_BEARER_TOKEN": ""},
    )
    try:
        service.start()
        service.wait_healthy()
        status, body = service.get("/api/v1/metrics", headers={"Accept-Encoding": "identity"})
        if status != 200:
            raise BenchError(f"/api/v1/metrics answered {status}")
        bench_samples = sum(1 for s in exposition_samples(body.decode()) if s.name.startswith("bench_series"))
        if bench_samples < args.stall_series:
            raise BenchError(f"the service exposes {bench_samples} bench_series samples; expected at "
                             f"least {args.stall_series}")
        print(f"service: {' '.join(service.args[2:])}, LOG_LEVEL=WARNING; "
              f"exposition {len(body) / 1024:,.0f} KiB uncompressed, {bench_samples:,} bench samples")
        print(f"windows: {args.stall_rounds} x (baseline, under scrape), {args.window:g} s each, order swapped "
              f"every round; probe: GET /api/v1/health, one at a time, {args.probe_interval * 1e3:g} ms apart; "
              "scraper: GET /api/v1/metrics back to back, Accept-Encoding: gzip")
        print()
        rows = StreamTable([("window", 8), ("probes", 6), ("p50 ms", 6), ("p99 ms", 6), ("max ms", 6),
                            ("scrapes", 7), ("scrape ms median", 16)])

        def show(w: Window) -> None:
            rows.row(w.name, f"{len(w.probes):,}", *_latency_cells(w.probes), f"{len(w.scrapes):,}",
                     f"{median(w.scrapes) * 1e3:.1f}" if w.scrapes else "-")

        windows = asyncio.run(_windows(service, args, show))
        service.check_alive()
    finally:
        service.stop()

    base = [p for w in windows if w.name == "baseline" for p in w.probes]
    under = [p for w in windows if w.name == "scrape" for p in w.probes]
    scrapes = [s for w in windows for s in w.scrapes]
    sizes = [b for w in windows for b in w.scrape_bytes]
    print()
    print(f"scrapes done:              {len(scrapes):,} in {args.window * args.stall_rounds:g} s, median "
          f"{median(scrapes) * 1e3:.1f} ms, {median(sizes) / 1024:,.0f} KiB gzipped")
    print(f"health probes, baseline:   {len(base):,}  p50 {_ms(percentile(base, 50))}  p99 {_ms(percentile(base, 99))}"
          f"  max {_ms(max(base))} ms")
    print(f"health probes, scraping:   {len(under):,}  p50 {_ms(percentile(under, 50))}  p99 {_ms(percentile(under, 99))}"
          f"  max {_ms(max(under))} ms   (target max < {TARGET_MAX_STALL_MS:g} ms: "
          f"{verdict(max(under) * 1e3 < TARGET_MAX_STALL_MS)})")
    print(f"scraping/baseline:         p50 x{ratio(percentile(under, 50), percentile(base, 50)):.2f}  "
          f"p99 x{ratio(percentile(under, 99), percentile(base, 99)):.2f}  max x{ratio(max(under), max(base)):.2f}")
    competing = foreign.report()
    if competing:
        print(competing)


class Window:
    def __init__(self, name: str) -> None:
        self.name = name
        self.probes: list[float] = []
        self.scrapes: list[float] = []
        self.scrape_bytes: list[int] = []


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def _latency_cells(probes: list[float]) -> list[str]:
    if not probes:
        return ["-", "-", "-"]
    return [_ms(percentile(probes, 50)), _ms(percentile(probes, 99)), _ms(max(probes))]


async def _windows(
    service: Service, args: argparse.Namespace, show: Callable[[Window], None]
) -> list[Window]:
    import aiohttp

    health_url = f"{service.base_url}/api/v1/health"
    metrics_url = f"{service.base_url}/api/v1/metrics"
    timeout = aiohttp.ClientTimeout(total=30)
    # Separate sessions, one connection each (kept alive). The scraper does not decompress: the
    # bench process only counts the bytes, so its own work barely delays the prober's timing.
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) as probe_session,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout,
                              auto_decompress=False) as scrape_session,
    ):
        async def probe_until(deadline: float, window: Window) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with probe_session.get(health_url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise BenchError(f"GET /api/v1/health answered {resp.status}")
                window.probes.append(time.perf_counter() - started)
                await asyncio.sleep(args.probe_interval)

        async def scrape_until(deadline: float, window: Window) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with scrape_session.get(metrics_url, headers=SCRAPE_HEADERS) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise BenchError(f"GET /api/v1/metrics answered {resp.status}")
                window.scrapes.append(time.perf_counter() - started)
                window.scrape_bytes.append(len(body))

        # Warm-up, unrecorded: connections open, code paths hot.
        warm = Window("warm-up")
        deadline = time.perf_counter() + 1.0
        await asyncio.gather(probe_until(deadline, warm), scrape_until(deadline, warm))

        windows: list[Window] = []
        for round_no in range(args.stall_rounds):
            for name in (("baseline", "scrape") if round_no % 2 == 0 else ("scrape", "baseline")):
                window = Window(name)
                deadline = time.perf_counter() + args.window
                tasks = [probe_until(deadline, window)]
                if name == "scrape":
                    tasks.append(scrape_until(deadline, window))
                await asyncio.gather(*tasks)
                windows.append(window)
                show(window)
    return windows
