"""The real service with a short retention: a filled order leaves the SQLite store for the
archive files, the metrics say so, and its client_order_id then names a new order."""

from __future__ import annotations

import csv
import gzip
import urllib.request
from pathlib import Path

import pytest

from tests.support.api import ServiceApi, wait_for
from tests.support.process import ServiceProcess

pytestmark = pytest.mark.integration

TOKEN = "retention-process-token-0123456789"


def metrics(service: ServiceProcess) -> str:
    with urllib.request.urlopen(f"{service.base_url}/metrics", timeout=5) as resp:
        return resp.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_filled_order_ages_out_into_the_archive_and_its_client_order_id_is_free_again(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    env = {
        "TRADING_ENGINE_API_TOKEN": TOKEN,
        "TRADING_ENGINE_RETENTION": "1s",
        "TRADING_ENGINE_RETENTION_SWEEP_INTERVAL": "0.2s",
        "TRADING_ENGINE_ARCHIVE_DIR": str(archive),
    }
    with ServiceProcess(env=env) as service:
        service.wait_healthy()
        api = ServiceApi(service.base_url, TOKEN, timeout=10)
        body = {"symbol": "BTC-USD", "side": "buy", "type": "market", "quantity": "0.01", "client_order_id": "once"}
        status, first = api.call("POST", "/orders", body)
        assert status == 201, first

        wait_for(lambda: api.call("GET", f"/orders/{first['order_id']}")[0], lambda code: code == 404)
        [orders_file] = archive.glob("orders-*.csv.gz")
        with gzip.open(orders_file, "rt", newline="") as text:
            [row] = list(csv.DictReader(text))
        assert row["order_id"] == first["order_id"] and row["filled_quantity"] == first["filled_quantity"]
        exposed = wait_for(lambda: metrics(service),
                           lambda text: sample(text, "archive_rows_total", kind="fills") == 1.0)
        assert sample(exposed, "archive_rows_total", kind="orders") == 1.0
        assert (sample(exposed, "store_size_bytes") or 0) > 0
        assert sample(exposed, "store_rows", kind="orders") is not None
        assert sample(exposed, "store_retention_seconds") == 1.0

        status, again = api.call("POST", "/orders", body)
        assert status == 201, again  # the idempotency window is the retention
        assert again["order_id"] != first["order_id"]
        swept = [e for e in service.events() if e.get("event") == "retention_swept"]
        assert swept and swept[0]["orders"] == 1
