"""GET /api/v1/positions/current and GET /api/v1/portfolio/pnl: average cost, realized and
unrealized P&L, cash per currency and conversion into the reporting currency, exactly."""

from __future__ import annotations

from decimal import Decimal

from tests.http.trading_api import D, get_json, place_ok, pnl, script_market

FEE = Decimal("0.001")


async def test_fresh_account(client) -> None:
    valuation = await pnl(client)
    assert valuation["reporting_currency"] == "USD"
    assert {k: D(v) for k, v in valuation["cash"].items()} == {"USD": 10000}
    assert all(D(v) == 0 for v in valuation["reserved"].values())
    for key in ("gross_exposure", "net_exposure", "realized_pnl", "unrealized_pnl", "fees", "net_pnl"):
        assert D(valuation[key]) == 0, key
    assert D(valuation["equity"]) == 10000
    assert valuation["positions"] == []
    assert await get_json(client, "/api/v1/positions/current") == {"positions": []}


async def test_average_cost_realized_and_unrealized_pnl(make_container, make_client) -> None:
    container = make_container()
    _clock, feed = script_market(container)
    client = await make_client(container)

    first = await place_ok(client, quantity="0.05")
    assert first["average_fill_price"] == "50010.00"
    feed.push("BTC-USD", "51000")
    second = await place_ok(client, quantity="0.05")
    assert second["average_fill_price"] == "51010.20"

    [position] = (await get_json(client, "/api/v1/positions/current"))["positions"]
    assert D(position["quantity"]) == Decimal("0.1")
    assert D(position["average_entry_price"]) == Decimal("50510.10")  # (2500.5 + 2550.51) / 0.1
    assert D(position["mark"]) == 51000
    assert D(position["unrealized_pnl"]) == Decimal("0.1") * (51000 - Decimal("50510.10"))

    sell = await place_ok(client, side="sell", quantity="0.05")
    assert sell["average_fill_price"] == "50989.80"
    [position] = (await get_json(client, "/api/v1/positions/current"))["positions"]
    assert D(position["quantity"]) == Decimal("0.05")
    assert D(position["average_entry_price"]) == Decimal("50510.10")  # reducing keeps the average
    realized = Decimal("0.05") * (Decimal("50989.80") - Decimal("50510.10"))
    unrealized = Decimal("0.05") * (51000 - Decimal("50510.10"))
    assert D(position["realized_pnl"]) == realized == Decimal("23.985")
    assert D(position["unrealized_pnl"]) == unrealized == Decimal("24.495")

    notionals = [Decimal("2500.5"), Decimal("2550.51"), Decimal("2549.49")]
    fees = sum(n * FEE for n in notionals)
    cash = Decimal(10000) - notionals[0] - notionals[1] + notionals[2] - fees
    valuation = await pnl(client)
    assert D(valuation["cash"]["USD"]) == cash
    assert D(valuation["fees"]) == fees
    assert D(position["fees_paid"]) == fees
    assert D(valuation["realized_pnl"]) == realized
    assert D(valuation["unrealized_pnl"]) == unrealized
    assert D(valuation["net_pnl"]) == realized + unrealized - fees
    assert D(valuation["equity"]) == cash + Decimal("0.05") * 51000
    assert D(valuation["gross_exposure"]) == D(valuation["net_exposure"]) == Decimal("2550")
    # Equity moved by exactly the P&L net of fees.
    assert D(valuation["equity"]) - 10000 == D(valuation["net_pnl"])


async def test_position_in_another_quote_currency_is_converted(client) -> None:
    """Selling 1 ETH-BTC brings BTC cash and a short position valued in BTC; equity and exposure
    are in USD through the BTC-USD mark."""
    sell = await place_ok(client, symbol="ETH-BTC", side="sell", quantity="1")
    assert sell["average_fill_price"] == "0.05998"  # 0.06 less 2 bps, down to the 0.00001 tick
    btc_cash = Decimal("0.05998") * (1 - FEE)

    [position] = (await get_json(client, "/api/v1/positions/current"))["positions"]
    assert (position["symbol"], position["currency"], D(position["quantity"])) == ("ETH-BTC", "BTC", -1)
    assert D(position["market_value"]) == Decimal("-0.06")
    assert D(position["unrealized_pnl"]) == Decimal("-0.00002")

    valuation = await pnl(client)
    assert {k: D(v) for k, v in valuation["cash"].items()} == {"USD": 10000, "BTC": btc_cash}
    assert D(valuation["gross_exposure"]) == 3000
    assert D(valuation["net_exposure"]) == -3000
    assert D(valuation["unrealized_pnl"]) == -1  # -0.00002 BTC at 50000
    assert D(valuation["fees"]) == Decimal("0.05998") * FEE * 50000
    assert D(valuation["equity"]) == 10000 + btc_cash * 50000 - 3000

    risk = await get_json(client, "/api/v1/risk/status")
    assert D(risk["utilisation"]["positions"]["ETH-BTC"]["notional"]) == 3000


async def test_ten_buys_of_a_tenth_make_exactly_one(client) -> None:
    for _ in range(10):
        await place_ok(client, symbol="ETH-USD", quantity="0.1")
    [position] = (await get_json(client, "/api/v1/positions/current"))["positions"]
    assert D(position["quantity"]) == 1
    assert D(position["average_entry_price"]) == Decimal("3000.60")
    valuation = await pnl(client)
    assert D(valuation["cash"]["USD"]) == Decimal(10000) - Decimal("3000.60") * (1 + FEE)
