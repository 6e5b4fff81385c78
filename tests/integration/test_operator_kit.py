"""The operator's kit in deploy/: what an operator loads on day one, checked the way they would use it.

* ``promtool check rules`` accepts every rule file, and ``promtool test rules`` passes every unit test
  file beside them (which between them cover every alert firing and not firing, and every recorded
  series);
* the Grafana dashboard is an importable model whose every query goes through the datasource
  variable and filters on the ``service`` and ``instance`` variables;
* every PromQL expression of the dashboard and of the rules is valid and returns data, against the
  real service (as a subprocess, with traffic: fills, rejections, errors, a resting order, a circuit
  breaker trip and reset, a runaway strategy contained by its order-rate limit and the breaker, a
  market maker quoting and filling, a metric pushed past its series limit, gRPC calls answered and
  refused) scraped by a real
  Prometheus that loads the shipped rule files. A dashboard whose queries return nothing is a
  broken dashboard. One documented exception: series that only a crashing strategy creates
  (NOT_PRODUCED_BY_THE_TRAFFIC).

promtool and prometheus come with Debian's ``prometheus`` package, which ``make test`` installs; a
missing tool fails these tests, never skips them.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from tests.support.process import REPO_ROOT, ServiceProcess
from tests.support.prometheus import JOB, SHIPPED_SCRAPE_CONFIG, PrometheusServer, require_tool
from trading_engine.v1 import trading_pb2, trading_pb2_grpc

pytestmark = pytest.mark.integration

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
DASHBOARD_FILE = REPO_ROOT / "deploy" / "grafana" / "trading-system-engine.json"
RULE_TEST_FILES = sorted(PROMETHEUS_DIR.glob("*_test.yml"))
DATASOURCE_UID = "${datasource}"

SERVICE = "trading-system-engine"
INSTANCE = "trading-system-engine-ops"
VERSION = "4.5.6"
TOKEN = "operator-kit-test-token-0123456789"
# Low enough that the test's throwaway label sets (below) push the HTTP metrics past it, high enough
# that every label set the real traffic creates first (about 20 per HTTP metric) keeps its labels.
MAX_SERIES_PER_METRIC = 28
# A runaway instance is stopped, and trips the breaker, after this many refused intents: with
# orders_per_tick=10 and max_orders_per_second=1 that takes about three ticks (under a second).
BREAKER_AFTER_LIMIT_HITS = 20

# Series the service creates with an event the live traffic cannot cause. trading_strategy_errors_total
# appears with the first strategy instance stopped by an exception (or an invalid intent); no
# built-in strategy raises, and the product ships no strategy that crashes on purpose, so the test
# does not add one. An expression that selects nothing but these series is held to the rule of the
# right side of `unless`: it must be valid PromQL, and an empty result is the healthy case. The
# promtool tests (alerts_test.yml) cover StrategyErrors with the series present; the dashboard's
# "Strategy errors" panel falls back to 0 per strategy, so it still must return data.
NOT_PRODUCED_BY_THE_TRAFFIC = frozenset({"trading_strategy_errors_total"})

# What Grafana substitutes in a dashboard query, as the live test substitutes it. $__rate_interval
# is at least four scrape intervals; with 1 s scrapes, a 1m window holds plenty of samples.
GRAFANA_VARIABLES = {
    "service": SERVICE,
    "instance": INSTANCE,
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "5m",
}


def rule_files() -> list[Path]:
    """The rule files the shipped scrape configuration loads (relative to its directory)."""
    config = yaml.safe_load(SHIPPED_SCRAPE_CONFIG.read_text())
    return [SHIPPED_SCRAPE_CONFIG.parent / name for name in config.get("rule_files") or []]


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of the shipped rule files that has the key ``kind`` (``record`` or ``alert``)."""
    found = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(rule for rule in group["rules"] if kind in rule)
    return found


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text())


