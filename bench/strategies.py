"""Strategy runtime under load: 1, 10 and 50 ``market_making`` instances on the simulated feed.

For each instance count (``--counts``) a fresh service is started (its own SQLite file, durable
``synchronous=FULL`` as deployed, ``LOG_LEVEL=WARNING`` by default), the instances are started
through ``POST /api/v1/strategies/start``, the feed runs for ``--warmup`` seconds unrecorded, then
a measurement window of ``--duration`` seconds is taken and the service is stopped. The
configurations run one after the other in one run; with ``--rounds`` above 1 the whole sequence is
repeated with its order rotated, each time on a fresh service, and the summary shows medians over
rounds.

The feed: ``MARKET_TICK_INTERVAL_SECONDS=0.1`` (ten price steps a second instead of four) and
``MARKET_VOLATILITY_BPS=5`` (one step's standard deviation, the default). Every instance runs with
the same pinned parameters (``PARAMS``: spread 20 bps, quote size 0.01, max inventory 0.1, skew
10 bps, ``requote_bps`` 5), so its quotes are cancelled and replaced every three ticks or so and
now and then filled: every instance keeps deciding and trading. ``--params`` overrides some. By default all instances quote BTC-USD: every tick then reaches
every instance at once and their orders all meet in one symbol's book and risk checks, the worst
case for the shared tick (``--symbols BTC-USD ETH-USD ETH-BTC`` spreads them round-robin). The
account and the limits are far above what the run trades (cash, ``MAX_POSITION_SIZE``,
``RISK_LIMIT_THRESHOLD``, ``STRATEGY_MAX_ORDERS_PER_SECOND``), so no instance is refused or
contained; the refusals column proves it.

Figures per window (counters over the time between the two scrapes of ``/api/v1/metrics`` taken
around it):

* ticks/s: the sum over instances of the growth of ``ticks_processed`` (``GET
  /api/v1/strategies/{id}/performance``), each divided by the time between its two snapshots;
  "of feed" compares it with what the feed offers (instances / tick interval). Ticks that reach an
  instance while it is still busy are coalesced into the newest, so a shortfall means the runtime
  fell behind the feed.
* decisions/s and decision latency: ``trading_strategy_decision_seconds`` (from the price tick
  reaching the runtime to the strategy handing it its intents, which the runtime then submits
  through the order use case: every instance a tick reaches decides before any places orders;
  order handling is what ``orders placed/s`` and the health probe show; only ticks that produce an
  intent are observed). From the service's histogram: the bucket counts scraped from
  ``/api/v1/metrics`` before and after the window, subtracted, and the quantiles interpolated as
  PromQL's ``histogram_quantile`` does (linearly inside the bucket holding the rank; a rank in the
  ``+Inf`` bucket answers the highest finite bound). The buckets are coarse (100, 250, 500 us, 1,
  2.5, 5, 10 ms ...), so "<=5 ms" (the share of decisions in the ``le="0.005"`` bucket, exact) is
  what the p99 target is judged on. With ``--exact`` (the default) the service is started through
  ``python -m bench.strategies serve``, which is the service with a recorder on the metrics port:
  every decision value the histogram receives is also kept with its time, and the exact p50, p99
  and maximum over the window are printed beside the interpolated ones.
* orders/s: accepted orders (``order_processing_seconds_count``, every order that passed risk and
  reached the venue) and cancellations (``orders_total{status="cancelled"}``); fills/s from
  ``trading_strategy_trades_total``; refused: ``trading_risk_limit_breaches_total`` (any limit).
* health: ``GET /api/v1/health`` from a prober in this process, one request at a time with
  ``--probe-interval`` (10 ms) between them, during the whole window: p50, p99 and maximum.
* service CPU: CPU seconds the service process used per second of window (above 1.0 means the
  SQLite writer thread worked beside a saturated event loop); gc2: full garbage collections in the
  service during the window (``python_gc_collections_total{generation="2"}``), each of which stops
  its event loop for as long as it takes to traverse the heap.

Targets, judged on the 50-instance configuration (shown for every one): decision p99 < 5 ms (met
when at least 99% of the window's decisions are in the 5 ms bucket) and health p99 < 20 ms on a
2-core machine. With several rounds the summary gives the median of the rounds' figures (the
exact decision quantiles pool every round's decisions). ``--profile DIR`` runs each service under cProfile (its
event-loop thread), saves ``DIR/strategies-<N>-r<round>.prof`` and prints where the time went; the
figures of a profiled run are inflated by the profiler.

``--with-backtest`` measures what a backtest costs the live service: after each configuration's
window, in the same service, a backtest is submitted through ``POST /api/v1/backtests``
(``momentum`` on 1-minute bars, ``fast`` 10, ``slow`` 20, as ``bench backtest`` runs it) on a file of
seeded synthetic bars written once under the service's ``backtests.data_dir`` (``--backtest-bars``;
by default enough for the window at 20,000 bars a second, more than the engine replays), and once it
is running and has processed events a second window is measured exactly as the first. Its row
(``bt``: ``yes``) shows the health and decision figures beside the first's, plus the events per
second the backtest processed in its worker process during the window (``bt ev/s``, from ``GET
/api/v1/backtests/{id}``). A backtest that is no longer running when the window ends is flagged (the
window was not all under load: raise ``--backtest-bars``); it is cancelled (``DELETE``) afterwards,
and the service's record of it ended before anything else is measured. The two windows' order
alternates with the rounds: odd rounds measure the one without a backtest first, even rounds the one
with, so over an even number of rounds neither is always measured on the older service; rows are
printed in the order measured and the summary gives the median over rounds of each. The service's
CPU column counts the service process only, not the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
import urllib.error
import urllib.request
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client.samples import Sample

from bench.common import (
    API_TOKEN,
    BenchError,
    ForeignLoad,
    Service,
    StreamTable,
    exposition_samples,
    heading,
    median,
    percentile,
    positive_float,
    positive_int,
    print_environment,
    sample_total,
    verdict,
)
from bench.overhead import LOG_LEVELS

if TYPE_CHECKING:
    import aiohttp

DECISION_METRIC = "trading_strategy_decision_seconds"
TARGET_COUNT = 50
TARGET_DECISION_P99_MS = 5.0
TARGET_HEALTH_P99_MS = 20.0
STRATEGY = "market_making"
# The workload is pinned, so that a change of the strategy's defaults does not silently change what
# is measured. With the feed below, requote_bps 5 makes every instance cancel and replace its two
# quotes every three ticks or so, and a fill now and then.
PARAMS = {"spread_bps": "20", "quote_size": "0.01", "max_inventory": "0.1", "skew_bps": "10", "requote_bps": "5"}
SYMBOLS = ("BTC-USD", "ETH-USD", "ETH-BTC")
# The backtest of --with-backtest: bench backtest's moving-average crossover.
# Its own cash: the service's INITIAL_CASH holds BTC, which a backtest must value before its first bar.
BACKTEST = {"strategy": "momentum", "symbol": "BTC-USD", "data": ["bars.csv"], "cash": "USD=100000",
            "params": {"fast": 10, "slow": 20, "position_size": "0.01", "bar_interval": "1m"}}
BACKTEST_BARS_PER_SECOND = 20_000  # above what the engine replays (README: about 13,000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--counts", type=positive_int, nargs="+", default=[1, 10, 50], metavar="N",
                        help="market-making instances per configuration (default 1 10 50)")
    parser.add_argument("--duration", type=positive_float, default=15.0,
                        help="seconds of measurement window per configuration (default 15)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds the instances run unrecorded before the window (default 5)")
    parser.add_argument("--rounds", type=positive_int, default=1,
                        help="repeat the configurations, order rotated, a fresh service each time (default 1)")
    parser.add_argument("--symbols", nargs="+", choices=SYMBOLS, default=["BTC-USD"], metavar="SYMBOL",
                        help="symbols the instances quote, assigned round-robin (default BTC-USD: every "
                             "instance on the same tick and book, the most contention)")
    parser.add_argument("--tick-interval", type=positive_float, default=0.1,
                        help="MARKET_TICK_INTERVAL_SECONDS (default 0.1; the service's default is 0.25)")
    parser.add_argument("--volatility-bps", type=float, default=5.0,
                        help="MARKET_VOLATILITY_BPS, one price step's standard deviation (default 5)")
    parser.add_argument("--params", type=json.loads, default={}, metavar="JSON",
                        help="market_making params that replace the pinned ones for every instance, e.g. "
                             "'{\"requote_bps\": \"10\"}' (pinned: " + json.dumps(PARAMS) + ")")
    parser.add_argument("--probe-interval", type=positive_float, default=0.010,
                        help="seconds between two health probes (default 0.010)")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default="WARNING",
                        help="LOG_LEVEL of the service (default WARNING: no access log line per probe; "
                             "INFO adds one log line per request and per order)")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL",
                        help="SQLite synchronous mode (default FULL, as deployed)")
    parser.add_argument("--exact", action=argparse.BooleanOptionalAction, default=True,
                        help="record every decision latency in the service (bench.strategies serve) for "
                             "exact quantiles beside the histogram's (default on; --no-exact runs "
                             "python -m trading_engine unchanged)")
    parser.add_argument("--with-backtest", action="store_true",
                        help="after each window, measure a second one in the same service while a backtest "
                             "submitted through POST /api/v1/backtests runs in its worker process")
    parser.add_argument("--backtest-bars", type=positive_int, default=None, metavar="N",
                        help="synthetic 1-minute bars of the backtest's file (default: "
                             f"{BACKTEST_BARS_PER_SECOND:,} per second of --duration, plus 20 s)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="run each service under cProfile, save the profiles in DIR and print the "
                             "top functions (inflates every figure)")


# -- the service with a decision recorder ---------------------------------------------------------


def serve(argv: Sequence[str]) -> int:
    """``python -m bench.strategies serve --record PATH``: the service as ``python -m
    trading_engine`` runs it (same configuration from the environment), with every value given to
    ``trading_strategy_decision_seconds`` also kept with its ``time.monotonic()`` (the same clock in
    every process on Linux), written to PATH as pairs of doubles when the service has stopped."""
    parser = argparse.ArgumentParser(prog="python -m bench.strategies serve")
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args(argv)

    from trading_engine.application import run
    from trading_engine.containers import create_container
    from trading_engine.infrastructure.config import resolve_config_path

    container = create_container(resolve_config_path(None))
    port = container.metrics_port()  # the singleton the app will use
    recorded = array("d")
    original = port.histogram  # the runtime binds a handle per strategy through this

    class RecordingHandle:
        def __init__(self, handle: Any) -> None:
            self._handle = handle

        def observe(self, value: float) -> None:
            recorded.append(time.monotonic())
            recorded.append(value)
            self._handle.observe(value)

    def histogram(name: str, labels: object = None) -> Any:
        handle = original(name, labels)
        return RecordingHandle(handle) if name == DECISION_METRIC else handle

    port.histogram = histogram
    try:
        run(container)
    finally:
        with open(args.record, "wb") as out:
            recorded.tofile(out)
    return 0


def read_record(path: Path, start: float, end: float) -> list[float] | None:
    try:
        data = array("d")
        data.frombytes(path.read_bytes())
    except OSError:
        return None
    return [data[i + 1] for i in range(0, len(data) - 1, 2) if start <= data[i] <= end]


# -- Prometheus samples: histogram buckets and histogram_quantile ------------------------------------


def buckets(samples: Sequence[Sample], metric: str) -> dict[float, float]:
    """Cumulative bucket counts by upper bound, summed over every label set of ``metric``."""
    out: dict[float, float] = {}
    for sample in samples:
        if sample.name == f"{metric}_bucket":
            le = float(sample.labels["le"])
            out[le] = out.get(le, 0.0) + sample.value
    return out


def histogram_quantile(q: float, cumulative: dict[float, float]) -> float:
    """PromQL's ``histogram_quantile`` over cumulative bucket counts ``{upper bound: count}``
    (``+Inf`` included): the bucket holding rank ``q * total`` is found and the value interpolated
    linearly between its lower and upper bound (the first bucket starts at 0); a rank in the
    ``+Inf`` bucket answers the highest finite bound. NaN without observations."""
    bounds = sorted(cumulative)
    if len(bounds) < 2 or not math.isinf(bounds[-1]):
        return float("nan")
    counts = []
    for bound in bounds:  # cumulative counts never decrease (PromQL fixes them up the same way)
        counts.append(max(cumulative[bound], counts[-1] if counts else 0.0))
    observations = counts[-1]
    if observations <= 0:
        return float("nan")
    rank = q * observations
    b = next(i for i, c in enumerate(counts) if c >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count) if count else end


# -- one configuration ------------------------------------------------------------------------------


@dataclass
class Result:
    count: int
    round_no: int
    backtest: bool = False  # measured while a backtest ran
    backtest_events_per_second: float = float("nan")
    backtest_ran_throughout: bool = True
    window: float = 0.0
    ticks_per_second: float = 0.0
    feed_ticks_per_second: float = 0.0
    decisions: float = 0.0
    decision_p50: float = float("nan")  # seconds, interpolated from the histogram
    decision_p99: float = float("nan")
    within_target: float = float("nan")  # share of decisions <= 5 ms (exact: a bucket bound)
    exact: list[float] | None = None  # recorded decision latencies in the window, seconds
    placed: float = 0.0
    cancelled: float = 0.0
    fills: float = 0.0
    refused: float = 0.0
    probes: list[float] = field(default_factory=list)
    cpu: float | None = None
    gc2: float = 0.0  # full (generation 2) garbage collections in the service
    not_running: list[str] = field(default_factory=list)

    def rate(self, value: float) -> float:
        return value / self.window if self.window else float("nan")


def _get(service: Service, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{service.base_url}{path}", timeout=30) as resp:
        return dict(json.loads(resp.read()))


def _delete(service: Service, path: str) -> None:
    request = urllib.request.Request(f"{service.base_url}{path}", method="DELETE",
                                     headers={"Authorization": f"Bearer {API_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:  # 409 when it finished meanwhile
        exc.read()


def _start_backtest(service: Service) -> tuple[str, float, int]:
    """Submit the backtest and wait until its worker reports events: its id, and the time and event
    count of the last answer."""
    status, body = service.post_json("/api/v1/backtests", BACKTEST)
    if status != 202:
        raise BenchError(f"POST /api/v1/backtests answered {status}: {body}")
    backtest_id = str(body["backtest_id"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = _get(service, f"/api/v1/backtests/{backtest_id}")
        if record["status"] not in ("queued", "running"):
            raise BenchError(f"backtest {backtest_id} is {record['status']} before the window: {record['error']}")
        if record["status"] == "running" and record["events"] > 0:
            return backtest_id, time.monotonic(), int(record["events"])
        time.sleep(0.1)
    raise BenchError(f"backtest {backtest_id} reported no events within 60 s")


def _stop_backtest(service: Service, backtest_id: str) -> None:
    """Cancel the backtest and wait until the service records it ended (its worker is gone)."""
    _delete(service, f"/api/v1/backtests/{backtest_id}")
    deadline = time.monotonic() + 30
    while _get(service, f"/api/v1/backtests/{backtest_id}")["status"] in ("queued", "running"):
        if time.monotonic() > deadline:
            raise BenchError(f"backtest {backtest_id} still running 30 s after it was cancelled")
        time.sleep(0.1)


def backtest_first(args: argparse.Namespace, round_no: int) -> bool:
    """With ``--with-backtest``: whether round ``round_no`` measures the window with a backtest
    before the one without (even rounds do)."""
    return bool(args.with_backtest) and round_no % 2 == 0


def market_maker_environment(*, log_level: str, synchronous: str, tick_interval: float, volatility_bps: float,
                             instances: int) -> dict[str, str]:
    """The service's environment for ``instances`` market makers on the simulated feed, with an
    account and limits that refuse nothing (``bench soak`` runs them too)."""
    return {
        "LOG_LEVEL": log_level, "LOG_FORMAT": "json", "ENVIRONMENT": "testing",
        "METRICS_ENABLED": "true", "METRICS_BACKEND": "prometheus", "METRICS_BEARER_TOKEN": "",
        "TRADING_ENGINE_DB_SYNCHRONOUS": synchronous,
        "MARKET_TICK_INTERVAL_SECONDS": f"{tick_interval:g}",
        "MARKET_VOLATILITY_BPS": f"{volatility_bps:g}",
        # Room for every quote of every instance: nothing is refused for cash or exposure (ETH-BTC
        # buys are paid in BTC).
        "INITIAL_CASH": "USD=1000000000,BTC=1000000",
        "MAX_POSITION_SIZE": "1000000000", "RISK_LIMIT_THRESHOLD": "1000000000",
        # Per instance: a market maker places at most two quotes per tick; it never needs more.
        "STRATEGY_MAX_ORDERS_PER_SECOND": "100", "STRATEGY_MAX_OPEN_ORDERS": "10",
        "STRATEGIES_MAX_INSTANCES": str(max(100, instances)),
        "STRATEGIES_RESUME_ON_START": "false",
    }


def _environment(args: argparse.Namespace) -> dict[str, str]:
    return market_maker_environment(log_level=args.log_level, synchronous=args.synchronous,
                                    tick_interval=args.tick_interval, volatility_bps=args.volatility_bps,
                                    instances=max(args.counts))


def _command(args: argparse.Namespace, count: int, round_no: int, record: Path | None) -> list[str]:
    command = [sys.executable]
    if args.profile is not None:
        command += ["-m", "cProfile", "-o", str(args.profile.resolve() / f"strategies-{count}-r{round_no}.prof")]
    if record is not None:
        return [*command, "-m", "bench.strategies", "serve", "--record", str(record)]
    return [*command, "-m", "trading_engine"]


async def _snapshot(session: aiohttp.ClientSession, service: Service,
                    ids: Sequence[str]) -> dict[str, tuple[float, dict[str, object]]]:
    """Each instance's performance, with the time its answer arrived."""
    out = {}
    for strategy_id in ids:
        async with session.get(f"{service.base_url}/api/v1/strategies/{strategy_id}/performance") as resp:
            body = await resp.json()
            if resp.status != 200:
                raise BenchError(f"performance of {strategy_id} answered {resp.status}: {body}")
        out[strategy_id] = (time.monotonic(), body)
    return out


