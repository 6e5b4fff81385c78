"""The archive files: gzip CSV per UTC day and kind, appended safely, repaired after a crash, never
written twice for one batch."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import duckdb
import pytest

from trading_engine.domain.errors import ValidationError
from trading_engine.domain.orders import OrderStatus
from trading_engine.domain.ports.archive import Archived
from trading_engine.domain.ports.repository import AgedOrder
from trading_engine.infrastructure.persistence.archive import (
    FILL_COLUMNS,
    ArchiveInUse,
    MANIFEST,
    ORDER_COLUMNS,
    GzipCsvArchive,
    _member,
)
from tests.support.trading_data import KNOWN_FILL_LINES, KNOWN_ORDER_LINES, known_finished_orders, make_order

DAY = 86400


def aged(order_id: str, status: OrderStatus = OrderStatus.FILLED, seconds: float = 0, **fields) -> AgedOrder:
    order, fills = make_order(order_id, status, seconds=seconds, **fields)
    return AgedOrder.of(order, fills)


def rows(path: Path) -> list[dict[str, str]]:
    """The file as Python's gzip (every member) and csv read it."""
    with gzip.open(path, "rt", newline="") as text:
        return list(csv.DictReader(text))


def as_written(record: dict) -> dict[str, str]:
    return {key: "" if value is None else str(value) for key, value in record.items()}


def test_the_columns_are_the_fields_of_an_order_and_a_fill() -> None:
    item = aged("o-1", OrderStatus.CANCELLED, client_order_id="c-1", strategy_id="s-1")
    assert tuple(item.order.to_dict()) == ORDER_COLUMNS
    assert tuple(item.fills[0].to_dict()) == FILL_COLUMNS


def archived_text(directory: Path) -> dict[str, str]:
    """Each archive file's text (every member, decompressed), by file name."""
    return {path.name: gzip.decompress(path.read_bytes()).decode() for path in sorted(directory.glob("*.csv.gz"))}


async def test_a_known_batch_is_archived_as_these_exact_lines(tmp_path: Path) -> None:
    archive = GzipCsvArchive(tmp_path)
    assert await archive.append([AgedOrder.of(order, fills) for order, fills in known_finished_orders()]) == (
        Archived(orders=3, fills=2)
    )
    assert archived_text(tmp_path) == {
        "fills-2026-01-02.csv.gz": KNOWN_FILL_LINES, "orders-2026-01-02.csv.gz": KNOWN_ORDER_LINES,
    }


async def test_a_record_without_a_column_fails_the_batch_before_any_byte_is_written(tmp_path: Path) -> None:
    archive = GzipCsvArchive(tmp_path)
    await archive.append([aged("o-1")])
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.name != ".lock"}
    good = aged("o-2", seconds=DAY)
    broken = AgedOrder({k: v for k, v in aged("o-3", seconds=1).record.items() if k != "fees"})
    with pytest.raises(ValidationError, match="aged record has no 'fees'") as raised:
        await archive.append([good, broken])
    assert raised.value.field == "fees"
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.name != ".lock"} == before


async def test_orders_and_fills_go_to_a_file_per_utc_day_and_kind(tmp_path: Path) -> None:
    archive = GzipCsvArchive(tmp_path / "archive")
    await archive.open()
    first = [aged("o-1"), aged("o-2", OrderStatus.REJECTED, seconds=1), aged("o-3", seconds=DAY)]
    assert await archive.append(first) == Archived(orders=3, fills=4)
    second = [aged("o-4", OrderStatus.CANCELLED, seconds=2, client_order_id="c-4", strategy_id="s-1")]
    assert await archive.append(second) == Archived(orders=1, fills=1)

    names = sorted(path.name for path in (tmp_path / "archive").glob("*.csv.gz"))
    assert names == ["fills-2026-01-02.csv.gz", "fills-2026-01-03.csv.gz",
                     "orders-2026-01-02.csv.gz", "orders-2026-01-03.csv.gz"]
    day_one = [first[0], first[1], second[0]]
    assert rows(tmp_path / "archive" / "orders-2026-01-02.csv.gz") == [as_written(a.order.to_dict()) for a in day_one]
    assert rows(tmp_path / "archive" / "fills-2026-01-02.csv.gz") == [
        as_written(fill.to_dict()) for a in day_one for fill in a.fills
    ]
    assert rows(tmp_path / "archive" / "orders-2026-01-03.csv.gz") == [as_written(first[2].order.to_dict())]
    # Two appends, two members: the header is in the first only.
    raw = gzip.decompress((tmp_path / "archive" / "orders-2026-01-02.csv.gz").read_bytes()).decode()
    assert raw.count("order_id,client_order_id") == 1