def query_panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that queries (rows only group), including panels nested in collapsed rows."""
    for panel in model["panels"]:
        if panel.get("type") == "row":
            yield from (p for p in panel.get("panels", []) if p.get("type") != "row")
        else:
            yield panel


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )


# -- the rule files and their unit tests ------------------------------------------------------------


def test_the_scrape_config_loads_every_rule_file_shipped_beside_it() -> None:
    loaded = {path.name for path in rule_files()}
    shipped = {
        path.name
        for path in PROMETHEUS_DIR.glob("*.yml")
        if not path.name.endswith("_test.yml")
        and "scrape_configs" not in yaml.safe_load(path.read_text())  # prometheus.yml, fleet.yml
    }
    assert loaded == shipped == {"recording_rules.yml", "alerts.yml"}
    fleet = yaml.safe_load((PROMETHEUS_DIR / "fleet.yml").read_text())
    assert fleet["rule_files"] == yaml.safe_load(SHIPPED_SCRAPE_CONFIG.read_text())["rule_files"]
    assert RULE_TEST_FILES, "no promtool test files in deploy/prometheus"


@pytest.mark.parametrize("path", rule_files(), ids=lambda path: path.name)
def test_promtool_check_rules_accepts_the_rule_file(path: Path) -> None:
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"
    assert "SUCCESS" in result.stdout, result.stdout


@pytest.mark.parametrize("path", RULE_TEST_FILES, ids=lambda path: path.name)
def test_promtool_unit_tests_of_the_rules_pass(path: Path) -> None:
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, f"promtool test rules {path.name}:\n{result.stdout}{result.stderr}"
    assert "SUCCESS" in result.stdout, result.stdout


def test_every_alert_is_unit_tested_both_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test") or []:
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = {rule["alert"] for rule in rules("alert")}
    assert alerts, "no alerting rules found"
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - silent == set(), "alerts never tested not firing"
    assert (firing | silent) - alerts == set(), "tests name alerts that do not exist"


def test_every_recording_rule_is_unit_tested() -> None:
    tested = ""
    for path in RULE_TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            tested += "\n".join(check["expr"] for check in case.get("promql_expr_test") or [])
    records = {rule["record"] for rule in rules("record")}
    assert records, "no recording rules found"
    untested = {name for name in records if not re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", tested)}
    assert untested == set(), "recording rules no promql_expr_test evaluates"


def test_every_rule_carries_what_an_operator_needs() -> None:
    for rule in rules("alert"):
        name = rule["alert"]
        assert rule.get("for"), f"{name}: no `for:`"
        assert rule.get("labels", {}).get("severity") in {"critical", "warning"}, name
        annotations = rule.get("annotations", {})
        assert {"summary", "description"} <= set(annotations), name
        assert "$labels" in annotations["summary"] + annotations["description"], name
    for rule in rules("record"):
        # level:metric:operations, and every level keeps the service's identity labels.
        level, _metric, _operations = rule["record"].split(":")
        assert level.startswith("service_instance"), rule["record"]
    # The rules select the job of the shipped scrape config, and nothing else.
    [job] = yaml.safe_load(SHIPPED_SCRAPE_CONFIG.read_text())["scrape_configs"]
    assert job["job_name"] == JOB
    for rule in rules("record") + rules("alert"):
        assert set(re.findall(r'\bjob="([^"]*)"', rule["expr"])) <= {JOB}, rule["expr"]


# -- the dashboard ---------------------------------------------------------------------------------

SELECTOR_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}
)
AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
     "quantile"}
)


def selectors(expr: str) -> list[tuple[str, str]]:
    """Each vector selector of ``expr`` as (metric name, matchers); a bare metric name has empty
    matchers. Functions, aggregations, their clauses, keywords, numbers and durations are skipped."""
    matchers = iter(re.findall(r"\{((?:[^}\"]|\"(?:[^\"\\]|\\.)*\")*)\}", expr))
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values cannot look like names
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    text = re.sub(r"\[[^\]]*\]|\boffset\s+-?\w+", " ", text)  # ranges, subqueries, offsets
    found = []
    for match in re.finditer(r"([a-zA-Z_:][\w:]*)?\s*(\{[^}]*\})?(\s*\()?", text):
        name, braces, call = match.group(1), match.group(2), match.group(3)
        if braces:
            found.append((name or "", next(matchers)))
        elif name and not call and name not in SELECTOR_KEYWORDS | AGGREGATIONS:
            before = text[match.start() - 1] if match.start() else " "
            if not (before.isdigit() or before == "."):  # the exponent of 1e6 is no metric
                found.append((name, ""))
    return found


def test_selectors_finds_every_vector_selector() -> None:
    expr = (
        'sum by (route) (rate(a{service=~"$service", instance=~"$instance"}[5m])) '
        '/ on (route) group_left b unless c{x="by (y)"} offset 5m > 0.5'
    )
    assert selectors(expr) == [
        ("a", 'service=~"$service", instance=~"$instance"'),
        ("b", ""),
        ("c", 'x="by (y)"'),
    ]


def test_the_dashboard_is_an_importable_model_with_its_template_variables() -> None:
    model = dashboard()
    assert model["title"] == "trading-system-engine"
    assert model["uid"] == "trading-system-engine"
    assert isinstance(model["schemaVersion"], int) and model["schemaVersion"] >= 30
    assert model.get("id") is None  # an exported model keeps no database id
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("service", "instance"):
        variable = variables[name]
        assert variable["type"] == "query", name
        assert variable["datasource"]["uid"] == DATASOURCE_UID, name
        assert re.fullmatch(rf"label_values\(.+, {name}\)", variable["query"]), variable["query"]
    assert '$service' in variables["instance"]["query"]  # instances of the chosen service only


def test_every_panel_queries_through_the_datasource_variable_for_the_chosen_service_and_instance() -> None:
    model = dashboard()
    panels = list(query_panels(model))
    assert len(panels) >= 20
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"]["uid"] == DATASOURCE_UID, title
        assert panel["targets"], f"{title}: no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID, title
            found = selectors(target["expr"])
            assert found, f"{title}: no selector in {target['expr']!r}"
            for metric, matchers in found:
                assert 'service=~"$service"' in matchers and 'instance=~"$instance"' in matchers, (
                    f"{title}: {metric} is not filtered by the service and instance variables in "
                    f"{target['expr']!r}"
                )


def test_the_dashboard_layout_has_no_overlapping_panels() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = panel["title"]


def test_the_dashboard_covers_red_runtime_and_business_metrics() -> None:
    exprs = " ".join(t["expr"] for p in query_panels(dashboard()) for t in p["targets"])
    for needed in (
        "service_instance_route:http_requests:rate5m",
        "service_instance_route:http_requests_5xx:ratio_rate5m",
        "service_instance_route:http_request_duration_seconds:p50_rate5m",
        "service_instance_route:http_request_duration_seconds:p95_rate5m",
        "service_instance_route:http_request_duration_seconds:p99_rate5m",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "python_gc_collections_total",
        "python_gc_objects_collected_total",
        "service_instance_status:orders:rate5m",
        "service_instance_reason:order_rejections:rate5m",
        "service_instance_symbol_side:fills:rate5m",
        "portfolio_equity",
        "portfolio_pnl",
        "risk_circuit_breaker_open",
        "market_data_age_seconds",
        "trading_strategy_active",
        "service_instance_strategy_side:trading_strategy_trades:rate5m",
        "trading_strategy_pnl",
        "service_instance_strategy_limit_type:trading_risk_limit_breaches:rate5m",
        "trading_strategy_errors_total",
        "service_instance_strategy:trading_strategy_decision_seconds:p50_rate5m",
        "service_instance_strategy:trading_strategy_decision_seconds:p99_rate5m",
        "service_instance_grpc_method:grpc_server_handled:rate5m",
        "service_instance_grpc_method_code:grpc_server_handled:rate5m",
        "service_instance_grpc_method:grpc_server_handled_errors:ratio_rate5m",
        "service_instance_grpc_method:grpc_server_handling_seconds:p50_rate5m",
        "service_instance_grpc_method:grpc_server_handling_seconds:p99_rate5m",
        "service_instance_grpc_method:grpc_server_msg_sent:rate5m",
    ):
        assert needed in exprs, needed


# -- expressions: extraction and the condition-free form of alerts ----------------------------------


@dataclass(frozen=True)
class Expression:
    source: str  # where it comes from, for failure messages
    promql: str
    must_return_data: bool = True
    label: str | None = None  # a template variable's label, which every result must carry


def substitute_grafana_variables(expr: str) -> str:
    """Replace ``$name`` and ``${name}`` (also ``${name:format}``) by the live test's values."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in GRAFANA_VARIABLES:
            raise AssertionError(f"unknown dashboard variable ${name} in {expr!r}")
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def top_level(expr: str) -> list[bool]:
    """For each character of ``expr``: whether it is outside every (), {}, [] and string."""
    depth, quote, flags = 0, "", []
    for i, char in enumerate(expr):
        if quote:
            flags.append(False)
            if char == quote and expr[i - 1] != "\\":
                quote = ""
            continue
        if char in "\"'`":
            quote = char
            flags.append(False)
        elif char in "([{":
            flags.append(False)
            depth += 1
        elif char in ")]}":
            depth -= 1
            flags.append(False)
        else:
            flags.append(depth == 0)
    return flags


