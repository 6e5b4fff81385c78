"""Order throughput: sustained ``POST /api/v1/orders`` against a real service with durability on.

One service (SQLite file, ``synchronous=FULL``: every acknowledged order is on disk) is loaded by
``wrk`` with market orders on one symbol, alternating buy and sell so the account never runs out
of cash or position room. Acknowledged orders are the 201 answers; the service's own
``orders_total`` confirms them. In the same run, ``GET /api/v1/health`` is loaded alone on the same
service, so the two figures compare like for like. With ``--rounds`` above 1 the two alternate.

``--store postgres`` runs a second service on PostgreSQL beside the SQLite one, in the same run
and under the same load (a throwaway cluster on this machine, ``synchronous_commit = on``, ``fsync
= on``); the stores take turns, their order rotating every round. The PostgreSQL server's own CPU
per order is shown next to the service's.

``--sweep`` runs each store's service twice, side by side in the same run: as above, and with a
retention sweep active (``persistence.retention`` ``--sweep-retention``, default 10s, swept every
``--sweep-interval``, default 1s, archive in a directory of its own). Every service is loaded for
the retention plus a sweep interval of orders, unrecorded, right before each of its order rounds,
so every sweep of the second one has aged orders to archive and delete while it is measured (the
first seconds of a round would otherwise sweep nothing: between its rounds a service's sweep
catches up). Before every measured load the other services' sweeps are waited for until they have
caught up (their oldest finished order no older than the retention plus a few intervals), so the
only sweep at work is the measured service's own; the time waited is printed. The sweeps and
archived rows of the measurement (``retention_sweep_seconds_count``, ``archive_rows_total``) are
printed, and the p50/p99 latency and orders/s of sweep on over sweep off.
It needs a build whose configuration has ``persistence.retention`` and says so otherwise.
Target: at least 2,000 acknowledged orders/s with p99 below 25 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.samples import Sample

from bench.common import (
    API_TOKEN,
    BenchError,
    ForeignLoad,
    Service,
    StreamTable,
    duration,
    duration_seconds,
    exposition_samples,
    heading,
    median,
    positive_int,
    print_environment,
    ratio,
    retention_configurable,
    sample_total,
    verdict,
)
from bench.overhead import LOG_LEVELS, WrkResult, find_wrk, fmt_ms, fmt_us, parse_wrk, wrk_missing_message

TARGET_ORDERS_PER_SECOND = 2_000
TARGET_P99_MS = 25.0
CATCH_UP_TIMEOUT_SECONDS = 300  # a sweep that idles this long without catching up is broken

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
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                        help="sqlite (default): the SQLite service alone; postgres: a PostgreSQL service "
                             "beside the SQLite one, same load, same run")
    parser.add_argument("--sweep", action="store_true",
                        help="also run each store's service with a retention sweep active, side by side, and "
                             "print the latency ratio of sweep on over sweep off")
    parser.add_argument("--sweep-retention", type=duration, default="10s",
                        help="persistence.retention of the sweeping service (default 10s)")
    parser.add_argument("--sweep-interval", type=duration, default="1s",
                        help="persistence.retention_sweep_interval of the sweeping service (default 1s)")
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


def _samples(service: Service) -> list[Sample]:
    status, body = service.get("/api/v1/metrics")
    if status != 200:
        raise BenchError(f"/api/v1/metrics answered {status}")
    return exposition_samples(body.decode())


def _orders_counted(samples: list[Sample]) -> float:
    return sample_total(samples, "orders_total", status="filled")


def _sweeps(samples: list[Sample]) -> tuple[float, float] | None:
    """Sweeps run and rows archived so far; None when the service has no retention sweep metrics."""
    if not any(s.name == "retention_sweep_seconds_count" for s in samples):
        return None
    return sample_total(samples, "retention_sweep_seconds_count"), sample_total(samples, "archive_rows_total")


@dataclass
class Measured:
    """One store's service under load: its rounds of orders and of health, what it counted."""

    store: str
    service: Service
    server_cpu: Callable[[], float | None] = lambda: None
    sweep: bool = False  # a retention sweep runs while it is measured
    orders: list[WrkResult] = field(default_factory=list)
    health: list[WrkResult] = field(default_factory=list)
    acked: list[float] = field(default_factory=list)
    server_cpu_us: list[float] = field(default_factory=list)
    counted_before: float = 0.0
    counted: float = 0.0
    preloaded: float = 0.0  # orders acknowledged in the unrecorded loads before its rounds
    sweeps_before: tuple[float, float] | None = None
    sweeps: tuple[float, float] | None = None  # sweeps run and rows archived while measured

    @property
    def label(self) -> str:
        return self.store + ("+sweep" if self.sweep else "")

    @property
    def name(self) -> str:
        return {"sqlite": "SQLite", "postgres": "PostgreSQL"}[self.store] + (", retention sweep on" if self.sweep else "")