async def test_duckdb_reads_the_files_with_exact_decimals(tmp_path: Path) -> None:
    archive = GzipCsvArchive(tmp_path)
    batch = [aged(f"o-{n}", seconds=n) for n in range(5)]
    await archive.append(batch)
    orders = duckdb.sql(
        f"SELECT order_id, quantity, updated_at FROM read_csv('{tmp_path}/orders-*.csv.gz', header = true, "
        "all_varchar = true) ORDER BY updated_at"
    ).fetchall()
    assert orders == [(a.order.order_id, "1.500000000000000001", a.order.to_dict()["updated_at"]) for a in batch]
    [(count,)] = duckdb.sql(f"SELECT count(*) FROM read_csv('{tmp_path}/fills-*.csv.gz', header = true)").fetchall()
    assert count == sum(len(a.fills) for a in batch)


async def test_a_member_half_written_by_a_crash_is_cut_off_on_open(tmp_path: Path) -> None:
    archive = GzipCsvArchive(tmp_path)
    committed = [aged("o-1"), aged("o-2", seconds=1)]
    await archive.append(committed)
    path = tmp_path / "orders-2026-01-02.csv.gz"
    good = path.read_bytes()
    # The process dies while appending the next member, before the manifest names it.
    member = _member(ORDER_COLUMNS, [aged("o-3", seconds=2).order.to_dict()], header=False)
    with open(path, "ab") as file:
        file.write(member[: len(member) // 2])
    with pytest.raises(EOFError):
        rows(path)

    archive.close()  # the process died
    reopened = GzipCsvArchive(tmp_path)
    await reopened.open()
    assert path.read_bytes() == good
    assert rows(path) == [as_written(a.order.to_dict()) for a in committed]
    assert await reopened.append([aged("o-3", seconds=2)]) == Archived(orders=1, fills=2)
    assert [row["order_id"] for row in rows(path)] == ["o-1", "o-2", "o-3"]


async def test_a_new_file_a_crash_left_half_written_starts_again_with_its_header(tmp_path: Path) -> None:
    archive = GzipCsvArchive(tmp_path)
    await archive.append([aged("o-1")])
    # The next day's file was entered in the manifest, then the process died inside its first member.
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["files"]["orders-2026-01-03.csv.gz"] = 0
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    member = _member(ORDER_COLUMNS, [aged("o-2", seconds=DAY).order.to_dict()], header=True)
    (tmp_path / "orders-2026-01-03.csv.gz").write_bytes(member[:20])
    archive.close()  # the process died

    reopened = GzipCsvArchive(tmp_path)
    await reopened.open()
    assert (tmp_path / "orders-2026-01-03.csv.gz").read_bytes() == b""
    await reopened.append([aged("o-2", seconds=DAY)])
    assert [row["order_id"] for row in rows(tmp_path / "orders-2026-01-03.csv.gz")] == ["o-2"]


async def test_a_batch_archived_but_not_yet_deleted_is_not_written_again_after_a_restart(tmp_path: Path) -> None:
    batch = [aged("o-1"), aged("o-2", seconds=1)]
    archive = GzipCsvArchive(tmp_path)
    await archive.append(batch)
    files = {path.name: path.read_bytes() for path in tmp_path.glob("*.csv.gz")}

    # The process stopped before the store deleted the batch: the same orders come back.
    archive.close()
    restarted = GzipCsvArchive(tmp_path)
    await restarted.open()
    assert await restarted.append(batch) == Archived()
    assert {path.name: path.read_bytes() for path in tmp_path.glob("*.csv.gz")} == files
    # Among newer ones, only the newer are written.
    assert await restarted.append([*batch, aged("o-3", seconds=2)]) == Archived(orders=1, fills=2)
    assert [row["order_id"] for row in rows(tmp_path / "orders-2026-01-02.csv.gz")] == ["o-1", "o-2", "o-3"]


async def test_a_write_that_failed_half_way_in_this_process_is_dropped_before_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = GzipCsvArchive(tmp_path)
    await archive.append([aged("o-1")])
    path = tmp_path / "orders-2026-01-02.csv.gz"
    with open(path, "ab") as file:  # what a write interrupted by a full disk leaves
        file.write(b"\x1f\x8b\x08\x00partial")
    await archive.append([aged("o-2", seconds=1)])
    assert [row["order_id"] for row in rows(path)] == ["o-1", "o-2"]


async def test_the_manifest_is_replaced_whole(tmp_path: Path) -> None:
    archive = GzipCsvArchive(tmp_path)
    await archive.append([aged("o-1")])
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["pending"] == ["o-1"]
    assert manifest["files"] == {path.name: path.stat().st_size for path in tmp_path.glob("*.csv.gz")}
    assert not (tmp_path / (MANIFEST + ".tmp")).exists()


async def test_one_process_writes_one_archive_directory(tmp_path: Path) -> None:
    first = GzipCsvArchive(tmp_path)
    await first.open()
    second = GzipCsvArchive(tmp_path)
    with pytest.raises(ArchiveInUse, match="in use by another process; give each instance its own"):
        await second.open()
    first.close()
    await second.open()  # once released, another may take it
    assert await second.append([aged("o-1")]) == Archived(orders=1, fills=2)
    second.close()