def split_top_level(expr: str, operators: str) -> tuple[str, str, str] | None:
    """The last top-level binary ``operators`` (a regex alternation of keywords) in ``expr`` as
    (left, operator, right), with any ``on(...)``/``ignoring(...)`` modifier dropped from the right."""
    flags = top_level(expr)
    last = None
    for match in re.finditer(rf"\b({operators})\b", expr):
        if all(flags[match.start() : match.end()]):
            last = match
    if last is None:
        return None
    right = re.sub(r"^\s*(on|ignoring)\s*\([^)]*\)", "", expr[last.end() :])
    return expr[: last.start()].strip(), last.group(1), right.strip()


def closing_parenthesis(expr: str, start: int) -> int:
    """The index of the ")" that closes the "(" at ``start`` (strings skipped), or -1."""
    depth, quote = 0, ""
    for i in range(start, len(expr)):
        char = expr[i]
        if quote:
            if char == quote and expr[i - 1] != "\\":
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def strip_parentheses(expr: str) -> str:
    expr = expr.strip()
    while expr.startswith("(") and closing_parenthesis(expr, 0) == len(expr) - 1:
        expr = expr[1:-1].strip()
    return expr


def condition_free_forms(expr: str, source: str) -> list[Expression]:
    """What the live test queries for an alert expression.

    An alert's condition returns nothing while all is well, by design; what the condition is
    computed from must return data on a busy, healthy service. The rule, applied recursively:

    * ``A or B``: each alternative separately (each is a way to fire), both must return data;
    * ``A unless B`` / ``A and B``: A must return data; B must be valid (``unless`` removes what B
      returns, so an empty B is the healthy case);
    * a trailing comparison with a number (``X > 0.05``, ``X == 1``, ``X == 0``): X;
    * ``absent(X)``: X;
    * enclosing parentheses are removed first.
    """
    expr = strip_parentheses(expr)
    if (split := split_top_level(expr, "or")) is not None:
        left, _, right = split
        return condition_free_forms(left, source) + condition_free_forms(right, source)
    if (split := split_top_level(expr, "unless|and")) is not None:
        left, operator, right = split
        return condition_free_forms(left, source) + [
            Expression(f"{source} ({operator} side)", strip_parentheses(right), must_return_data=False)
        ]
    flags = top_level(expr)
    comparison = re.search(r"(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$", expr)
    if comparison is not None and flags[comparison.start()]:
        return condition_free_forms(expr[: comparison.start()], source)
    absent = re.match(r"absent\s*\(", expr)
    if absent is not None and closing_parenthesis(expr, absent.end() - 1) == len(expr) - 1:
        return condition_free_forms(expr[absent.end() : -1], source)
    return [Expression(source, expr)]