def _postgres_cpu(cluster: Any) -> Callable[[], float | None]:
    """User + system CPU of the cluster's server processes (the postmaster and every backend)."""
    def total() -> float | None:
        try:
            postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        seconds = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat.parent.name) == postmaster or int(fields[1]) == postmaster:
                seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return seconds
    return total


def run(args: argparse.Namespace) -> None:
    heading("orders: sustained POST /api/v1/orders with durability on"
            + (", with and without a retention sweep" if args.sweep else ""))
    wrk = find_wrk(args.wrk)
    if wrk is None:
        raise BenchError(wrk_missing_message(args.wrk))
    if args.sweep and not retention_configurable():
        raise BenchError("--sweep needs persistence.retention, which this build's configuration does not have: "
                         "a service would ignore TRADING_ENGINE_RETENTION and sweep nothing")
    print_environment()
    foreign = ForeignLoad()
    env = {
        "LOG_LEVEL": args.log_level, "LOG_FORMAT": "json", "ENVIRONMENT": "testing",
        "TRADING_ENGINE_DB_SYNCHRONOUS": args.synchronous,
        # Room for every order: cash and limits far above what the run trades.
        "INITIAL_CASH": "USD=1000000000", "MAX_POSITION_SIZE": "1000000000",
        "RISK_LIMIT_THRESHOLD": "1000000000",
    }
    stores = ["sqlite"] if args.store == "sqlite" else ["sqlite", "postgres"]
    variants = [(store, sweep) for store in stores for sweep in ((False, True) if args.sweep else (False,))]
    warmup = 3
    if args.sweep:
        warmup = math.ceil(duration_seconds(args.sweep_retention) + duration_seconds(args.sweep_interval))
    print(f"service: LOG_LEVEL={args.log_level}, SQLite synchronous={args.synchronous}, metrics on (prometheus)"
          + ("; PostgreSQL: a local throwaway cluster, synchronous_commit=on, fsync=on" if "postgres" in stores else ""))
    print(f"orders: market {args.symbol} {args.quantity}, buy/sell alternating; wrk -t{args.threads} "
          f"-c{args.connections}, {args.duration} s per round; health: {args.health_duration} s per round; "
          f"{args.rounds} round(s)")
    if args.sweep:
        print(f"retention sweep: beside each store's service, one with persistence.retention={args.sweep_retention} "
              f"swept every {args.sweep_interval}; every service takes {warmup} s of orders (unrecorded) right before each "
              "of its order rounds, so every sweep while measured has aged orders to archive and delete, and no "
              "other service's sweep runs while one is measured")
    cluster = None
    measured: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as scratch:
        script = Path(scratch) / "orders.lua"
        script.write_text(LUA % {"token": API_TOKEN, "symbol": args.symbol, "quantity": args.quantity})
        try:
            for store, sweep in variants:
                store_env = dict(env)
                server_cpu: Callable[[], float | None] = lambda: None
                if store == "postgres":
                    from tests.support.postgres import PostgresCluster

                    if cluster is None:
                        cluster = PostgresCluster().start()
                    store_env.update({"TRADING_ENGINE_DB_BACKEND": "postgres",
                                      "TRADING_ENGINE_DATABASE_URL": cluster.url(),
                                      "TRADING_ENGINE_DB_SCHEMA": "bench_orders" + ("_sweep" if sweep else "")})
                    server_cpu = _postgres_cpu(cluster)
                if sweep:
                    store_env.update({"TRADING_ENGINE_RETENTION": args.sweep_retention,
                                      "TRADING_ENGINE_RETENTION_SWEEP_INTERVAL": args.sweep_interval,
                                      "TRADING_ENGINE_ARCHIVE_DIR": str(Path(scratch) / f"archive-{store}")})
                m = Measured(store, Service(f"orders-{store}{'-sweep' if sweep else ''}",
                                            [sys.executable, "-m", "trading_engine"], store_env), server_cpu, sweep)
                measured.append(m)
                m.service.start()
                m.service.wait_healthy()
                _wrk(wrk, f"{m.service.base_url}/api/v1/orders", args, warmup, script)  # warm-up, unrecorded
                samples = _samples(m.service)
                m.counted_before, m.sweeps_before = _orders_counted(samples), _sweeps(samples)
            waited = _wait_caught_up([o for o in measured if o.sweep], args)
            print()
            rows = StreamTable([("round", 5), ("store", 12 if args.sweep else 8), ("load", 7), ("req/s", 8), ("acked/s", 8),
                                ("p50 ms", 6), ("p90 ms", 6), ("p99 ms", 6), ("CPU us/req", 10),
                                ("db us/req", 9), ("requests", 9), ("refused", 7)])
            for round_no in range(1, args.rounds + 1):
                turn = measured[(round_no - 1) % len(measured):] + measured[: (round_no - 1) % len(measured)]
                for m in turn:
                    order = ["orders", "health"] if round_no % 2 else ["health", "orders"]
                    for load in order:
                        m.service.check_alive()
                        waited += _wait_caught_up([o for o in measured if o is not m and o.sweep], args)
                        if args.sweep and load == "orders":  # aged orders for the whole round (see above)
                            loaded = _wrk(wrk, f"{m.service.base_url}/api/v1/orders", args, warmup, script)
                            m.preloaded += loaded.requests - _non_2xx(loaded)
                        cpu_before, db_before = m.service.cpu_seconds(), m.server_cpu()
                        if load == "orders":
                            result = _wrk(wrk, f"{m.service.base_url}/api/v1/orders", args, args.duration, script)
                        else:
                            result = _wrk(wrk, f"{m.service.base_url}/api/v1/health", args, args.health_duration)
                        cpu_after, db_after = m.service.cpu_seconds(), m.server_cpu()
                        if cpu_before is not None and cpu_after is not None:
                            result.cpu_us_per_request = (cpu_after - cpu_before) / result.requests * 1e6
                        db_us = None
                        if db_before is not None and db_after is not None:
                            db_us = (db_after - db_before) / result.requests * 1e6
                        refused = _non_2xx(result)
                        acked_rate = result.requests_per_second * (result.requests - refused) / result.requests
                        if load == "orders":
                            m.orders.append(result)
                            m.acked.append(acked_rate)
                            if db_us is not None:
                                m.server_cpu_us.append(db_us)
                        else:
                            m.health.append(result)
                        rows.row(round_no, m.label, load, f"{result.requests_per_second:,.0f}",
                                 f"{acked_rate:,.0f}" if load == "orders" else "-",
                                 fmt_ms(result.latency_ms.get("50%")), fmt_ms(result.latency_ms.get("90%")),
                                 fmt_ms(result.latency_ms.get("99%")), fmt_us(result.cpu_us_per_request),
                                 "-" if db_us is None else f"{db_us:.0f}", f"{result.requests:,}", refused)
            for m in measured:
                samples = _samples(m.service)
                m.counted = _orders_counted(samples) - m.counted_before - m.preloaded
                after = _sweeps(samples)
                if after is not None and m.sweeps_before is not None:
                    m.sweeps = (after[0] - m.sweeps_before[0], after[1] - m.sweeps_before[1])
        finally:
            for m in measured:
                m.service.stop()
            if cluster is not None:
                cluster.remove()

    for m in measured:
        _summary(m)
    if args.sweep:
        _sweep_ratios(measured)
        print(f"waited {waited:.0f} s in all for the other services' sweeps to catch up before measuring")
    plain = [m for m in measured if not m.sweep]
    if len(plain) == 2:
        sqlite, postgres = plain
        print()
        print(f"PostgreSQL over SQLite, acknowledged orders/s: {ratio(median(postgres.acked), median(sqlite.acked)):.3f}")
        cpu = median([r.cpu_us_per_request for r in postgres.orders if r.cpu_us_per_request] or [float("nan")])
        db = median(postgres.server_cpu_us or [float("nan")])
        print(f"What bounds PostgreSQL: the engine's one event loop, {cpu:.0f} us of CPU per order, at most "
              f"~{1e6 / cpu:,.0f} orders/s on one core; the server adds {db:.0f} us per order on the other core "
              "(with wrk beside them), and group commit makes one WAL flush serve a whole batch, so the disk "
              "is not the limit.")
    competing = foreign.report()
    if competing:
        print(competing)