async def _scrape(session: aiohttp.ClientSession,
                  service: Service) -> tuple[float, float, list[Sample]]:
    """The exposition, with the times the request was sent and its answer arrived."""
    sent = time.monotonic()
    async with session.get(f"{service.base_url}/api/v1/metrics") as resp:
        text = await resp.text()
        if resp.status != 200:
            raise BenchError(f"/api/v1/metrics answered {resp.status}")
    return sent, time.monotonic(), exposition_samples(text)


async def _window(service: Service, ids: Sequence[str], args: argparse.Namespace, result: Result) -> tuple[float, float]:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) as probe_session,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) as session,
    ):
        health_url = f"{service.base_url}/api/v1/health"

        async def probe_until(deadline: float, into: list[float]) -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with probe_session.get(health_url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise BenchError(f"GET /api/v1/health answered {resp.status}")
                into.append(time.perf_counter() - started)
                await asyncio.sleep(args.probe_interval)

        await probe_until(time.monotonic() + 0.5, [])  # connection open, unrecorded
        _, counters_start, metrics_before = await _scrape(session, service)
        perf_before = await _snapshot(session, service, ids)
        cpu_before, start = service.cpu_seconds(), time.monotonic()
        await probe_until(start + args.duration, result.probes)
        perf_after = await _snapshot(session, service, ids)
        counters_end, _, metrics_after = await _scrape(session, service)
        cpu_after, end = service.cpu_seconds(), time.monotonic()

    # Counters (the histogram included) over the time between the two scrapes (from the first's
    # answer to the second's request); each instance's ticks over the time between its own two
    # performance answers, which lie inside it.
    result.window = counters_end - counters_start
    result.ticks_per_second = sum(
        (perf_after[i][1]["ticks_processed"] - perf_before[i][1]["ticks_processed"]) / (perf_after[i][0] - perf_before[i][0])
        for i in ids
    )
    result.feed_ticks_per_second = len(ids) / args.tick_interval
    result.not_running = [f"{i} {body['status']}" for i, (_, body) in perf_after.items() if body["status"] != "running"]

    before, after = buckets(metrics_before, DECISION_METRIC), buckets(metrics_after, DECISION_METRIC)
    delta = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
    result.decisions = delta.get(math.inf, 0.0)
    result.decision_p50 = histogram_quantile(0.50, delta)
    result.decision_p99 = histogram_quantile(0.99, delta)
    if result.decisions:
        result.within_target = delta.get(TARGET_DECISION_P99_MS / 1e3, float("nan")) / result.decisions

    def grew(name: str, **where: str) -> float:
        return sample_total(metrics_after, name, **where) - sample_total(metrics_before, name, **where)

    result.placed = grew("order_processing_seconds_count")
    result.cancelled = grew("orders_total", status="cancelled")
    result.fills = grew("trading_strategy_trades_total")
    result.refused = grew("trading_risk_limit_breaches_total")
    result.gc2 = grew("python_gc_collections_total", generation="2")
    if cpu_before is not None and cpu_after is not None:
        result.cpu = (cpu_after - cpu_before) / (end - start)
    return counters_start, counters_end


def run_configuration(args: argparse.Namespace, count: int, round_no: int, scratch: Path) -> list[Result]:
    """The configuration's window, and with ``--with-backtest`` a second one in the same service
    while a backtest runs, before or after the first (``backtest_first``); in the order measured."""
    record = scratch / f"decisions-{count}-r{round_no}.bin" if args.exact else None
    environment = _environment(args)
    if args.with_backtest:
        environment["BACKTESTS_DATA_DIR"] = str(scratch / "history")
        environment["BACKTESTS_RESULTS_DIR"] = str(scratch / f"backtests-{count}-r{round_no}")
    service = Service(f"strategies-{count}", _command(args, count, round_no, record), environment)
    results = [Result(count, round_no)]
    if args.with_backtest:
        results.append(Result(count, round_no, backtest=True))
    # which window comes first in the service's life alternates with the rounds (odd: without a
    # backtest first), so that neither is always the one measured on the older service
    order = results[::-1] if backtest_first(args, round_no) else results
    windows: list[tuple[float, float]] = []  # in the order measured
    try:
        service.start()
        service.wait_healthy()
        ids = []
        for n in range(count):
            symbol = args.symbols[n % len(args.symbols)]
            status, body = service.post_json("/api/v1/strategies/start",
                                              {"strategy": STRATEGY, "symbol": symbol, "params": {**PARAMS, **args.params}})
            if status != 201:
                raise BenchError(f"starting instance {n + 1} of {count} answered {status}: {body}")
            ids.append(str(body["strategy_id"]))
        time.sleep(max(0.0, args.warmup))
        service.check_alive()
        for measured in order:
            if measured.backtest:
                backtest_id, started, events = _start_backtest(service)
                windows.append(asyncio.run(_window(service, ids, args, measured)))
                after = _get(service, f"/api/v1/backtests/{backtest_id}")
                measured.backtest_events_per_second = (int(after["events"]) - events) / (time.monotonic() - started)
                measured.backtest_ran_throughout = after["status"] == "running"
                _stop_backtest(service, backtest_id)
            else:
                windows.append(asyncio.run(_window(service, ids, args, measured)))
            service.check_alive()
    finally:
        service.stop()
    if record is not None:
        for measured, window in zip(order, windows):
            measured.exact = read_record(record, *window)
            if measured.exact is None:
                raise BenchError(f"{service.label}: the decision record {record} was not written")
    return order


# -- printing -----------------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None or math.isnan(seconds) else f"{seconds * 1e3:.2f}"


def _exact(values: list[float] | None, pct: float | None) -> float | None:
    if not values:
        return None
    return max(values) if pct is None else percentile(values, pct)


def _row(rows: StreamTable, r: Result) -> None:
    probes = r.probes
    rows.row(
        r.round_no, r.count, "yes" if r.backtest else "no",
        "-" if math.isnan(r.backtest_events_per_second) else f"{r.backtest_events_per_second:,.0f}",
        f"{r.ticks_per_second:,.1f}", f"{r.ticks_per_second / r.feed_ticks_per_second:.0%}",
        f"{r.rate(r.decisions):,.1f}", _ms(r.decision_p50), _ms(r.decision_p99),
        "-" if math.isnan(r.within_target) else f"{r.within_target:.2%}",
        _ms(_exact(r.exact, 50)), _ms(_exact(r.exact, 99)), _ms(_exact(r.exact, None)),
        f"{r.rate(r.placed):,.1f}", f"{r.rate(r.cancelled):,.1f}", f"{r.rate(r.fills):,.1f}", f"{r.refused:,.0f}",
        _ms(percentile(probes, 50) if probes else None), _ms(percentile(probes, 99) if probes else None),
        _ms(max(probes) if probes else None), "-" if r.cpu is None else f"{r.cpu:.2f}", f"{r.gc2:.0f}",
    )


def _print_profile(path: Path, lines: int = 18) -> None:
    """The service's own functions (``trading_engine``) by own time and by cumulative time; the
    event loop's idle wait (``epoll.poll``) and the libraries are left out of the listing."""
    import io
    import pstats

    if not path.exists():
        print(f"profile {path}: not written")
        return
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(str(path), stream=out)
        stats.sort_stats(key).print_stats(r"trading_engine/", lines)
        text = out.getvalue()
        body = text[text.find("   ncalls"):] if "   ncalls" in text else text
        print(f"\nprofile {path.name}: trading_engine functions, top {lines} by {key}:\n{body.rstrip()}")


def run(args: argparse.Namespace) -> None:
    heading(f"strategies: {', '.join(map(str, args.counts))} market-making instances on the simulated feed")
    print_environment()
    foreign = ForeignLoad()
    placement = ("all on " + args.symbols[0]) if len(args.symbols) == 1 else "round-robin over " + ", ".join(args.symbols)
    print(f"service: LOG_LEVEL={args.log_level}, SQLite synchronous={args.synchronous}, metrics on (prometheus), "
          f"{'decision recorder on (bench.strategies serve)' if args.exact else 'python -m trading_engine'}"
          f"{', under cProfile' if args.profile else ''}")
    print(f"feed: tick every {args.tick_interval:g} s, volatility {args.volatility_bps:g} bps per tick; "
          f"instances: {STRATEGY} {json.dumps({**PARAMS, **args.params})}, {placement}; "
          "cash and limits far above what the run trades")
    print(f"per configuration: a fresh service and database, {args.warmup:g} s warm-up, {args.duration:g} s window; "
          f"health probe every {args.probe_interval * 1e3:g} ms, one at a time; {args.rounds} round(s)")
    if args.with_backtest:
        bars = args.backtest_bars or int(BACKTEST_BARS_PER_SECOND * (args.duration + 20))
        print(f"with a backtest: a second window per configuration, same service, while POST /api/v1/backtests "
              f"runs {BACKTEST['strategy']} {json.dumps(BACKTEST['params'])} on {bars:,} synthetic 1-minute bars "
              "in a worker process; odd rounds measure the window without it first, even rounds the one with it"
              + ("" if args.rounds % 2 == 0 else " (an even --rounds balances the order)"))
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print()
    scratch_dir = tempfile.TemporaryDirectory(prefix="bench-strategies-")
    if args.with_backtest:
        from bench import synthetic

        (Path(scratch_dir.name) / "history").mkdir()
        synthetic.write(Path(scratch_dir.name) / "history" / "bars.csv", bars, seed=1)
    rows = StreamTable([
        ("round", 5), ("inst", 4), ("bt", 3), ("bt ev/s", 7), ("ticks/s", 7), ("of feed", 7), ("decis/s", 7),
        ("dec p50", 7), ("dec p99", 7), ("<=5ms", 7), ("x p50", 6), ("x p99", 6), ("x max", 6),
        ("placed/s", 8), ("cancel/s", 8), ("fills/s", 7), ("refused", 7),
        ("hlth p50", 8), ("hlth p99", 8), ("hlth max", 8), ("CPU s/s", 7), ("gc2", 3),
    ])
    results: list[Result] = []
    with scratch_dir as scratch:
        for round_no in range(1, args.rounds + 1):
            shift = (round_no - 1) % len(args.counts)
            for count in args.counts[shift:] + args.counts[:shift]:
                for result in run_configuration(args, count, round_no, Path(scratch)):
                    results.append(result)
                    _row(rows, result)
                    if result.not_running:
                        print(f"  WARNING: {len(result.not_running)} instance(s) not running at the end: "
                              + ", ".join(result.not_running[:5]))
                    if not result.backtest_ran_throughout:
                        print("  WARNING: the backtest was no longer running when the window ended; "
                              "raise --backtest-bars")
    print("bt: measured while a backtest ran (bt ev/s: the events it processed per second); latency columns in ms. dec p50/p99: interpolated from the service's histogram (PromQL "
          "histogram_quantile over the window's bucket deltas); <=5ms: share of decisions in the le=0.005 "
          "bucket (exact); x p50/p99/max: exact, from every recorded decision of the window; refused: "
          "strategy intents refused by any limit (0 expected); gc2: full garbage collections in the service "
          "(each stops its event loop)")

    print()
    for count, loaded in [(count, loaded) for count in args.counts for loaded in (False, True)]:
        mine = [r for r in results if r.count == count and r.backtest == loaded]
        if not mine:
            continue
        exact = [v for r in mine for v in (r.exact or [])]
        probes = [r.probes for r in mine if r.probes]
        dec_p99 = median([r.decision_p99 for r in mine])
        share = median([r.within_target for r in mine])
        health_p50 = median([percentile(p, 50) for p in probes]) if probes else float("nan")
        health_p99 = median([percentile(p, 99) for p in probes]) if probes else float("nan")
        health_max = max(max(p) for p in probes) if probes else float("nan")
        suffix = "" if count == TARGET_COUNT else f" (target stated for {TARGET_COUNT})"
        first = sum(1 for r in mine if backtest_first(args, r.round_no))
        rounds = (f" (median of {len(mine)} rounds" + (f"; the backtest window first in {first}" if args.with_backtest
                                                        else "") + ")") if len(mine) > 1 else ""
        during = (f", while a backtest runs ({median([r.backtest_events_per_second for r in mine]):,.0f} events/s "
                  "in its worker)") if loaded else (", no backtest" if args.with_backtest else "")
        print(f"{count} instance(s){during}{rounds}:")
        print(f"  ticks processed/s:      {median([r.ticks_per_second for r in mine]):>9,.1f}   of "
              f"{mine[0].feed_ticks_per_second:,.0f} offered by the feed")
        print(f"  decision latency:       p50 {_ms(median([r.decision_p50 for r in mine]))} ms, p99 {_ms(dec_p99)} ms "
              f"(histogram, interpolated); {share:.2%} <= 5 ms   (target p99 < {TARGET_DECISION_P99_MS:g} ms: "
              f"{verdict(share >= 0.99) if not math.isnan(share) else 'no decisions'}{suffix})")
        if exact:
            print(f"  decision latency exact: p50 {_ms(percentile(exact, 50))} ms, p99 {_ms(percentile(exact, 99))} ms, "
                  f"max {_ms(max(exact))} ms over {len(exact):,} decisions")
        print(f"  orders placed/s:        {median([r.rate(r.placed) for r in mine]):>9,.1f}   "
              f"(cancelled/s {median([r.rate(r.cancelled) for r in mine]):,.1f}, fills/s "
              f"{median([r.rate(r.fills) for r in mine]):,.1f}, refused {sum(r.refused for r in mine):,.0f})")
        print(f"  GET /api/v1/health:     p50 {_ms(health_p50)} ms, p99 {_ms(health_p99)} ms, max {_ms(health_max)} ms "
              f"over {sum(map(len, probes)):,} probes   "
              f"(target p99 < {TARGET_HEALTH_P99_MS:g} ms: {verdict(health_p99 < TARGET_HEALTH_P99_MS)}{suffix})")
        cpus = [r.cpu for r in mine if r.cpu is not None]
        if cpus:
            print(f"  service CPU:            {median(cpus):>9.2f} s per s")
    if exact_checks := [(r, len(r.exact)) for r in results if r.exact is not None]:
        off = [f"{r.count}{' bt' if r.backtest else ''}: {n:,} recorded vs {r.decisions:,.0f} in the histogram" for r, n in exact_checks
               if abs(n - r.decisions) > max(2, 0.01 * r.decisions)]
        print("check: the recorder saw " + ("the same decisions as the histogram in every window" if not off
                                             else "different counts (snapshots are not simultaneous): " + "; ".join(off)))
    if args.profile is not None:
        for r in results:
            if not r.backtest:  # the same service (and profile) as the window before it
                _print_profile(args.profile / f"strategies-{r.count}-r{r.round_no}.prof")
    competing = foreign.report()
    if competing:
        print(competing)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(serve(sys.argv[2:]))
    sys.exit("usage: python -m bench.strategies serve --record PATH (the benchmark is python -m bench strategies)")