def test_condition_free_forms_follow_the_documented_rule() -> None:
    forms = condition_free_forms(
        "sum by (a) (increase(x[5m])) > 0 or max by (a) (x unless x offset 5m)", "r"
    )
    assert [(f.promql, f.must_return_data) for f in forms] == [
        ("sum by (a) (increase(x[5m]))", True),
        ("max by (a) (x unless x offset 5m)", True),
    ]
    forms = condition_free_forms("group by (s) (a{j=\"x\"}) unless on (s) b{j=\"x\"}", "r")
    assert [(f.promql, f.must_return_data) for f in forms] == [
        ('group by (s) (a{j="x"})', True),
        ('b{j="x"}', False),
    ]
    assert [f.promql for f in condition_free_forms('absent(up{job="j"})', "r")] == ['up{job="j"}']
    assert [f.promql for f in condition_free_forms('(up{job="j"} == 0)', "r")] == ['up{job="j"}']
    assert [f.promql for f in condition_free_forms('x{code!="500"} > 1e-3', "r")] == ['x{code!="500"}']
    # a comparison between two vectors is not a threshold: kept whole
    assert [f.promql for f in condition_free_forms("a > b", "r")] == ["a > b"]


def live_expressions() -> list[Expression]:
    """Every expression the live test runs: dashboard queries and variables, recording rules (their
    expressions and the series they record), and alerts in their condition-free forms; those that
    select only NOT_PRODUCED_BY_THE_TRAFFIC may return nothing."""
    model = dashboard()
    found = []
    for variable in model["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"])
            assert match is not None, variable["query"]
            found.append(
                Expression(
                    f"variable ${variable['name']}",
                    substitute_grafana_variables(match.group(1)),
                    label=match.group(2),
                )
            )
    for panel in query_panels(model):
        for target in panel["targets"]:
            found.append(
                Expression(
                    f"panel {panel['title']!r} query {target['refId']}",
                    substitute_grafana_variables(target["expr"]),
                )
            )
    for rule in rules("record"):
        found.append(Expression(f"record {rule['record']} (expr)", rule["expr"]))
        found.append(Expression(f"record {rule['record']} (recorded series)", rule["record"]))
    for rule in rules("alert"):
        found.extend(condition_free_forms(rule["expr"], f"alert {rule['alert']}"))
    return [may_be_empty_without_a_crash(expression) for expression in found]


