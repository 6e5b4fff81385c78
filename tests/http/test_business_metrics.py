"""The business metrics in the Prometheus scrape after a known sequence of orders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AUTH
from tests.http.trading_api import D, ORDERS, expect_error, get_json, place, place_ok, pnl

CONSTANT_LABELS = {"service", "instance", "version"}


def scrape_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels without the constant ones): value}."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert CONSTANT_LABELS <= set(sample.labels), sample
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in CONSTANT_LABELS))
            values[(sample.name, labels)] = sample.value
    return values


def named(values: dict, name: str) -> dict[tuple, float]:
    return {labels: value for (sample, labels), value in values.items() if sample == name}


async def scrape(client) -> dict:
    resp = await client.get("/api/v1/metrics")
    assert resp.status == 200
    return scrape_values(await resp.text())


def order_labels(symbol: str, side: str, type_: str, status: str) -> tuple:
    return (("side", side), ("status", status), ("symbol", symbol), ("type", type_))


async def test_business_metrics_after_a_known_sequence(client) -> None:
    # 1. Two market buys.
    await place_ok(client)  # 0.1 BTC-USD at 50010.00
    await place_ok(client, symbol="ETH-USD", quantity="1")  # 1 ETH-USD at 3000.60
    # 2. A rejection: another 0.1 BTC needs ~5006 USD, only ~1990 is left.
    await expect_error(await place(client), 422, "insufficient_funds")
    # 3. A resting limit buy, then cancelled.
    resting = await place_ok(client, symbol="ETH-USD", type="limit", quantity="0.5", limit_price="2000")
    assert resting["status"] == "open"
    resp = await client.delete(f"{ORDERS}/{resting['order_id']}", headers=AUTH)
    assert resp.status == 200
    # 4. An order for an unconfigured symbol: its label must not be the symbol.
    await expect_error(await place(client, symbol="DOGE-USD"), 422, "unknown_symbol")
    # 5. Bad input is not an order at all.
    await expect_error(await place(client, quantity="-1"), 422, "validation_error")

    values = await scrape(client)

    assert named(values, "orders_total") == {
        order_labels("BTC-USD", "buy", "market", "filled"): 1.0,
        order_labels("ETH-USD", "buy", "market", "filled"): 1.0,
        order_labels("BTC-USD", "buy", "market", "rejected"): 1.0,
        order_labels("ETH-USD", "buy", "limit", "open"): 1.0,
        order_labels("ETH-USD", "buy", "limit", "cancelled"): 1.0,
        order_labels("unknown", "buy", "market", "rejected"): 1.0,
    }
    assert named(values, "order_rejections_total") == {
        (("reason", "insufficient_funds"),): 1.0,
        (("reason", "unknown_symbol"),): 1.0,
    }
    assert named(values, "fills_total") == {
        (("side", "buy"), ("symbol", "BTC-USD")): 1.0,
        (("side", "buy"), ("symbol", "ETH-USD")): 1.0,
    }
    # Accept-to-acknowledge of each order that was placed (rejections are not processed).
    assert named(values, "order_processing_seconds_count") == {(): 3.0}
    assert named(values, "order_processing_seconds_sum")[()] >= 0

    assert named(values, "positions_active") == {(): 2.0}
    assert named(values, "position_notional") == {
        (("symbol", "BTC-USD"),): 5000.0,
        (("symbol", "ETH-USD"),): 3000.0,
        (("symbol", "ETH-BTC"),): 0.0,
    }

    valuation = await pnl(client)
    assert named(values, "portfolio_equity") == {(): pytest.approx(float(D(valuation["equity"])), abs=1e-9)}
    expected_equity = Decimal(10000) - Decimal("5001") * Decimal("1.001") - Decimal("3000.60") * Decimal("1.001") + 8000
    assert D(valuation["equity"]) == expected_equity
    assert named(values, "portfolio_pnl") == {
        (("kind", "realized"),): pytest.approx(float(D(valuation["realized_pnl"])), abs=1e-9),
        (("kind", "unrealized"),): pytest.approx(float(D(valuation["unrealized_pnl"])), abs=1e-9),
    }
    assert named(values, "portfolio_pnl")[(("kind", "unrealized"),)] == pytest.approx(-1.6)
    assert named(values, "portfolio_pnl")[(("kind", "realized"),)] == 0.0

    assert named(values, "risk_circuit_breaker_open") == {(): 0.0}
    ages = named(values, "market_data_age_seconds")
    assert set(ages) == {(("symbol", s),) for s in ("BTC-USD", "ETH-BTC", "ETH-USD")}
    assert all(0 <= age < 5 for age in ages.values())

    # Bounded: no series anywhere carries the unconfigured symbol.
    assert not any(("symbol", "DOGE-USD") in labels for (_name, labels) in values)


async def test_gauges_follow_the_breaker_and_a_closed_position(client) -> None:
    await place_ok(client)
    await place_ok(client, side="sell")
    resp = await client.post("/api/v1/risk/circuit-breaker", json={"action": "trip", "reason": "x"}, headers=AUTH)
    assert resp.status == 200
    values = await scrape(client)
    assert named(values, "risk_circuit_breaker_open") == {(): 1.0}
    assert named(values, "positions_active") == {(): 0.0}
    assert set(named(values, "position_notional").values()) == {0.0}
    assert named(values, "portfolio_pnl")[(("kind", "realized"),)] == pytest.approx(-2.0)
    assert named(values, "fills_total") == {
        (("side", "buy"), ("symbol", "BTC-USD")): 1.0,
        (("side", "sell"), ("symbol", "BTC-USD")): 1.0,
    }
    valuation = await get_json(client, "/api/v1/portfolio/pnl")
    assert named(values, "portfolio_equity")[()] == pytest.approx(float(D(valuation["equity"])))

    resp = await client.post("/api/v1/risk/circuit-breaker", json={"action": "reset"}, headers=AUTH)
    assert resp.status == 200
    assert named(await scrape(client), "risk_circuit_breaker_open") == {(): 0.0}
