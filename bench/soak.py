"""Soak: does the store stop growing once finished orders age out of it?

One service with durability on (SQLite ``synchronous=FULL`` in a file of its own; ``--backend
postgres``: a throwaway PostgreSQL cluster on this machine, its own schema) runs with a short
retention (``--retention``, default 30s: ``TRADING_ENGINE_RETENTION``) swept every
``--sweep-interval`` (default 5s: ``TRADING_ENGINE_RETENTION_SWEEP_INTERVAL``), its archive in a
directory of its own (``TRADING_ENGINE_ARCHIVE_DIR``). ``--makers`` ``market_making`` instances
(default 20, the pinned parameters of ``bench strategies``) quote on the simulated feed, ten ticks a
second, while ``--clients`` clients (default 2) post market orders on BTC-USD back to back, one at a
time each, buy and sell alternating, for ``--seconds`` (default 120). Cash and limits are far above
what the run trades.

Every ``--sample-interval`` seconds (default 10) a row: the orders the service has acknowledged so
far (``order_processing_seconds_count`` plus ``order_rejections_total``: every order answered
durably), the store's size (SQLite: the database file plus its ``-wal``, by ``stat``; PostgreSQL:
``pg_total_relation_size`` of the schema's tables, indexes and TOAST included), the same from the
service's ``store_size_bytes`` gauge where it has one, the order and fill rows in the store (counted
in the store itself), the bytes under the archive directory, the rows ``archive_rows_total`` says
were archived and the sweeps ``retention_sweep_seconds`` counted (``-`` where the service has no such
metric).

The verdict: nothing can leave the store before an order is older than the retention, so the first
retention plus two sweep intervals are the warm-up, during which the store grows with every order.
The time after it is cut in thirds; **the size levels off** when the last third adds at most 10% of
the bytes per order the second half of the warm-up added (the growth the store has without a
retention; the first half also fills SQLite's write-ahead log to its size). The ratio of
the last third's growth to the first third's is printed beside it. A service whose configuration has
no ``persistence.retention`` sweeps nothing: the run says so and shows the growth as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
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
    positive_float,
    positive_int,
    print_environment,
    ratio,
    retention_configurable,
    sample_total,
    verdict,
)
from bench.overhead import LOG_LEVELS
from bench.strategies import PARAMS, STRATEGY, market_maker_environment

LEVELS_OFF_SHARE = 0.10  # the last third may add at most this share of the warm-up's bytes per order
SCHEMA = "bench_soak"
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=positive_int, default=120,
                        help="seconds of load (default 120)")
    parser.add_argument("--retention", type=duration, default="30s",
                        help="persistence.retention of the service (default 30s)")
    parser.add_argument("--sweep-interval", type=duration, default="5s",
                        help="persistence.retention_sweep_interval of the service (default 5s)")
    parser.add_argument("--sample-interval", type=positive_float, default=10.0,
                        help="seconds between two rows (default 10)")
    parser.add_argument("--makers", type=int, default=20,
                        help="market_making instances quoting BTC-USD (default 20; 0 for none)")
    parser.add_argument("--clients", type=positive_int, default=2,
                        help="clients posting market orders back to back, one at a time each (default 2)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                        help="the store: sqlite (default, a file of its own) or postgres (a throwaway "
                             "local cluster, a schema of its own)")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default="WARNING",
                        help="LOG_LEVEL of the service (default WARNING: no log line per order)")


# -- the store, measured from outside the service ------------------------------------------------------


class SqliteProbe:
    """The database file and its write-ahead log, by ``stat``; rows counted on a read-only
    connection of its own (WAL lets it read beside the service's writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def size(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    async def rows(self) -> tuple[int, int]:
        return await asyncio.to_thread(self._count)

    def _count(self) -> tuple[int, int]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
            fills = conn.execute("SELECT count(*) FROM fills").fetchone()[0]
        finally:
            conn.close()
        return int(orders), int(fills)

    async def close(self) -> None:
        return None


class PostgresProbe:
    """The schema's tables with their indexes and TOAST (``pg_total_relation_size``), and their rows,
    on an administrator's connection of its own."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema
        self._conn: Any = None

    async def _connection(self) -> Any:
        if self._conn is None:
            import asyncpg

            self._conn = await asyncpg.connect(self.url)
        return self._conn

    async def size(self) -> int:
        conn = await self._connection()
        value = await conn.fetchval(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
            self.schema,
        )
        return int(value)

    async def rows(self) -> tuple[int, int]:
        conn = await self._connection()
        orders = await conn.fetchval(f'SELECT count(*) FROM "{self.schema}".orders')
        fills = await conn.fetchval(f'SELECT count(*) FROM "{self.schema}".fills')
        return int(orders), int(fills)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


def directory_bytes(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except FileNotFoundError:  # replaced while we looked
            continue
    return total


def sample_or_none(samples: list[Sample], name: str, **where: str) -> float | None:
    """The sum of the samples named ``name`` whose labels include ``where``; None when the service
    exposes no such sample (a metric this build does not have)."""
    if not any(s.name == name and all(s.labels.get(k) == v for k, v in where.items()) for s in samples):
        return None
    return sample_total(samples, name, **where)


# -- one run ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    elapsed: float
    acked: float
    size: int
    size_metric: float | None
    orders: int
    fills: int
    archive: int
    archived: float | None
    sweeps: float | None
    rows_metric: float | None


@dataclass
class Posted:
    created: int = 0
    refused: int = 0


def _environment(args: argparse.Namespace, db_path: Path, archive: Path) -> dict[str, str]:
    return {
        **market_maker_environment(log_level=args.log_level, synchronous="FULL", tick_interval=0.1,
                                   volatility_bps=5, instances=args.makers),
        "TRADING_ENGINE_DB_PATH": str(db_path),
        "TRADING_ENGINE_RETENTION": args.retention,
        "TRADING_ENGINE_RETENTION_SWEEP_INTERVAL": args.sweep_interval,
        "TRADING_ENGINE_ARCHIVE_DIR": str(archive),
    }


async def _load_and_sample(service: Service, probe: SqliteProbe | PostgresProbe, archive: Path,
                           args: argparse.Namespace, table: StreamTable) -> tuple[list[Row], Posted]:
    import aiohttp

    posted = Posted()
    rows: list[Row] = []
    started = time.monotonic()
    deadline = started + args.seconds
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession(base_url=service.base_url, headers=headers,
                              connector=aiohttp.TCPConnector(limit=args.clients)) as orders,
        aiohttp.ClientSession(base_url=service.base_url) as scraper,
    ):
        async def client(n: int) -> None:
            sides = ("buy", "sell") if n % 2 == 0 else ("sell", "buy")
            sent = 0
            while time.monotonic() < deadline:
                body = {"symbol": "BTC-USD", "side": sides[sent % 2], "type": "market", "quantity": "0.001"}
                sent += 1
                async with orders.post("/api/v1/orders", data=json.dumps(body)) as resp:
                    await resp.read()
                    if resp.status == 201:
                        posted.created += 1
                    else:
                        posted.refused += 1

        async def sample() -> None:
            async with scraper.get("/api/v1/metrics") as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise BenchError(f"/api/v1/metrics answered {resp.status}")
            samples = exposition_samples(text)
            orders_in_store, fills_in_store = await probe.rows()
            row = Row(
                elapsed=time.monotonic() - started,
                acked=sample_total(samples, "order_processing_seconds_count")
                + sample_total(samples, "order_rejections_total"),
                size=await probe.size(),
                size_metric=sample_or_none(samples, "store_size_bytes"),
                orders=orders_in_store,
                fills=fills_in_store,
                archive=await asyncio.to_thread(directory_bytes, archive),
                archived=sample_or_none(samples, "archive_rows_total"),
                sweeps=sample_or_none(samples, "retention_sweep_seconds_count"),
                rows_metric=sample_or_none(samples, "store_rows", kind="orders"),
            )
            previous = rows[-1] if rows else None
            rows.append(row)
            rate = ratio(row.acked - previous.acked, row.elapsed - previous.elapsed) if previous else float("nan")
            table.row(f"{row.elapsed:.0f}", f"{row.acked:,.0f}", "-" if previous is None else f"{rate:,.0f}",
                      _mib(row.size), "-" if row.size_metric is None else _mib(row.size_metric),
                      f"{row.orders:,}", f"{row.fills:,}", _mib(row.archive),
                      "-" if row.archived is None else f"{row.archived:,.0f}",
                      "-" if row.sweeps is None else f"{row.sweeps:,.0f}")

        clients = [asyncio.create_task(client(n)) for n in range(args.clients)]
        try:
            await sample()
            next_at = started + args.sample_interval
            while next_at <= deadline + 1e-6:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                service.check_alive()
                for task in clients:
                    if task.done():
                        task.result()  # a client that broke says why
                await sample()
                next_at += args.sample_interval
            await asyncio.gather(*clients)
        finally:
            for task in clients:
                task.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
            await probe.close()
    return rows, posted


def _mib(value: float) -> str:
    return f"{value / 2**20:,.2f}"


# -- the verdict -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    """What the store added over a stretch of the run, per acknowledged order."""

    start: float
    end: float
    size_bytes: float
    orders: float

    @property
    def per_order(self) -> float:
        return ratio(self.size_bytes, self.orders)


def growth(rows: list[Row], start: float, end: float) -> Growth:
    """The growth between the rows nearest to ``start`` and ``end`` (elapsed seconds)."""
    first = min(rows, key=lambda r: abs(r.elapsed - start))
    last = min(rows, key=lambda r: abs(r.elapsed - end))
    return Growth(first.elapsed, last.elapsed, last.size - first.size, last.acked - first.acked)


@dataclass(frozen=True)
class Verdict:
    warmup: Growth
    first: Growth
    last: Growth

    @property
    def levels_off(self) -> bool:
        return self.last.per_order <= LEVELS_OFF_SHARE * self.warmup.per_order


def judge(rows: list[Row], warmup_seconds: float) -> Verdict | None:
    """None when the run is too short: fewer than four rows after the warm-up."""
    after = [r for r in rows if r.elapsed >= warmup_seconds - 1e-6]
    if len(after) < 4 or after[0] is rows[0]:
        return None
    start, end = after[0].elapsed, after[-1].elapsed
    third = (end - start) / 3
    # The warm-up's second half: its first seconds also fill SQLite's write-ahead log to its size.
    before = [r for r in rows if r.elapsed < start]
    baseline = min(before, key=lambda r: abs(r.elapsed - warmup_seconds / 2))
    return Verdict(growth(rows, baseline.elapsed, start), growth(after, start, start + third),
                   growth(after, end - third, end))


def _kib_per_1000(g: Growth) -> str:
    return f"{g.per_order * 1000 / 1024:,.1f} KiB per 1,000 orders ({_mib(g.size_bytes)} MiB over {g.orders:,.0f} orders, " \
           f"{g.start:.0f}-{g.end:.0f} s)"


def run(args: argparse.Namespace) -> None:
    heading(f"soak: {args.makers} market makers and {args.clients} order clients for {args.seconds} s, "
            f"retention {args.retention}")
    print_environment()
    foreign = ForeignLoad()
    retention_s, sweep_s = duration_seconds(args.retention), duration_seconds(args.sweep_interval)
    warmup = retention_s + 2 * sweep_s
    store = ("SQLite synchronous=FULL, the file and its -wal measured" if args.backend == "sqlite"
             else "PostgreSQL (a local throwaway cluster, synchronous_commit=on), the schema's relations measured")
    print(f"service: LOG_LEVEL={args.log_level}, {store}; persistence.retention={args.retention}, "
          f"retention_sweep_interval={args.sweep_interval}, archive in a directory of its own")
    if not retention_configurable():
        print("NOTE: this build's configuration has no persistence.retention: the service ignores the "
              "retention settings, sweeps nothing and keeps every row; the figures show the store "
              "without a retention")
    print(f"load: {args.makers} x {STRATEGY} {json.dumps(PARAMS)} on BTC-USD, 10 ticks/s; {args.clients} "
          f"client(s) posting market BTC-USD 0.001 back to back; a row every {args.sample_interval:g} s; "
          f"warm-up (retention + 2 sweeps) {warmup:g} s")
    print()
    cluster = None
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as scratch:
        db_path, archive = Path(scratch) / "trading.db", Path(scratch) / "archive"
        archive.mkdir()
        env = _environment(args, db_path, archive)
        probe: SqliteProbe | PostgresProbe = SqliteProbe(db_path)
        service = None
        try:
            if args.backend == "postgres":
                from tests.support.postgres import PostgresCluster

                cluster = PostgresCluster().start()
                env.update({"TRADING_ENGINE_DB_BACKEND": "postgres", "TRADING_ENGINE_DATABASE_URL": cluster.url(),
                            "TRADING_ENGINE_DB_SCHEMA": SCHEMA})
                probe = PostgresProbe(cluster.url(), SCHEMA)
            service = Service("soak", [sys.executable, "-m", "trading_engine"], env)
            service.start()
            service.wait_healthy()
            for n in range(args.makers):
                status, body = service.post_json("/api/v1/strategies/start",
                                                 {"strategy": STRATEGY, "symbol": "BTC-USD", "params": PARAMS})
                if status != 201:
                    raise BenchError(f"starting market maker {n + 1} of {args.makers} answered {status}: {body}")
            table = StreamTable([("elapsed s", 9), ("acked", 9), ("acked/s", 7), ("store MiB", 9),
                                 ("metric MiB", 10), ("orders rows", 11), ("fills rows", 10),
                                 ("archive MiB", 11), ("archived", 9), ("sweeps", 6)])
            rows, posted = asyncio.run(_load_and_sample(service, probe, archive, args, table))
            service.check_alive()
        finally:
            if service is not None:
                service.stop()
            if cluster is not None:
                cluster.remove()

    print("store MiB: measured from outside the service (see above); metric MiB: its store_size_bytes; "
          "rows: counted in the store; archived: archive_rows_total (orders and fills); sweeps: "
          "retention_sweep_seconds_count; '-': the service has no such metric")
    print()
    last = rows[-1]
    print(f"check: the clients had {posted.created:,} orders acknowledged (201) and {posted.refused:,} refused; "
          f"the service acknowledged {last.acked:,.0f} in all (market makers included)")
    if last.rows_metric is not None:
        print(f"check: store_rows{{kind=\"orders\"}} {last.rows_metric:,.0f}, counted in the store {last.orders:,} "
              "(taken a moment apart)")
    result = judge(rows, warmup)
    if result is None:
        print(f"levels off: no verdict, the run is too short: it needs four rows after the {warmup:g} s warm-up "
              f"(raise --seconds or lower --retention, --sweep-interval, --sample-interval)")
    else:
        print(f"growth, warm-up (2nd half):  {_kib_per_1000(result.warmup)}")
        print(f"growth, first third after:   {_kib_per_1000(result.first)}")
        print(f"growth, last third:          {_kib_per_1000(result.last)}")
        print(f"last third over first third: {ratio(result.last.per_order, result.first.per_order):.2f} (per order)")
        print(f"levels off (the last third adds <= {LEVELS_OFF_SHARE:.0%} of the warm-up's bytes per order): "
              f"{verdict(result.levels_off)}")
    competing = foreign.report()
    if competing:
        print(competing)