def _order_latency(m: Measured, pct: str) -> float:
    """The median over rounds of wrk's order latency percentile ``pct`` ("50%", "99%"), in ms."""
    return median([r.latency_ms.get(pct, float("nan")) for r in m.orders])


def _summary(m: Measured) -> None:
    sent = sum(r.requests for r in m.orders)
    refused_total = sum(_non_2xx(r) for r in m.orders)
    p50, p99 = _order_latency(m, "50%"), _order_latency(m, "99%")
    health_rps = median([r.requests_per_second for r in m.health])
    orders_rps = median(m.acked)
    print()
    print(f"[{m.name}]")
    print(f"acknowledged orders/s (201): {orders_rps:>10,.0f}   (target >= {TARGET_ORDERS_PER_SECOND:,}: "
          f"{verdict(orders_rps >= TARGET_ORDERS_PER_SECOND)})")
    print(f"order latency p50:           {p50:>10.2f} ms")
    print(f"order latency p99:           {p99:>10.2f} ms   (target < {TARGET_P99_MS:g} ms: {verdict(p99 < TARGET_P99_MS)})")
    print(f"GET /api/v1/health req/s:    {health_rps:>10,.0f}   (same service, same run)")
    print(f"orders/s over health req/s:  {ratio(orders_rps, health_rps):>10.3f}")
    orders_cpu = median([r.cpu_us_per_request for r in m.orders if r.cpu_us_per_request] or [float("nan")])
    health_cpu = median([r.cpu_us_per_request for r in m.health if r.cpu_us_per_request] or [float("nan")])
    writer = ("the SQLite writer thread worked beside the event loop" if m.store == "sqlite"
              else "more than the event loop's one core was busy")
    print(f"service CPU per request:     orders {orders_cpu:.0f} us, health {health_cpu:.0f} us "
          f"(CPU above 1 s per s means {writer})")
    if m.server_cpu_us:
        print(f"PostgreSQL server CPU/order: {median(m.server_cpu_us):>10.0f} us")
    print(f"check: {sent:,} orders sent, {refused_total:,} refused (non-2xx); the service counted "
          f"{m.counted:,.0f} filled orders in orders_total (warm-up excluded)")
    if m.sweep:
        if m.sweeps is None:
            print("WARNING: the service exposes no retention_sweep_seconds: nothing shows that a sweep ran")
        else:
            print(f"retention sweep:             {m.sweeps[0]:,.0f} sweeps and {m.sweeps[1]:,.0f} rows archived while "
                  "measured (health rounds included)")


