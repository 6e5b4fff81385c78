"""/api/v1/strategies: what can run, start, stop, what runs, status, performance; the portfolio
filtered by strategy; the strategy metrics in the scrape; the routes in the OpenAPI document.

Every test scripts the market (``script_market``): prices move only when the test pushes them
and time only when it advances the fake clock, so the strategies' decisions are exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AUTH
from tests.http.trading_api import (
    D,
    all_orders,
    eventually,
    expect_error,
    get_json,
    place,
    script_market,
)
from tests.fakes import FakeClock, ScriptedMarketData

STRATEGIES = "/api/v1/strategies"
CHAOS = {"runaway", "risk_ignorant", "slow_leak"}
MM_PARAMS = {"spread_bps": "20", "quote_size": "0.01", "max_inventory": "0.1", "skew_bps": "10",
             "requote_bps": "5"}


class Api:
    def __init__(self, client: TestClient, clock: FakeClock, feed: ScriptedMarketData, container: Any) -> None:
        self.client, self.clock, self.feed, self.container = client, clock, feed, container

    async def start(self, strategy: str, symbol: str = "BTC-USD", params: dict | None = None, *,
                    status: int = 201) -> dict[str, Any]:
        resp = await self.client.post(f"{STRATEGIES}/start", json={"strategy": strategy, "symbol": symbol,
                                                                    "params": params or {}}, headers=AUTH)
        text = await resp.text()
        assert resp.status == status, text
        return await resp.json()

    async def tick(self, price: str, symbol: str = "BTC-USD", advance: float = 1.0) -> None:
        """Push one price and wait until every running instance on ``symbol`` has taken it (so
        consecutive ticks are not coalesced into the last one)."""
        manager = self.container.strategy_manager()
        waiting = {i.strategy_id: i.performance.ticks for i in manager.active() if i.symbol == symbol}
        self.clock.advance(advance)
        self.feed.push(symbol, price)

        async def taken() -> bool:
            return all(i.performance.ticks > waiting[i.strategy_id] or i.status != "running"
                       for i in manager.instances() if i.strategy_id in waiting)

        await eventually(taken)

    async def resting(self, strategy_id: str) -> list[dict[str, Any]]:
        return [o for o in await all_orders(self.client)
                if o["strategy_id"] == strategy_id and o["status"] in ("open", "partially_filled")]


@pytest.fixture
def start_api(make_container: Callable[..., Any], make_client: Callable[..., Any]) -> Callable[..., Any]:
    async def start(overrides: dict | None = None) -> Api:
        container = make_container(overrides)
        clock, feed = script_market(container)
        client = await make_client(container)
        return Api(client, clock, feed, container)

    return start


def scrape_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels without the constant ones): value}."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items()
                                  if k not in {"service", "instance", "version"}))
            values[(sample.name, labels)] = sample.value
    return values


async def scrape(client: TestClient) -> dict:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return scrape_values(await resp.text())


# -- available --------------------------------------------------------------------------------------
async def test_available_lists_names_and_parameter_schemas_with_defaults(start_api) -> None:
    api = await start_api()
    body = await get_json(api.client, f"{STRATEGIES}/available")
    by_name = {s["name"]: s for s in body["strategies"]}
    # chaos hidden; the example plug-in (installed by make test) is offered like a built-in
    assert set(by_name) == {"market_making", "momentum", "mean_reversion", "donchian"}
    mm = by_name["market_making"]
    assert mm["chaos"] is False and mm["description"] and mm["origin"] == "built-in"
    assert by_name["donchian"]["origin"] == "entry point donchian (trading-engine-donchian)"
    assert by_name["donchian"]["parameters"]["channel"]["default"] == 20
    params = mm["parameters"]
    assert set(params) == {"spread_bps", "quote_size", "max_inventory", "skew_bps", "requote_bps",
                           "max_position_notional", "max_orders_per_second", "max_open_orders"}
    assert params["spread_bps"]["default"] == "20" and params["spread_bps"]["type"] == "string"
    assert params["max_open_orders"] == {
        "type": "integer", "default": 10, "description": params["max_open_orders"]["description"],
        "minimum": 1, "maximum": 1000,
    }
    assert by_name["momentum"]["parameters"]["fast"]["default"] == 5
    assert by_name["mean_reversion"]["parameters"]["entry_z"]["default"] == 2.0


async def test_available_offers_chaos_strategies_when_enabled(start_api) -> None:
    api = await start_api({"strategies": {"enable_chaos": "true"}})
    body = await get_json(api.client, f"{STRATEGIES}/available")
    chaos = {s["name"] for s in body["strategies"] if s["chaos"]}
    assert chaos == CHAOS


# -- start ------------------------------------------------------------------------------------------
async def test_start_a_market_maker_and_watch_it_quote(start_api) -> None:
    api = await start_api()
    started = await api.start("market_making", "btc-usd", MM_PARAMS)
    sid = started["strategy_id"]
    assert started["strategy"] == "market_making" and started["symbol"] == "BTC-USD"
    assert started["status"] == "running" and started["reason"] is None
    assert started["params"]["spread_bps"] == "20" and started["params"]["max_open_orders"] == 10
    assert started["trades"] == 0

    await api.tick("50000")
    quotes = await eventually(lambda: _two(api.resting(sid)))
    assert sorted((q["side"], q["limit_price"]) for q in quotes) == [("buy", "49950.00"), ("sell", "50050.00")]

    active = await get_json(api.client, f"{STRATEGIES}/active")
    assert [s["strategy_id"] for s in active["strategies"]] == [sid]
    status = await get_json(api.client, f"{STRATEGIES}/{sid}/status")
    assert status["status"] == "running" and status["params"] == started["params"]

    # The bid fills; the fill is the maker's: its performance, position and P&L.
    await api.tick("49900")
    perf = await eventually(lambda: _when(get_json(api.client, f"{STRATEGIES}/{sid}/performance"),
                                          lambda p: p["trades"] == 1))
    assert D(perf["position"]) == D("0.01")
    assert D(perf["unrealized_pnl"]) == D("-0.5")
    assert D(perf["fees"]) == D("0.4995")
    assert perf["win_rate"] is None and perf["currency"] == "USD"
    positions = await get_json(api.client, f"/api/v1/positions/current?strategy_id={sid}")
    (position,) = positions["positions"]
    assert position["strategy_id"] == sid and D(position["quantity"]) == D("0.01")
    pnl = await get_json(api.client, f"/api/v1/portfolio/pnl?strategy_id={sid}")
    assert D(pnl["net_pnl"]) == D("-0.9995") and pnl["trades"] == 1


async def _two(rows):  # type: ignore[no-untyped-def]
    found = await rows
    return found if len(found) == 2 else None


async def _when(awaitable, predicate):  # type: ignore[no-untyped-def]
    value = await awaitable
    return value if predicate(value) else None


@pytest.mark.parametrize(
    ("strategy", "params", "field"),
    [
        ("market_making", {"spreadbps": "20"}, "params.spreadbps"),  # unknown parameter
        ("market_making", {"spread_bps": "wide"}, "params.spread_bps"),  # wrong type
        ("market_making", {"spread_bps": True}, "params.spread_bps"),
        ("market_making", {"spread_bps": "0"}, "params.spread_bps"),  # out of range
        ("market_making", {"max_open_orders": 0}, "params.max_open_orders"),
        ("market_making", {"max_orders_per_second": 5000}, "params.max_orders_per_second"),
        ("market_making", {"quote_size": "0.00001"}, "params.quote_size"),  # too small for BTC-USD
        ("market_making", {"quote_size": "0.2", "max_inventory": "0.1"}, "params.max_inventory"),
        ("momentum", {"fast": 20, "slow": 20}, "params.slow"),  # fast >= slow
        ("momentum", {"fast": 2.5}, "params.fast"),
        ("mean_reversion", {"entry_z": 1.0, "exit_z": 1.0}, "params.exit_z"),
        # Decimals are bounded like every API number (found by schemathesis: 2.7e307 was a 500).
        ("momentum", {"position_size": 2.6618815392926997e307}, "params.position_size"),
        ("momentum", {"max_position_notional": "1E+16"}, "params.max_position_notional"),
    ],
)
async def test_bad_params_are_422_naming_the_parameter(start_api, strategy, params, field) -> None:
    api = await start_api()
    resp = await api.client.post(f"{STRATEGIES}/start", json={"strategy": strategy, "symbol": "BTC-USD",
                                                              "params": params}, headers=AUTH)
    await expect_error(resp, 422, "validation_error", field=field)
    assert (await get_json(api.client, f"{STRATEGIES}/active"))["strategies"] == []


async def test_a_plug_in_size_below_the_instruments_minimum_order_is_422_naming_it(start_api) -> None:
    """donchian marks position_size an order size, so the built-ins' rule applies to it: 0.0005
    is a lot of BTC-USD (0.0001) but floors to nothing on ETH-USD (lots of 0.001)."""
    api = await start_api()
    body = {"strategy": "donchian", "symbol": "ETH-USD", "params": {"position_size": "0.0005"}}
    error = await expect_error(await api.client.post(f"{STRATEGIES}/start", json=body, headers=AUTH),
                               422, "validation_error", field="params.position_size")
    assert "ETH-USD" in error["message"] and "0.001" in error["message"]
    assert (await get_json(api.client, f"{STRATEGIES}/active"))["strategies"] == []
    started = await api.start("donchian", "BTC-USD", {"position_size": "0.0005"})
    assert started["params"]["position_size"] == "0.0005"


async def test_unknown_strategy_symbol_and_chaos_when_disabled_are_422(start_api) -> None:
    api = await start_api()
    body = {"strategy": "market_making", "symbol": "DOGE-USD", "params": {}}
    error = await expect_error(await api.client.post(f"{STRATEGIES}/start", json=body, headers=AUTH),
                               422, "validation_error", field="symbol")
    assert "BTC-USD" in error["message"]
    for name in ("martingale", "runaway"):
        body = {"strategy": name, "symbol": "BTC-USD"}
        error = await expect_error(await api.client.post(f"{STRATEGIES}/start", json=body, headers=AUTH),
                                   422, "validation_error", field="strategy")
        assert "market_making" in error["message"]
    assert "ENABLE_CHAOS_STRATEGIES" in error["message"]


async def test_malformed_start_bodies_are_rejected(start_api) -> None:
    api = await start_api()
    for body in ({"symbol": "BTC-USD"}, {"strategy": "momentum", "symbol": "BTC-USD", "extra": 1},
                 {"strategy": "momentum", "symbol": "BTC-USD", "params": [1]}):
        resp = await api.client.post(f"{STRATEGIES}/start", json=body, headers=AUTH)
        assert resp.status in (400, 422), await resp.text()
    assert (await get_json(api.client, f"{STRATEGIES}/active"))["strategies"] == []


async def test_mutating_calls_need_the_token(start_api) -> None:
    api = await start_api()
    body = {"strategy": "market_making", "symbol": "BTC-USD"}
    await expect_error(await api.client.post(f"{STRATEGIES}/start", json=body), 401, "unauthorized")
    await expect_error(await api.client.post(f"{STRATEGIES}/start", json=body,
                                             headers={"Authorization": "Bearer wrong-token-0123456789"}),
                       401, "unauthorized")
    started = await api.start("market_making")
    await expect_error(await api.client.post(f"{STRATEGIES}/stop", json={"strategy_id": started["strategy_id"]}),
                       401, "unauthorized")
    assert len((await get_json(api.client, f"{STRATEGIES}/active"))["strategies"]) == 1


# -- stop -------------------------------------------------------------------------------------------
async def test_stop_cancels_its_quotes_and_a_second_stop_is_409(start_api) -> None:
    api = await start_api()
    mm = await api.start("market_making", params=MM_PARAMS)
    other = await api.start("market_making", params={**MM_PARAMS, "spread_bps": "40"})
    await api.tick("50000")
    await eventually(lambda: _two(api.resting(mm["strategy_id"])))
    await eventually(lambda: _two(api.resting(other["strategy_id"])))
    api_order = await place(api.client, type="limit", limit_price="40000", quantity="0.01")
    assert api_order.status == 201

    resp = await api.client.post(f"{STRATEGIES}/stop", json={"strategy_id": mm["strategy_id"]}, headers=AUTH)
    assert resp.status == 200, await resp.text()
    stopped = await resp.json()
    assert stopped["status"] == "stopped" and stopped["reason"] == "stopped by client"
    assert await api.resting(mm["strategy_id"]) == []
    assert len(await api.resting(other["strategy_id"])) == 2
    assert (await get_json(api.client, f"/api/v1/orders/{(await api_order.json())['order_id']}"))["status"] == "open"

    again = await api.client.post(f"{STRATEGIES}/stop", json={"strategy_id": mm["strategy_id"]}, headers=AUTH)
    await expect_error(again, 409, "conflict")
    unknown = await api.client.post(f"{STRATEGIES}/stop", json={"strategy_id": "stg_unknown"}, headers=AUTH)
    await expect_error(unknown, 404, "not_found")
    active = await get_json(api.client, f"{STRATEGIES}/active")
    assert [s["strategy_id"] for s in active["strategies"]] == [other["strategy_id"]]
    status = await get_json(api.client, f"{STRATEGIES}/{mm['strategy_id']}/status")
    assert status["status"] == "stopped"


async def test_status_and_performance_of_unknown_ids_are_404(start_api) -> None:
    api = await start_api()
    for path in ("status", "performance"):
        await expect_error(await api.client.get(f"{STRATEGIES}/stg_nope/{path}"), 404, "not_found")
    for path in ("/api/v1/positions/current", "/api/v1/portfolio/pnl"):
        await expect_error(await api.client.get(f"{path}?strategy_id=stg_nope"), 404, "not_found")


async def test_portfolio_without_a_filter_is_the_whole_account(start_api) -> None:
    api = await start_api()
    mo = await api.start("momentum", params={"fast": 2, "slow": 3, "position_size": "0.01"})
    for price in ("50000", "50000", "50000", "50100"):
        await api.tick(price)
    await eventually(lambda: _when(get_json(api.client, f"{STRATEGIES}/{mo['strategy_id']}/performance"),
                                   lambda p: p["trades"] == 1))
    assert (await place(api.client, quantity="0.02")).status == 201
    whole = await get_json(api.client, "/api/v1/positions/current")
    assert [D(p["quantity"]) for p in whole["positions"] if p["symbol"] == "BTC-USD"] == [D("0.03")]
    mine = await get_json(api.client, f"/api/v1/positions/current?strategy_id={mo['strategy_id']}")
    assert [D(p["quantity"]) for p in mine["positions"]] == [D("0.01")]
    await expect_error(await api.client.get("/api/v1/portfolio/pnl?strategy=x"), 400, "bad_request")


# -- metrics ----------------------------------------------------------------------------------------
async def test_metrics_show_active_instances_and_limit_breaches(start_api) -> None:
    api = await start_api()
    before = await scrape(api.client)
    assert before[("trading_strategy_active", (("strategy", "market_making"),))] == 0
    # max_open_orders 1: the bid rests, the ask is refused by the instance's limit.
    mm = await api.start("market_making", params={**MM_PARAMS, "max_open_orders": 1})
    await api.tick("50000")
    await eventually(lambda: _when(get_json(api.client, f"{STRATEGIES}/{mm['strategy_id']}/status"),
                                   lambda s: s["limit_hits"] == 1))
    values = await scrape(api.client)
    assert values[("trading_strategy_active", (("strategy", "market_making"),))] == 1
    assert values[("trading_strategy_active", (("strategy", "momentum"),))] == 0
    assert values[("trading_risk_limit_breaches_total",
                   (("limit_type", "max_open_orders"), ("strategy", "market_making")))] == 1
    assert ("trading_strategy_pnl", (("strategy", "market_making"),)) in values

    resp = await api.client.post(f"{STRATEGIES}/stop", json={"strategy_id": mm["strategy_id"]}, headers=AUTH)
    assert resp.status == 200
    assert (await scrape(api.client))[("trading_strategy_active", (("strategy", "market_making"),))] == 0


async def test_a_contained_runaway_trips_the_breaker_and_the_api_keeps_serving(start_api) -> None:
    api = await start_api({"strategies": {"enable_chaos": "true", "breaker_after_limit_hits": "10",
                                          "max_orders_per_second": "2"}})
    runaway = await api.start("runaway", params={"orders_per_tick": 5, "quantity": "0.001"})
    sid = runaway["strategy_id"]
    for _ in range(10):
        await api.tick("50000", advance=0.5)
    status = await eventually(lambda: _when(get_json(api.client, f"{STRATEGIES}/{sid}/status"),
                                            lambda s: s["status"] == "error"))
    assert "circuit breaker tripped" in status["reason"]
    risk = await get_json(api.client, "/api/v1/risk/status")
    assert risk["circuit_breaker"]["is_open"] is True and sid in risk["circuit_breaker"]["reason"]
    assert (await get_json(api.client, "/api/v1/health"))["status"] == "healthy"
    await expect_error(await place(api.client), 422, "circuit_breaker_open")
    values = await scrape(api.client)
    assert values[("trading_risk_limit_breaches_total", (("limit_type", "order_rate"), ("strategy", "runaway")))] == 10
    reset = await api.client.post("/api/v1/risk/circuit-breaker", json={"action": "reset"}, headers=AUTH)
    assert reset.status == 200, await reset.text()
    assert (await place(api.client, quantity="0.001")).status == 201


# -- OpenAPI ----------------------------------------------------------------------------------------
async def test_the_strategy_routes_are_in_the_openapi_document(start_api) -> None:
    api = await start_api()
    document = await get_json(api.client, "/api/v1/openapi.json")
    paths = document["paths"]
    for path, method in [
        ("/api/v1/strategies/available", "get"),
        ("/api/v1/strategies/start", "post"),
        ("/api/v1/strategies/stop", "post"),
        ("/api/v1/strategies/active", "get"),
        ("/api/v1/strategies/{strategy_id}/status", "get"),
        ("/api/v1/strategies/{strategy_id}/performance", "get"),
    ]:
        assert method in paths[path], path
    start = paths["/api/v1/strategies/start"]["post"]
    assert {"201", "401", "422"} <= set(start["responses"])
    assert start["security"] == [{"bearer": []}]
    assert {"200", "401", "404", "409"} <= set(paths["/api/v1/strategies/stop"]["post"]["responses"])
    assert "404" in paths["/api/v1/strategies/{strategy_id}/performance"]["get"]["responses"]
    for path in ("/api/v1/positions/current", "/api/v1/portfolio/pnl"):
        names = {p["name"] for p in paths[path]["get"].get("parameters", [])}
        assert "strategy_id" in names, path


# -- restart (in process, on one SQLite file) ---------------------------------------------------
async def test_a_quote_filled_by_the_first_price_after_a_restart_counts_for_its_instance(
    make_container, make_client, tmp_path
) -> None:
    overrides = {"persistence": {"db_path": str(tmp_path / "shared.db")}}
    container = make_container(overrides)
    clock, feed = script_market(container)
    api = Api(await make_client(container), clock, feed, container)
    mm = await api.start("market_making", params=MM_PARAMS)
    sid = mm["strategy_id"]
    await api.tick("50000")
    await eventually(lambda: _two(api.resting(sid)))
    await api.client.close()  # the app shuts down: the instance stays running in the store

    # The feed reopens below the resting bid (49,950): the venue fills it on the first prices.
    again = make_container(overrides)
    clock, feed = script_market(again, prices={"BTC-USD": "49000", "ETH-USD": "3000", "ETH-BTC": "0.06"})
    client = await make_client(again)
    positions = await get_json(client, "/api/v1/positions/current")
    assert [D(p["quantity"]) for p in positions["positions"] if p["symbol"] == "BTC-USD"] == [D("0.01")]
    active = await get_json(client, f"{STRATEGIES}/active")
    assert [s["strategy_id"] for s in active["strategies"]] == [sid]
    perf = await get_json(client, f"{STRATEGIES}/{sid}/performance")
    assert perf["trades"] == 1 and D(perf["position"]) == D("0.01")


async def test_orders_can_be_listed_by_strategy_instance(make_container, make_client) -> None:
    container = make_container()
    clock, feed = script_market(container)
    client = await make_client(container)
    started = await client.post("/api/v1/strategies/start", headers=AUTH,
                                json={"strategy": "market_making", "symbol": "BTC-USD"})
    strategy_id = (await started.json())["strategy_id"]
    manual = await client.post("/api/v1/orders", headers=AUTH,
                               json={"symbol": "BTC-USD", "side": "buy", "type": "limit",
                                     "quantity": "0.001", "limit_price": "40000"})
    assert manual.status == 201
    deadline = asyncio.get_running_loop().time() + 20
    while True:  # the instance quotes both sides on its first tick
        clock.advance(1)
        feed.push_many({"BTC-USD": "50000"})
        listed = await (await client.get(f"/api/v1/orders?strategy_id={strategy_id}")).json()
        if len(listed["orders"]) >= 2 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.02)
    assert {o["strategy_id"] for o in listed["orders"]} == {strategy_id}
    assert {o["side"] for o in listed["orders"]} == {"buy", "sell"}


# -- a plug-in on bars ------------------------------------------------------------------------------
async def test_the_example_plug_in_trades_on_bars_the_runtime_makes_of_ticks(start_api) -> None:
    """donchian (examples/donchian, installed by make test) started through the API: the runtime
    makes 1-second bars of the ticks, closing each with the first tick of a later second."""
    api = await start_api()
    started = await api.start("donchian", params={"channel": 2, "bar_interval": "1s", "position_size": "0.01"})
    sid = started["strategy_id"]
    assert started["params"]["bar_interval"] == "1s"
    manager = api.container.strategy_manager()
    for n, price in enumerate(("50000", "50000", "50000", "50100", "50100"), start=1):
        api.clock.advance(1.0)
        api.feed.push("BTC-USD", price)
        # the n-th tick closes the bar of the one before it
        async def decided(n: int = n) -> bool:
            return manager.get(sid).performance.ticks == n - 1

        await eventually(decided)
    performance = await eventually(lambda: _when(get_json(api.client, f"{STRATEGIES}/{sid}/performance"),
                                                 lambda p: p["trades"] == 1))
    assert performance["ticks_processed"] == 4  # bars decided on
    mine = await get_json(api.client, f"/api/v1/positions/current?strategy_id={sid}")
    assert [D(p["quantity"]) for p in mine["positions"]] == [D("0.01")]
    assert (await scrape(api.client))[("trading_strategy_active", (("strategy", "donchian"),))] == 1
