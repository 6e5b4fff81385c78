"""Sweep: store commit latency while one retention sweep runs, its plan step in the worker process
(what SQLite and PostgreSQL get) or inline in the service's process, alternating.

In this process, with the service's container (``create_container``: the SQLite store in a file
of its own, ``synchronous=FULL``, ``persistence.retention`` 1d, ``--batch-size`` orders per batch,
default 64, the archive in a directory of its own): ``--orders`` finished orders (default 7680,
each with two fills, spread over 20 strategy instances) are committed with times a year old, then
a committer commits one new order with its fill every millisecond (``await commit``, then a
1 ms sleep) while the container's ``RetentionSweep`` sweeps them all, and 0.5 s before and after.
The ``worker`` mode uses the planner the container picks for SQLite (``ProcessBatchPlanner``; its
worker is started before the sweep, with a plan that finds nothing, so the spawn is not
measured); the ``inline`` mode overrides ``retention_planner`` with ``ArchivingPlanner`` on the
same store and archive, as before the worker existed.

Each run prints the sweep's duration and the commit latency p50/p99 of the commits that started
during the sweep and of those outside it; ``--runs`` rounds (default 3) alternate the modes, and
the medians per mode are printed with the during/outside ratios (target: 1.0, latency does not
move). What is left in the worker mode is each batch's delete transaction in the writer thread,
which commits queue behind.

``--plan-cpu`` measures instead what the plan step costs the process that runs it (the worker's
CPU, which shares a core with the database server and the load on a small machine): for each
store (SQLite in a file, PostgreSQL in a throwaway local cluster) and each mix, ``--orders``
finished orders are committed a year old, then ``ArchivingPlanner.plan`` runs batch after batch
(``--batch-size``; each batch deleted afterwards, untimed, as the sweep does) and the
``time.process_time()`` of the plans (every thread of this process: SQLite's sweep reader, the
archive's writes) per order is printed, the minimum of ``--runs``. The mixes: ``clients`` (market
orders with one fill each, what ``bench orders`` posts) and ``makers`` (a tenth of them market
makers' limit orders of four strategy instances, two thirds filled in two fills, a third
cancelled, whose fills the plan folds).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import structlog
from dependency_injector import providers

from bench.common import heading, median, percentile, positive_int, print_environment, ratio
from trading_engine.containers import create_container
from trading_engine.domain.orders import Fill, Order
from trading_engine.domain.ports.repository import ChangeSet, TradingStore
from trading_engine.infrastructure.persistence.archive import GzipCsvArchive
from trading_engine.infrastructure.persistence.postgres import PostgresTradingStore
from trading_engine.infrastructure.persistence.sqlite import SqliteTradingStore
from trading_engine.services.retention import ArchivingPlanner

MODES = ("worker", "inline")
API_TOKEN = "bench-sweep-token-0123456789abcdef"
AGED = datetime(2000, 1, 1, tzinfo=UTC)


PLAN_MIXES = ("clients", "makers")
PLAN_STORES = ("sqlite", "postgres")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orders", type=positive_int, default=7680,
                        help="finished orders swept in each run (default 7680)")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="persistence.retention_batch_size (default 64)")
    parser.add_argument("--runs", type=positive_int, default=3,
                        help="runs of each mode, alternating (default 3)")
    parser.add_argument("--plan-cpu", action="store_true",
                        help="instead: CPU per order of the plan step (ArchivingPlanner.plan) on SQLite and "
                             "PostgreSQL, by process_time, the minimum of --runs")


@dataclass(frozen=True)
class Result:
    sweep_ms: float
    during: tuple[float, float]  # p50, p99 in ms
    outside: tuple[float, float]
    commits_during: int


def filled_order(order_id: str, at: datetime, strategy_id: str | None = None) -> tuple[Order, list[Fill]]:
    """A limit order filled in two fills at ``at``."""
    order = Order.create(order_id=order_id, symbol="BTC-USD", side="buy", type="limit", quantity="2",
                         limit_price="100", created_at=at, strategy_id=strategy_id)
    order.accept(at)
    fills = []
    for n in range(2):
        fill = Fill(fill_id=f"{order_id}-f{n}", order_id=order_id, symbol="BTC-USD", side=order.side,
                    quantity=Decimal(1), price=Decimal("99.5"), fee=Decimal("0.01"), fee_currency="USD",
                    timestamp=at + timedelta(microseconds=n), strategy_id=strategy_id)
        order.apply_fill(fill)
        fills.append(fill)
    return order, fills


async def commit_aged(store: TradingStore, count: int) -> None:
    for start in range(0, count, 256):
        made = [filled_order(f"aged-{n}", AGED + timedelta(seconds=n), f"s-{n % 20}")
                for n in range(start, min(count, start + 256))]
        await store.commit(ChangeSet(orders=tuple(o.snapshot for o, _ in made),
                                     fills=tuple(f for _, fills in made for f in fills)))


def quantiles(latencies: list[float]) -> tuple[float, float]:
    if not latencies:
        return float("nan"), float("nan")
    return median(latencies) * 1e3, percentile(latencies, 99) * 1e3


async def one_run(mode: str, orders: int, batch_size: int) -> Result:
    directory = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    container = create_container(overrides={
        "auth": {"api_token": API_TOKEN}, "grpc": {"enabled": False},
        "persistence": {"backend": "sqlite", "db_path": str(directory / "trading.db"),
                        "archive_dir": str(directory / "archive"), "retention": "1d",
                        "retention_batch_size": batch_size},
    })
    if mode == "inline":
        container.retention_planner.override(
            providers.Singleton(ArchivingPlanner, container.trading_store, container.order_archive))
    store = container.trading_store()
    await store.start()
    sweep = container.retention_sweep()
    try:
        await commit_aged(store, orders)
        await container.retention_planner().plan(AGED, 1)  # the worker up before the clock starts
        latencies: list[tuple[float, float]] = []
        stop = asyncio.Event()

        async def committer() -> None:
            for n in itertools.count():
                if stop.is_set():
                    return
                order, fills = filled_order(f"new-{n}", datetime.now(UTC))
                started = time.perf_counter()
                await store.commit(ChangeSet(orders=(order.snapshot,), fills=tuple(fills)))
                latencies.append((started, time.perf_counter() - started))
                await asyncio.sleep(0.001)

        task = asyncio.create_task(committer())
        await asyncio.sleep(0.5)
        began = time.perf_counter()
        removed = await sweep.sweep()
        ended = time.perf_counter()
        await asyncio.sleep(0.5)
        stop.set()
        await task
        if removed != orders:
            raise RuntimeError(f"the {mode} sweep removed {removed} orders, not {orders}")
    finally:
        await sweep.close()
        await store.stop()
    during = [latency for at, latency in latencies if began <= at <= ended]
    outside = [latency for at, latency in latencies if not began <= at <= ended]
    return Result((ended - began) * 1e3, quantiles(during), quantiles(outside), len(during))


def mixed_order(n: int, mix: str) -> tuple[Order, list[Fill]]:
    """Order ``n`` of a ``--plan-cpu`` mix, finished a year ago (see the module docstring)."""
    at = AGED + timedelta(milliseconds=n)
    order_id = f"aged-{n:08d}"
    if mix == "clients" or n % 10:
        order = Order.create(order_id=order_id, symbol="BTC-USD", side="buy" if n % 2 else "sell", type="market",
                             quantity="0.01", created_at=at, client_order_id=f"client-{n}")
        order.accept(at)
        fill = Fill(fill_id=f"{order_id}-f0", order_id=order_id, symbol="BTC-USD", side=order.side,
                    quantity=Decimal("0.01"), price=Decimal("50012.25"), fee=Decimal("0.5001225"),
                    fee_currency="USD", timestamp=at)
        order.apply_fill(fill)
        return order, [fill]
    strategy_id = f"maker-{(n // 10) % 4}"
    order = Order.create(order_id=order_id, symbol="BTC-USD", side="buy" if n % 20 else "sell", type="limit",
                         quantity="0.02", limit_price="50000.5", created_at=at, strategy_id=strategy_id)
    order.accept(at)
    if (n // 10) % 3 == 2:
        order.cancel(at + timedelta(microseconds=5), reason="strategy")
        return order, []
    fills = []
    for k in range(2):
        fill = Fill(fill_id=f"{order_id}-f{k}", order_id=order_id, symbol="BTC-USD", side=order.side,
                    quantity=Decimal("0.01"), price=Decimal("50000.5"), fee=Decimal("0.250002"), fee_currency="USD",
                    timestamp=at + timedelta(microseconds=k + 1), strategy_id=strategy_id)
        order.apply_fill(fill)
        fills.append(fill)
    return order, fills


async def plan_cpu(store: TradingStore, archive_dir: Path, mix: str, orders: int, batch_size: int) -> float:
    """Microseconds of process CPU per order that ``ArchivingPlanner.plan`` took to plan them all."""
    await store.start()
    try:
        for start in range(0, orders, 512):
            made = [mixed_order(n, mix) for n in range(start, min(orders, start + 512))]
            await store.commit(ChangeSet(orders=tuple(o.snapshot for o, _ in made),
                                         fills=tuple(f for _, fills in made for f in fills)))
        planner = ArchivingPlanner(store, GzipCsvArchive(archive_dir))
        cpu, planned_orders = 0.0, 0
        while True:
            started = time.process_time()
            planned = await planner.plan(AGED + timedelta(days=1), batch_size)
            cpu += time.process_time() - started
            if not planned.order_ids:
                break
            planned_orders += len(planned.order_ids)
            await store.delete_orders(planned.order_ids, planned.folded)
        await planner.close()
    finally:
        await store.stop()
    if planned_orders != orders:
        raise RuntimeError(f"the plans took {planned_orders} orders, not {orders}")
    return cpu / orders * 1e6


def run_plan_cpu(args: argparse.Namespace) -> None:
    heading(f"sweep --plan-cpu: CPU per order of the plan step, {args.orders} orders, batches of {args.batch_size}")
    print_environment()
    from tests.support.postgres import PostgresCluster  # a throwaway cluster, as bench orders uses

    cluster = PostgresCluster().start()
    schemas = itertools.count(1)
    try:
        for store_kind in PLAN_STORES:
            for mix in PLAN_MIXES:
                runs = []
                for _run in range(args.runs):
                    directory = Path(tempfile.mkdtemp(prefix="bench-plan-cpu-"))
                    store: TradingStore = (
                        SqliteTradingStore(directory / "trading.db") if store_kind == "sqlite"
                        else PostgresTradingStore(cluster.url(), f"bench_plan_cpu_{next(schemas)}")
                    )
                    runs.append(asyncio.run(plan_cpu(store, directory / "archive", mix, args.orders, args.batch_size)))
                print(f"{store_kind:8}  {mix:7}  plan CPU per order {min(runs):6.1f} us (min of "
                      f"{', '.join(f'{r:.1f}' for r in runs)})", flush=True)
    finally:
        cluster.remove()


def run(args: argparse.Namespace) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.plan_cpu:
        run_plan_cpu(args)
        return
    heading(f"sweep: commit latency during one sweep of {args.orders} orders, batches of {args.batch_size}, SQLite")
    print_environment()
    results: dict[str, list[Result]] = {mode: [] for mode in MODES}
    for _round in range(args.runs):
        for mode in MODES:
            result = asyncio.run(one_run(mode, args.orders, args.batch_size))
            results[mode].append(result)
            print(f"{mode:6}  sweep {result.sweep_ms:6.0f} ms  during p50 {result.during[0]:5.2f} "
                  f"p99 {result.during[1]:6.2f} ms ({result.commits_during} commits)  outside p50 "
                  f"{result.outside[0]:5.2f} p99 {result.outside[1]:6.2f} ms", flush=True)
    print(f"\nmedians of {args.runs} runs (during/outside: target 1.0, latency does not move):")
    for mode, done in results.items():
        sweep_ms = median([r.sweep_ms for r in done])
        during = [median([r.during[i] for r in done]) for i in (0, 1)]
        outside = [median([r.outside[i] for r in done]) for i in (0, 1)]
        print(f"{mode:6}  sweep {sweep_ms:6.0f} ms  during p50 {during[0]:5.2f} p99 {during[1]:6.2f} ms  "
              f"outside p50 {outside[0]:5.2f} p99 {outside[1]:6.2f} ms  ratio p50 "
              f"{ratio(during[0], outside[0]):.2f} p99 {ratio(during[1], outside[1]):.2f}")