def _wait_caught_up(sweeping: list[Measured], args: argparse.Namespace) -> float:
    """Wait until every service of ``sweeping`` has swept what aged (its oldest finished order no
    older than the retention plus three sweep intervals); answers the seconds waited."""
    started = time.monotonic()
    limit = duration_seconds(args.sweep_retention) + 3 * duration_seconds(args.sweep_interval)
    for m in sweeping:
        while True:
            age = sample_total(_samples(m.service), "store_oldest_terminal_order_age_seconds")
            if age <= limit:
                break
            if time.monotonic() - started > CATCH_UP_TIMEOUT_SECONDS:
                raise BenchError(f"{m.name}: its sweep had not caught up after {CATCH_UP_TIMEOUT_SECONDS} s "
                                 f"(oldest finished order {age:.0f} s old, retention {args.sweep_retention})")
            time.sleep(0.5)
    return time.monotonic() - started


def _sweep_ratios(measured: list[Measured]) -> None:
    """Each store's service with the sweep over the same store's without, same run."""
    print()
    for off, on in ((a, b) for a in measured for b in measured if a.store == b.store and not a.sweep and b.sweep):
        p50, p99 = (ratio(_order_latency(on, pct), _order_latency(off, pct)) for pct in ("50%", "99%"))
        print(f"{on.name} over sweep off: order latency p50 {p50:.3f}, p99 {p99:.3f}; acknowledged orders/s "
              f"{ratio(median(on.acked), median(off.acked)):.3f} (1.0: the sweep costs nothing)")