def may_be_empty_without_a_crash(expression: Expression) -> Expression:
    """``expression``, allowed to return nothing when it selects only NOT_PRODUCED_BY_THE_TRAFFIC."""
    metrics = {metric for metric, _ in selectors(expression.promql)}
    if not (expression.must_return_data and metrics):
        return expression
    if metrics <= NOT_PRODUCED_BY_THE_TRAFFIC:
        return Expression(f"{expression.source} (may be empty: no strategy crashed)", expression.promql,
                          must_return_data=False, label=expression.label)
    return expression


def test_only_the_series_no_traffic_produces_may_be_empty() -> None:
    expressions = live_expressions()
    exempt = [e.source for e in expressions if "may be empty" in e.source]
    # Both condition-free forms of StrategyErrors; the dashboard's errors panel falls back to 0 per
    # strategy, so it must return data.
    expected = ["alert StrategyErrors (may be empty: no strategy crashed)"] * 2
    assert sorted(exempt) == sorted(expected)
    panel = [e for e in expressions if e.source == "panel 'Strategy errors' query A"]
    assert [e.must_return_data for e in panel] == [True]


# -- the live service and its traffic ---------------------------------------------------------------


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = TOKEN
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = (body if isinstance(body, bytes) else json.dumps(body).encode()) if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
                status = exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def order(self, side: str, quantity: str, **extra: str) -> tuple[int, Any]:
        body = {"symbol": "BTC-USD", "side": side, "type": "market", "quantity": quantity, **extra}
        return self.call("POST", "/api/v1/orders", body)


READ_ROUTES = (
    "/api/v1/health",
    "/api/v1/ready",
    "/api/v1/metrics",
    "/api/v1/openapi.json",
    "/api/v1/orders",
    "/api/v1/positions/current",
    "/api/v1/portfolio/pnl",
    "/api/v1/risk/status",
    "/api/v1/market/prices",
    "/api/v1/market/prices/BTC-USD",
)


def expect(result: tuple[int, Any], status: int, what: str) -> Any:
    assert result[0] == status, f"{what}: expected {status}, got {result}"
    return result[1]


def opening_traffic(client: Client) -> None:
    """One of everything the dashboard shows, in the order that keeps each real label set below the
    series limit: reads, fills both ways, a cancelled and a resting limit order, rejections for
    several reasons, client errors, a circuit breaker trip and reset, and strategies (a runaway
    contained, a market maker left running)."""
    for path in READ_ROUTES:
        expect(client.call("GET", path), 200, f"GET {path}")
    filled = expect(client.order("buy", "0.01"), 201, "market buy")
    assert filled["status"] == "filled", filled
    expect(client.order("sell", "0.005"), 201, "market sell")
    limit = {"type": "limit", "limit_price": "1000"}
    cancelled = expect(client.order("buy", "0.001", **limit), 201, "limit buy")
    assert cancelled["status"] == "open", cancelled
    expect(client.call("DELETE", f"/api/v1/orders/{cancelled['order_id']}"), 200, "cancel")
    # Rejected by pre-trade risk (422): more than the cash, more than the largest order.
    rejected = client.order("buy", "0.4")
    assert rejected[0] == 422 and rejected[1]["error"]["code"] == "insufficient_funds", rejected
    rejected = client.order("buy", "100")
    assert rejected[0] == 422 and rejected[1]["error"]["code"] == "max_order_notional_exceeded", rejected
    # Client errors: no token, a malformed order, no such route, a method the route lacks.
    expect(client.call("POST", "/api/v1/orders", {"symbol": "BTC-USD"}, token=None), 401, "no token")
    assert client.call("POST", "/api/v1/orders", {"symbol": "BTC-USD"})[0] in (400, 422)
    expect(client.call("GET", "/api/v1/no-such-route"), 404, "unmatched")
    expect(client.call("POST", "/api/v1/health", {}), 405, "wrong method")
    # The breaker: trip, an order refused because of it, reset.
    breaker = "/api/v1/risk/circuit-breaker"
    expect(client.call("POST", breaker, {"action": "trip", "reason": "operator kit test"}), 200, "trip")
    rejected = client.order("buy", "0.001")
    assert rejected[0] == 422 and rejected[1]["error"]["code"] == "circuit_breaker_open", rejected
    expect(client.call("POST", breaker, {"action": "reset"}), 200, "reset")
    start_strategies(client)
    # A limit order far below the market rests on the book for the rest of the test.
    resting = expect(client.order("buy", "0.001", **limit), 201, "resting limit buy")
    assert resting["status"] == "open", resting


