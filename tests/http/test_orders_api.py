"""POST/GET/DELETE /api/v1/orders and GET /api/v1/orders/{id}/fills: fills at exact prices, resting,
crossing, immediate-or-cancel, cancelling, and what each does to cash and positions."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from decimal import Decimal

from dependency_injector import providers

from tests.conftest import AUTH
from tests.http.trading_api import (
    D,
    ORDERS,
    eventually,
    expect_error,
    get_json,
    place,
    place_ok,
    pnl,
    script_market,
)
from trading_engine.services.archive_hint import ArchiveHint

FEE_RATE = Decimal(10) / Decimal(10000)  # venue.fee_bps 10
DECIMAL_FIELDS = ("quantity", "filled_quantity", "remaining_quantity", "filled_notional", "fees")


def assert_decimal_strings(order: dict) -> None:
    """Decimals travel as strings, never as JSON numbers."""
    for name in DECIMAL_FIELDS:
        assert isinstance(order[name], str), (name, order[name])
    for name in ("limit_price", "average_fill_price"):
        assert order[name] is None or isinstance(order[name], str), (name, order[name])


async def test_market_buy_fills_at_the_price_plus_slippage_on_the_tick_grid(client) -> None:
    resp = await client.post(
        ORDERS, json={"symbol": "BTC-USD", "side": "buy", "type": "market", "quantity": "0.1"}, headers=AUTH
    )
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    assert_decimal_strings(order)
    assert order["order_id"].startswith("ord_") and "BTC" not in order["order_id"]
    assert (order["symbol"], order["side"], order["type"], order["time_in_force"]) == ("BTC-USD", "buy", "market", "gtc")
    assert order["status"] == "filled"
    assert order["quantity"] == "0.1"
    assert order["filled_quantity"] == "0.1"
    assert D(order["remaining_quantity"]) == 0
    # 50000 moved 2 bps against the buyer is 50010, a whole number of 0.01 ticks.
    assert order["average_fill_price"] == "50010.00"
    assert D(order["filled_notional"]) == Decimal("5001.000")
    expected_fee = Decimal("0.1") * Decimal("50010.00") * 10 / 10000
    assert D(order["fees"]) == expected_fee == Decimal("5.001")
    assert order["reject_reason"] is None and order["cancel_reason"] is None

    # The same order, read back.
    assert await get_json(client, f"{ORDERS}/{order['order_id']}") == order

    fills = (await get_json(client, f"{ORDERS}/{order['order_id']}/fills"))["fills"]
    assert len(fills) == 1
    [fill] = fills
    assert fill["order_id"] == order["order_id"]
    assert fill["fill_id"].startswith("fil_")
    assert (fill["symbol"], fill["side"], fill["quantity"], fill["price"]) == ("BTC-USD", "buy", "0.1", "50010.00")
    assert D(fill["fee"]) == expected_fee and fill["fee_currency"] == "USD"

    positions = (await get_json(client, "/api/v1/positions/current"))["positions"]
    assert len(positions) == 1
    [position] = positions
    assert position["symbol"] == "BTC-USD" and position["currency"] == "USD"
    assert position["quantity"] == "0.1"
    assert position["average_entry_price"] == "50010.00"
    assert D(position["mark"]) == 50000
    assert D(position["market_value"]) == Decimal("5000")
    assert D(position["unrealized_pnl"]) == Decimal("-1")  # 0.1 * (50000 - 50010)
    assert D(position["realized_pnl"]) == 0
    assert D(position["fees_paid"]) == expected_fee

    valuation = await pnl(client)
    cash = Decimal(10000) - Decimal("5001.000") - expected_fee
    assert valuation["reporting_currency"] == "USD"
    assert {k: D(v) for k, v in valuation["cash"].items()} == {"USD": cash}
    assert D(valuation["cash"]["USD"]) == Decimal("4993.999")
    assert D(valuation["equity"]) == cash + Decimal(5000)
    assert D(valuation["gross_exposure"]) == D(valuation["net_exposure"]) == Decimal(5000)
    assert D(valuation["realized_pnl"]) == 0
    assert D(valuation["unrealized_pnl"]) == Decimal(-1)
    assert D(valuation["fees"]) == expected_fee
    assert D(valuation["net_pnl"]) == Decimal(-1) - expected_fee
    assert valuation["positions"] == positions


async def test_buy_then_sell_flat_realises_the_round_trip(client) -> None:
    await place_ok(client)
    sell = await place_ok(client, side="sell")
    assert sell["status"] == "filled"
    assert sell["average_fill_price"] == "49990.00"  # 50000 moved 2 bps against the seller
    assert (await get_json(client, "/api/v1/positions/current"))["positions"] == []
    valuation = await pnl(client)
    fees = Decimal("0.1") * (Decimal("50010") + Decimal("49990")) * FEE_RATE
    assert D(valuation["fees"]) == fees == Decimal(10)
    assert D(valuation["realized_pnl"]) == Decimal("-2")  # 0.1 * (49990 - 50010)
    assert D(valuation["unrealized_pnl"]) == 0
    assert D(valuation["cash"]["USD"]) == Decimal(10000) - 2 - fees
    assert D(valuation["equity"]) == D(valuation["cash"]["USD"])
    assert D(valuation["gross_exposure"]) == 0


async def test_lowercase_symbol_is_normalised(client) -> None:
    order = await place_ok(client, symbol="eth-usd", quantity="1")
    assert order["symbol"] == "ETH-USD" and order["status"] == "filled"
    assert order["average_fill_price"] == "3000.60"


async def test_resting_limit_order_then_cancel(client) -> None:
    order = await place_ok(client, type="limit", limit_price="49000.00")
    assert order["status"] == "open"
    assert order["limit_price"] == "49000.00"
    assert order["filled_quantity"] == "0" and order["average_fill_price"] is None
    order_id = order["order_id"]

    reserved = Decimal("0.1") * Decimal("49000") * (1 + FEE_RATE)
    valuation = await pnl(client)
    assert D(valuation["cash"]["USD"]) == 10000  # nothing spent yet...
    assert D(valuation["reserved"]["USD"]) == reserved  # ...but held back for the order
    assert (await get_json(client, f"{ORDERS}/{order_id}"))["status"] == "open"
    assert (await get_json(client, f"{ORDERS}/{order_id}/fills")) == {"fills": []}

    resp = await client.delete(f"{ORDERS}/{order_id}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    cancelled = await resp.json()
    assert cancelled["order_id"] == order_id
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"]
    assert (await get_json(client, f"{ORDERS}/{order_id}"))["status"] == "cancelled"
    valuation = await pnl(client)
    assert D(valuation["cash"]["USD"]) == 10000
    assert all(D(v) == 0 for v in valuation["reserved"].values())

    error = await expect_error(await client.delete(f"{ORDERS}/{order_id}", headers=AUTH), 409, "conflict")
    assert order_id in error["message"] and "cancelled" in error["message"]
    assert "open" in error["message"]  # what can be cancelled


async def test_cancelling_a_filled_order_is_a_conflict(client) -> None:
    order = await place_ok(client)
    error = await expect_error(await client.delete(f"{ORDERS}/{order['order_id']}", headers=AUTH), 409, "conflict")
    assert "filled" in error["message"]
    assert (await get_json(client, f"{ORDERS}/{order['order_id']}"))["status"] == "filled"


async def test_unknown_order_id_is_404_everywhere(client) -> None:
    for resp in (
        await client.get(f"{ORDERS}/ord_doesnotexist"),
        await client.get(f"{ORDERS}/ord_doesnotexist/fills"),
        await client.delete(f"{ORDERS}/ord_doesnotexist", headers=AUTH),
    ):
        error = await expect_error(resp, 404, "not_found")
        assert "ord_doesnotexist" in error["message"]


async def test_limit_order_fills_when_the_price_crosses_it(make_container, make_client) -> None:
    container = make_container()
    _clock, feed = script_market(container)
    client = await make_client(container)

    order = await place_ok(client, type="limit", limit_price="49000")
    assert order["status"] == "open"
    order_id = order["order_id"]

    feed.push("BTC-USD", "49500")  # above a buy limit of 49000: nothing happens
    assert (await get_json(client, f"{ORDERS}/{order_id}"))["status"] == "open"

    feed.push("BTC-USD", "48999.99")  # crosses: fills at the limit price

    async def filled() -> dict | None:
        current = await get_json(client, f"{ORDERS}/{order_id}")
        return current if current["status"] == "filled" else None

    current = await eventually(filled)
    assert D(current["average_fill_price"]) == 49000
    assert current["filled_quantity"] == "0.1"
    fee = Decimal("0.1") * 49000 * FEE_RATE
    assert D(current["fees"]) == fee

    fills = (await eventually(lambda: _fills(client, order_id)))
    assert len(fills) == 1
    assert (fills[0]["quantity"], D(fills[0]["price"]), D(fills[0]["fee"])) == ("0.1", Decimal(49000), fee)

    valuation = await pnl(client)
    assert D(valuation["cash"]["USD"]) == Decimal(10000) - 4900 - fee
    assert all(D(v) == 0 for v in valuation["reserved"].values())
    [position] = valuation["positions"]
    assert (position["symbol"], position["quantity"]) == ("BTC-USD", "0.1")
    assert D(position["mark"]) == Decimal("48999.99")

    # Filled now: no longer cancellable.
    await expect_error(await client.delete(f"{ORDERS}/{order_id}", headers=AUTH), 409, "conflict")


async def test_order_read_right_after_a_resting_fill_shows_it_filled(make_container, make_client) -> None:
    """Once the venue has filled a resting order, the API shows it filled at once: the order agrees
    with the position and cash that already include the fill, and cancelling it is refused because
    it is filled (never "it is open; only open orders can be cancelled")."""
    container = make_container()
    _clock, feed = script_market(container)
    client = await make_client(container)
    seen = []
    for _ in range(10):
        order = await place_ok(client, quantity="0.001", type="limit", limit_price="49000")
        feed.push("BTC-USD", "48000")  # crosses: the venue fills it now
        current = await get_json(client, f"{ORDERS}/{order['order_id']}")
        resp = await client.delete(f"{ORDERS}/{order['order_id']}", headers=AUTH)
        seen.append((current["status"], resp.status, (await resp.json())["error"]["message"]))
        feed.push("BTC-USD", "50000")
    stale = [entry for entry in seen if entry[0] != "filled" or "is filled" not in entry[2]]
    assert stale == [], f"{len(stale)} of {len(seen)} reads showed the order as before its fill: {stale[0]}"


async def _fills(client, order_id: str) -> list:
    return (await get_json(client, f"{ORDERS}/{order_id}/fills"))["fills"]


async def test_resting_order_fills_partly_then_the_rest_is_cancelled(make_container, make_client) -> None:
    # ETH-USD liquidity is 50 per tick; limits raised so a 60 ETH order at 100 passes risk.
    container = make_container(
        {"risk": {"max_position_size": "1000000", "limit_threshold": "1000000"}}
    )
    _clock, feed = script_market(container)
    client = await make_client(container)

    order = await place_ok(client, symbol="ETH-USD", type="limit", quantity="60", limit_price="100")
    assert order["status"] == "open"
    order_id = order["order_id"]
    feed.push("ETH-USD", "99.99")

    current = await get_json(client, f"{ORDERS}/{order_id}")
    assert current["status"] == "partially_filled"
    assert D(current["filled_quantity"]) == 50 and D(current["remaining_quantity"]) == 10
    fills = await eventually(lambda: _fills(client, order_id))
    assert [D(f["quantity"]) for f in fills] == [50]

    resp = await client.delete(f"{ORDERS}/{order_id}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    cancelled = await resp.json()
    assert cancelled["status"] == "cancelled"
    assert D(cancelled["filled_quantity"]) == 50

    valuation = await pnl(client)
    fee = Decimal(50) * 100 * FEE_RATE
    assert D(valuation["cash"]["USD"]) == Decimal(10000) - 5000 - fee
    assert all(D(v) == 0 for v in valuation["reserved"].values())
    [position] = valuation["positions"]
    assert D(position["quantity"]) == 50

    feed.push("ETH-USD", "99.98")  # cancelled: the rest never fills
    assert D((await get_json(client, f"{ORDERS}/{order_id}"))["filled_quantity"]) == 50


async def test_ioc_limit_buy_that_is_not_marketable_is_cancelled(client) -> None:
    """An immediate-or-cancel buy below the market fills nothing and is cancelled at once, and it
    never touches the cash held back for other resting orders."""
    ioc = await place_ok(client, type="limit", limit_price="40000", time_in_force="ioc")
    assert ioc["status"] == "cancelled"
    assert ioc["cancel_reason"] == "ioc_not_marketable"
    assert ioc["filled_quantity"] == "0"
    assert (await get_json(client, f"{ORDERS}/{ioc['order_id']}"))["status"] == "cancelled"
    assert D((await pnl(client))["cash"]["USD"]) == 10000

    # With another buy resting, its reservation is untouched by the IOC order.
    await place_ok(client, type="limit", limit_price="49000")
    reserved = D((await pnl(client))["reserved"]["USD"])
    assert reserved == Decimal("0.1") * 49000 * (1 + FEE_RATE)
    again = await place_ok(client, type="limit", limit_price="40000", time_in_force="ioc")
    assert again["status"] == "cancelled"
    assert D((await pnl(client))["reserved"]["USD"]) == reserved


async def test_ioc_limit_sell_that_is_not_marketable_is_cancelled(client) -> None:
    await place_ok(client)  # hold 0.1 BTC to sell
    ioc = await place_ok(client, side="sell", type="limit", limit_price="60000", time_in_force="ioc")
    assert ioc["status"] == "cancelled"
    assert ioc["cancel_reason"] == "ioc_not_marketable"
    [position] = (await get_json(client, "/api/v1/positions/current"))["positions"]
    assert position["quantity"] == "0.1"


async def test_marketable_ioc_limit_order_fills_at_once(client) -> None:
    order = await place_ok(client, type="limit", limit_price="51000", time_in_force="ioc")
    assert order["status"] == "filled"
    # The taker price (50010.00) is better than the limit, so the order gets it.
    assert order["average_fill_price"] == "50010.00"
    assert order["cancel_reason"] is None


async def test_concurrent_buys_never_spend_more_than_the_cash(client) -> None:
    """Five buys of 0.05 BTC at once (about 2503 USD each, 12515 in all, against 10000): three
    fill, two are rejected for insufficient funds, and cash never goes negative."""
    responses = await asyncio.gather(*(place(client, quantity="0.05") for _ in range(5)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [201, 201, 201, 422, 422], [await r.text() for r in responses]
    for resp in responses:
        if resp.status == 422:
            assert (await resp.json())["error"]["code"] == "insufficient_funds"
    valuation = await pnl(client)
    cost = Decimal("0.05") * Decimal("50010.00") * (1 + FEE_RATE)
    assert D(valuation["cash"]["USD"]) == 10000 - 3 * cost
    [position] = valuation["positions"]
    assert D(position["quantity"]) == Decimal("0.15")


async def test_concurrent_cancels_of_one_order_cancel_it_once(client) -> None:
    order = await place_ok(client, type="limit", limit_price="49000")
    path = f"{ORDERS}/{order['order_id']}"
    responses = await asyncio.gather(*(client.delete(path, headers=AUTH) for _ in range(5)))
    assert sorted(r.status for r in responses) == [200, 409, 409, 409, 409]
    assert (await get_json(client, path))["status"] == "cancelled"
    assert all(D(v) == 0 for v in (await pnl(client))["reserved"].values())


async def test_decimals_in_responses_are_positional_never_scientific(client) -> None:
    """Every decimal the API returns is a plain positional string (the OpenAPI document's
    ``^-?\\d+(\\.\\d+)?$``), whether the client wrote it with an exponent or the engine computed a
    tiny amount (a fee of 0.00000005998 BTC), so clients never have to parse ``5.998E-8``."""
    raw = '{"symbol": "ETH-USD", "side": "buy", "type": "limit", "quantity": 1e-1, "limit_price": 2.5e3}'
    resp = await client.post(ORDERS, data=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status == 201, await resp.text()
    limit = await resp.json()
    tiny = await place_ok(client, symbol="ETH-BTC", side="sell", quantity="0.001")
    documents = [
        limit,
        tiny,
        await get_json(client, f"{ORDERS}/{tiny['order_id']}/fills"),
        await get_json(client, "/api/v1/positions/current"),
        await get_json(client, "/api/v1/portfolio/pnl"),
        await get_json(client, "/api/v1/risk/status"),
    ]
    positional = re.compile(r"-?\d+(\.\d+)?")
    scientific = [
        (path, value) for document in documents for path, value in _strings(document)
        if re.fullmatch(r"-?[\d.]+[eE][-+]?\d+", value) and not positional.fullmatch(value)
    ]
    assert scientific == [], "scientific notation in responses: " + ", ".join(f"{p}={v}" for p, v in scientific)
    assert limit["limit_price"] in ("2500", "2500.00")


def _strings(value, path: str = ""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


async def test_an_unknown_order_id_with_a_retention_points_to_the_archive(make_container, make_client) -> None:
    container = make_container()
    container.archive_hint.override(providers.Object(ArchiveHint(timedelta(hours=12), "/srv/engine/archive")))
    client = await make_client(container)
    for resp in (
        await client.get(f"{ORDERS}/ord_aged_out"),
        await client.get(f"{ORDERS}/ord_aged_out/fills"),
        await client.delete(f"{ORDERS}/ord_aged_out", headers=AUTH),
    ):
        error = await expect_error(resp, 404, "not_found")
        assert error["message"].startswith("order 'ord_aged_out' not found; orders that finished")
        assert "more than 12h ago" in error["message"] and "/srv/engine/archive" in error["message"]
    # An order the store holds is read as before.
    order = await place_ok(client)
    assert (await get_json(client, f"{ORDERS}/{order['order_id']}"))["order_id"] == order["order_id"]