def start_strategies(client: Client) -> None:
    """A runaway instance floods market orders: its order-rate limit refuses them
    (trading_risk_limit_breaches_total), and after BREAKER_AFTER_LIMIT_HITS refusals the runtime
    stops it and trips the circuit breaker, which the test resets (the traffic below needs it
    closed; tripping cancels resting orders, so this comes before the resting order). Then a market
    maker with a tight spread quotes on every tick and fills within seconds, for the rest of the
    test: active instances, trades, P&L and decision latency keep moving."""
    start = "/api/v1/strategies/start"
    runaway = expect(
        client.call("POST", start, {"strategy": "runaway", "symbol": "BTC-USD",
                                    "params": {"orders_per_tick": 10, "max_orders_per_second": 1}}),
        201, "start runaway",
    )
    deadline = time.monotonic() + 15
    while (status := expect(client.call("GET", f"/api/v1/strategies/{runaway['strategy_id']}/status"),
                            200, "runaway status"))["status"] == "running":
        assert time.monotonic() < deadline, f"the runaway instance was never contained: {status}"
        time.sleep(0.05)
    assert status["status"] == "error" and "circuit breaker tripped" in status["reason"], status
    risk = expect(client.call("GET", "/api/v1/risk/status"), 200, "risk status")
    assert risk["circuit_breaker"]["is_open"] and "runaway" in risk["circuit_breaker"]["reason"], risk
    expect(client.call("POST", "/api/v1/risk/circuit-breaker", {"action": "reset"}), 200, "reset")
    # Quotes 1 bp either side of the mid (the feed moves about 5 bp a tick), requoted on every move
    # past 1 bp; a rate limit well above its 2 quotes a tick, so nothing of it is ever refused.
    maker = {"spread_bps": 2, "quote_size": "0.001", "max_inventory": "0.005", "requote_bps": 1,
             "max_orders_per_second": 50}
    started = expect(
        client.call("POST", start, {"strategy": "market_making", "symbol": "BTC-USD", "params": maker}),
        201, "start market maker",
    )
    assert started["status"] == "running", started


def fold_label_sets(client: Client) -> None:
    """Methods the read routes do not serve: each (method, route, status) is a new label set of the
    HTTP metrics, enough of them to pass MAX_SERIES_PER_METRIC, so updates fold into the overflow
    series and metrics_series_overflow_total counts them."""
    for method in ("PUT", "PATCH"):
        for path in READ_ROUTES:
            client.call(method, path, {})


class GrpcClient:
    """The gRPC API's calls the dashboard's gRPC row shows: reads, an order, a refused call each of
    a client code (NotFound, Unauthenticated)."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.trading = trading_pb2_grpc.TradingServiceStub(self.channel)

    def calls(self) -> None:
        self.trading.GetPortfolio(trading_pb2.GetPortfolioRequest(), timeout=10)
        order = trading_pb2.PlaceOrderRequest(symbol="BTC-USD", side=trading_pb2.SIDE_BUY, quantity="0.001")
        self.trading.PlaceOrder(order, metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=10)
        for call, request, code in ((self.trading.GetOrder, trading_pb2.GetOrderRequest(order_id="ord_none"),
                                     grpc.StatusCode.NOT_FOUND),
                                    (self.trading.PlaceOrder, order, grpc.StatusCode.UNAUTHENTICATED)):
            with pytest.raises(grpc.RpcError) as refused:
                call(request, timeout=10)
            assert refused.value.code() == code

    def close(self) -> None:
        self.channel.close()


class Traffic:
    """Keeps every panel's series moving while Prometheus scrapes: reads, a fill each way in turn,
    a rejection, a 404, one more folded update, and the gRPC calls."""

    def __init__(self, client: Client, grpc_client: GrpcClient) -> None:
        self.client = client
        self.grpc = grpc_client
        self.ticks = 0

    def __call__(self) -> None:
        client = self.client
        self.ticks += 1
        client.call("GET", "/api/v1/health")
        client.call("GET", "/api/v1/portfolio/pnl")
        expect(client.order("buy" if self.ticks % 2 else "sell", "0.001"), 201, "market order")
        assert client.order("buy", "0.4")[0] == 422
        client.call("GET", "/api/v1/no-such-route")
        client.call("PATCH", "/api/v1/risk/status", {})
        self.grpc.calls()


@pytest.mark.parametrize("backend", ["prometheus", "opentelemetry"])
def test_every_dashboard_and_rule_expression_returns_data_from_the_live_service(
    backend: str, tmp_path: Path
) -> None:
    """Under each metrics backend: the service gets one of everything (opening_traffic), then enough
    throwaway label sets to overflow the HTTP metrics; a Prometheus built from the shipped config
    (1 s scrapes and rule evaluations, the shipped rule files) then scrapes it while Traffic keeps
    every series moving, until every expression returns data (30 s at most; about 3 s in practice).
    Then: every rule loaded and evaluates without error, the breakdowns show the traffic (the
    strategy views: the market maker trading and deciding, the runaway's refusals), and the
    MetricsSeriesOverflow alert is active in Prometheus itself."""
    expressions = live_expressions()
    assert len(expressions) > 60
    env = {
        "METRICS_BACKEND": backend,
        "SERVICE_INSTANCE_NAME": INSTANCE,
        "VERSION": VERSION,
        "TRADING_ENGINE_DB_PATH": str(tmp_path / "trading.db"),
        "TRADING_ENGINE_API_TOKEN": TOKEN,
        "METRICS_MAX_SERIES_PER_METRIC": str(MAX_SERIES_PER_METRIC),
        "ENABLE_CHAOS_STRATEGIES": "true",  # ServiceProcess runs it with ENVIRONMENT=testing
        "STRATEGY_BREAKER_AFTER_LIMIT_HITS": str(BREAKER_AFTER_LIMIT_HITS),
        "LOG_LEVEL": "WARNING",
    }
    with ServiceProcess(env=env) as service:
        service.wait_healthy()
        client = Client(service.base_url)
        opening_traffic(client)
        fold_label_sets(client)
        exposition = client.call("GET", "/api/v1/metrics")[1]
        assert 'metrics_series_overflow_total{' in exposition, (
            "the throwaway label sets did not push any metric past METRICS_MAX_SERIES_PER_METRIC"
        )
        # the real label sets kept their labels
        assert 'route="/api/v1/orders"' in exposition
        assert 'route="/api/v1/strategies/start"' in exposition
        grpc_client = GrpcClient(service.grpc_port)
        grpc_client.calls()
        traffic = Traffic(client, grpc_client)

        with PrometheusServer(f"127.0.0.1:{service.port}", evaluation_interval="1s") as prometheus:
            pending = check_expressions(prometheus, expressions, traffic, timeout=30)
            assert pending == [], "\n".join(
                ["expressions that returned no data:", *pending, f"targets: {prometheus.targets_health()}"]
            )
            assert_rules_load_and_evaluate(prometheus)
            assert_breakdowns_show_the_traffic(prometheus)
            assert_strategy_views_show_the_strategies(prometheus, traffic)
            # The alert chain end to end: the folded updates above make MetricsSeriesOverflow active.
            overflow = f'ALERTS{{alertname="MetricsSeriesOverflow", instance="{INSTANCE}"}}'
            active = prometheus.wait_for(overflow, timeout=10, tick=traffic)
            assert {a["metric"]["metric"] for a in active} >= {"http_requests_total"}, active
            assert prometheus.query(f'ALERTS{{alertname="CircuitBreakerOpen", instance="{INSTANCE}"}}') == []
        grpc_client.close()


def check_expressions(
    prometheus: PrometheusServer, expressions: list[Expression], tick: Traffic, *, timeout: float
) -> list[str]:
    """Query every expression until each that must return data has (an invalid one fails at once);
    return the descriptions of those still empty at the deadline."""
    deadline = time.monotonic() + timeout
    waiting = list(expressions)
    while True:
        tick()
        still = []
        for expression in waiting:
            try:
                result = prometheus.query(expression.promql)
            except AssertionError as exc:
                message = f"{expression.source}: invalid PromQL {expression.promql!r}: {exc}"
                raise AssertionError(message) from None
            if expression.label is not None:
                result = [r for r in result if r["metric"].get(expression.label)]
            if expression.must_return_data and not result:
                still.append(expression)
        waiting = still
        if not waiting or time.monotonic() >= deadline:
            return [f"  {e.source}: {e.promql}" for e in waiting]
        time.sleep(0.5)


def assert_breakdowns_show_the_traffic(prometheus: PrometheusServer) -> None:
    """The panels' breakdowns hold what the traffic did, not merely some data."""
    identity = f'service="{SERVICE}", instance="{INSTANCE}"'

    def values(metric: str, label: str) -> set[str]:
        return {r["metric"].get(label, "") for r in prometheus.query(f"{metric}{{{identity}}}")}

    statuses = values("service_instance_status:orders:rate5m", "status")
    assert statuses >= {"filled", "open", "cancelled", "rejected"}
    assert values("service_instance_reason:order_rejections:rate5m", "reason") >= {
        "insufficient_funds",
        "max_order_notional_exceeded",
        "circuit_breaker_open",
    }
    assert values("service_instance_symbol_side:fills:rate5m", "side") == {"buy", "sell"}
    assert values("service_instance_route:http_requests:rate5m", "route") >= {
        "/api/v1/orders",
        "/api/v1/orders/{order_id}",
        "/api/v1/risk/circuit-breaker",
        "/api/v1/metrics",
        "unmatched",
        "__overflow__",  # the folded label sets
    }
    assert values("service_instance_route_code:http_requests:rate5m", "code") >= {"200", "201", "404", "405"}
    assert values("service_instance_grpc_method_code:grpc_server_handled:rate5m", "grpc_code") >= {
        "OK", "NotFound", "Unauthenticated"}
    assert values("service_instance_grpc_method:grpc_server_handled:rate5m", "grpc_method") >= {
        "GetPortfolio", "PlaceOrder", "GetOrder"}
    assert values("portfolio_pnl", "kind") == {"realized", "unrealized"}
    assert values("market_data_age_seconds", "symbol") == {"BTC-USD", "ETH-USD", "ETH-BTC"}


def assert_strategy_views_show_the_strategies(prometheus: PrometheusServer, traffic: Traffic) -> None:
    """The strategy panels hold what the strategies did: the market maker running, trading both
    ways and deciding (measured latency, not NaN); the runaway stopped, its refusals counted by its
    order-rate limit; no instance stopped by an error."""
    identity = f'service="{SERVICE}", instance="{INSTANCE}"'

    def by_strategy(promql: str) -> dict[str, float]:
        return {r["metric"]["strategy"]: float(r["value"][1]) for r in prometheus.query(promql)}

    active = by_strategy(f"trading_strategy_active{{{identity}}}")
    assert active.get("market_making") == 1 and active.get("runaway") == 0, active
    breaches = {
        (r["metric"]["strategy"], r["metric"]["limit_type"]): float(r["value"][1])
        for r in prometheus.query(f"trading_risk_limit_breaches_total{{{identity}}}")
    }
    assert ("runaway", "order_rate") in breaches, breaches
    # It was stopped at its BREAKER_AFTER_LIMIT_HITS-th counted refusal.
    refused = sum(n for (strategy, _), n in breaches.items() if strategy == "runaway")
    assert refused >= BREAKER_AFTER_LIMIT_HITS, breaches
    assert prometheus.query(f"trading_strategy_errors_total{{{identity}}}") == []
    # The maker fills within seconds; the recorded rate needs two scrapes of its counters.
    maker = f'{identity}, strategy="market_making"'
    prometheus.wait_for(
        f"service_instance_strategy_side:trading_strategy_trades:rate5m{{{maker}}} > 0",
        lambda result: {r["metric"]["side"] for r in result} == {"buy", "sell"},
        timeout=20,
        tick=traffic,
    )
    p99 = by_strategy(f"service_instance_strategy:trading_strategy_decision_seconds:p99_rate5m{{{identity}}}")
    assert 0 < p99["market_making"] < 1, p99


def assert_rules_load_and_evaluate(prometheus: PrometheusServer) -> None:
    """Prometheus loaded every rule of the shipped files and evaluated each without error."""
    expected = {rule.get("record") or rule["alert"] for rule in rules("record") + rules("alert")}
    deadline = time.monotonic() + 10
    while True:
        loaded = [rule for group in prometheus.rule_groups() for rule in group["rules"]]
        errors = [f"{r['name']}: {r.get('lastError')}" for r in loaded if r.get("health") == "err"]
        assert errors == [], errors
        assert {r["name"] for r in loaded} == expected
        if all(r.get("health") == "ok" for r in loaded) or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    assert [r["name"] for r in loaded if r.get("health") != "ok"] == []
