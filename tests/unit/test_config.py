"""Startup validation of config.yml: every bad value is one clear error naming key, value, allowed."""

from __future__ import annotations

import json
from decimal import Decimal
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from trading_engine import __version__
from trading_engine.__main__ import main
from trading_engine.application import provide_development_api_token
from trading_engine.containers import create_container
from trading_engine.infrastructure.config import (
    SHIPPED_CONFIG,
    ConfigError,
    config_schema,
    resolve_config_path,
    validate,
)
from trading_engine.infrastructure.config.source import load_sources

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_from_the_shipped_file() -> None:
    config = create_container().config()
    assert config["service"] == {
        "name": "trading-system-engine",
        "instance_name": "trading-system-engine",
        "version": __version__,
        "environment": "development",
    }
    assert config["http"] == {
        "host": "0.0.0.0", "port": 8083, "shutdown_timeout_seconds": 30.0, "max_body_bytes": 65536
    }
    assert config["grpc"] == {
        "enabled": True, "host": "0.0.0.0", "port": 50053, "max_message_bytes": 4194304, "stream_buffer": 1000,
        "health_interval_seconds": 1.0,
    }
    assert config["logging"] == {"level": "INFO", "format": "json"}


def test_environment_overrides_interpolate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", "9100")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "Console")
    monkeypatch.setenv("ENVIRONMENT", "Production")
    monkeypatch.setenv("VERSION", "1.2.3")
    monkeypatch.setenv("TRADING_ENGINE_API_TOKEN", "production-token-0123456789")
    config = create_container().config()
    assert config["http"]["port"] == 9100
    assert config["logging"] == {"level": "DEBUG", "format": "console"}
    assert config["service"]["environment"] == "production"
    assert config["service"]["version"] == "1.2.3"


@pytest.mark.parametrize(
    ("env", "value", "key", "allowed"),
    [
        ("HTTP_PORT", "70000", "http.port", "integer from 1 to 65535"),
        ("HTTP_PORT", "0", "http.port", "integer from 1 to 65535"),
        ("HTTP_PORT", "eighty", "http.port", "integer from 1 to 65535"),
        ("GRPC_PORT", "-1", "grpc.port", "integer from 1 to 65535"),
        ("ENVIRONMENT", "staging", "service.environment", "development, testing, production, docker"),
        ("LOG_LEVEL", "verbose", "logging.level", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("LOG_FORMAT", "xml", "logging.format", "json, console"),
        ("SERVICE_INSTANCE_NAME", "bad_name!", "service.instance_name", "letters, digits and hyphens"),
        ("SERVICE_INSTANCE_NAME", "a" * 64, "service.instance_name", "1-63 characters"),
        ("SERVICE_INSTANCE_NAME", "-leading", "service.instance_name", "starting and ending"),
        ("SHUTDOWN_TIMEOUT_SECONDS", "nan", "http.shutdown_timeout_seconds", "a number greater than 0"),
        ("READINESS_TIMEOUT_SECONDS", "0", "health.readiness_timeout_seconds", "greater than 0"),
        ("INITIAL_CASH", "USD", "account.initial_cash", "must be CUR=amount pairs separated by commas"),
        ("INITIAL_CASH", "USD=-1", "account.initial_cash", "amounts >= 0"),
        ("INITIAL_CASH", "", "account.initial_cash", "at least one currency"),
        ("INITIAL_CASH", "US$=1", "account.initial_cash", "must be CUR=amount pairs"),
        ("ACCOUNT_CURRENCY", "dollars!", "account.reporting_currency", "a currency code of 2-10 letters or digits"),
        ("VENUE_FEE_BPS", "10000", "venue.fee_bps", "a decimal number at least 0 and below 10000 (100%)"),
        ("MAX_ORDER_NOTIONAL", "0", "risk.max_order_notional", "a decimal number greater than 0"),
        ("MARKET_SEED", "1.5", "market.seed", "an integer from 0 to"),
        ("HOST", "", "http.host", "must be non-empty printable text of at most 253 characters"),
        ("TRADING_ENGINE_RETENTION", "30 days", "persistence.retention", "a duration such as 90s, 15m, 12h or 30d"),
        ("TRADING_ENGINE_RETENTION", "-1d", "persistence.retention", "or 0 (keeps everything)"),
        ("TRADING_ENGINE_RETENTION", "3651d", "persistence.retention", "at most 3650d"),
        ("TRADING_ENGINE_RETENTION_SWEEP_INTERVAL", "0", "persistence.retention_sweep_interval", "greater than 0"),
        ("TRADING_ENGINE_RETENTION_SWEEP_INTERVAL", "2d", "persistence.retention_sweep_interval", "at most 1d"),
        ("TRADING_ENGINE_RETENTION_BATCH_SIZE", "0", "persistence.retention_batch_size", "integer from 1 to 10000"),
        ("TRADING_ENGINE_ARCHIVE_DIR", "", "persistence.archive_dir", "non-empty printable text"),
    ],
)
def test_bad_values_name_key_env_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, key: str, allowed: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        create_container()
    message = str(caught.value)
    assert "\n" not in message
    assert f"{key} (env {env})" in message
    assert repr(value) in message
    assert allowed in message


def instance_notices(container) -> tuple:
    return tuple(n for n in container.startup_notices() if n["event"] == "instance_name_normalised")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90s", timedelta(seconds=90)),
     ("15M", timedelta(minutes=15)), ("1.5h", timedelta(minutes=90)), ("0", timedelta(0))],
)
def test_the_retention_is_a_duration_and_0_keeps_everything(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: timedelta
) -> None:
    monkeypatch.setenv("TRADING_ENGINE_RETENTION", value)
    persistence = create_container().config()["persistence"]
    assert persistence["retention"] == expected
    assert (persistence["archive_dir"], persistence["retention_sweep_interval"]) == ("./data/archive", timedelta(seconds=60))
    assert persistence["retention_batch_size"] == 64


def test_the_default_retention_is_30_days() -> None:
    assert create_container().config()["persistence"]["retention"] == timedelta(days=30)


def test_mixed_case_instance_name_is_normalised_with_a_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_INSTANCE_NAME", "trading-system-engine-LH")
    container = create_container()
    assert container.config.service.instance_name() == "trading-system-engine-lh"
    assert instance_notices(container) == (
        {
            "event": "instance_name_normalised",
            "original": "trading-system-engine-LH",
            "normalised": "trading-system-engine-lh",
        },
    )


def test_63_character_instance_name_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "a" * 61 + "-b"
    monkeypatch.setenv("SERVICE_INSTANCE_NAME", name)
    assert create_container().config.service.instance_name() == name
    assert instance_notices(create_container()) == ()


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; pass --config PATH or set TRADING_ENGINE_CONFIG"):
        create_container(tmp_path / "absent.yml")


def test_unparsable_config_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("http:\n  port: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML at line 3"):
        create_container(path)


def test_env_value_that_breaks_the_yaml_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_NAME", 'quote"breaks')
    with pytest.raises(ConfigError, match="not valid YAML once environment values are substituted"):
        create_container()


def test_a_user_file_overrides_only_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text('http:\n  port: "9999"\n')
    config = create_container(path).config()
    assert config["http"]["port"] == 9999
    assert config["http"]["host"] == "0.0.0.0"
    assert config["logging"]["level"] == "INFO"


def test_unknown_keys_are_rejected_with_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text('http:\n  prot: "9999"\n')
    with pytest.raises(ConfigError) as caught:
        create_container(path)
    assert "http.prot" in str(caught.value)
    assert "known keys: http.host, http.max_body_bytes, http.port" in str(caught.value)


def test_config_path_resolution(tmp_path: Path) -> None:
    assert resolve_config_path("/etc/x.yml") == Path("/etc/x.yml")
    assert resolve_config_path(None, cwd=tmp_path) == SHIPPED_CONFIG
    (tmp_path / "config.yml").write_text("{}\n")
    assert resolve_config_path(None, cwd=tmp_path) == tmp_path / "config.yml"


def test_metrics_settings_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = create_container().config.metrics()
    assert metrics == {
        "enabled": True,
        "backend": "prometheus",
        "bearer_token": "",
        "max_series_per_metric": 1000,
        "histogram_buckets": (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        "otlp_endpoint": "",
        "otlp_export_interval_ms": 10000,
    }
    monkeypatch.setenv("METRICS_ENABLED", "off")
    monkeypatch.setenv("METRICS_HISTOGRAM_BUCKETS", "0.001, 0.1,1")
    metrics = create_container().config.metrics()
    assert metrics["enabled"] is False
    assert metrics["backend"] == "none"  # disabled means the no-op adapter, whatever the backend
    assert metrics["histogram_buckets"] == (0.001, 0.1, 1.0)


@pytest.mark.parametrize(
    ("env", "value", "allowed"),
    [
        ("METRICS_ENABLED", "maybe", "must be true or false"),
        ("METRICS_BACKEND", "statsd", "must be one of prometheus, opentelemetry, none"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "an http\\(s\\) URL"),
        ("METRICS_MAX_SERIES_PER_METRIC", "0", "integer from 1 to 100000"),
        ("METRICS_HISTOGRAM_BUCKETS", "1,0.5", "strictly increasing"),
        ("METRICS_HISTOGRAM_BUCKETS", "0,1", "positive"),
        ("METRICS_HISTOGRAM_BUCKETS", "a,b", "comma-separated list"),
    ],
)
def test_bad_metrics_settings(monkeypatch: pytest.MonkeyPatch, env: str, value: str, allowed: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=allowed):
        create_container()


def test_a_bad_bearer_token_is_rejected_without_being_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_BEARER_TOKEN", "short secret")
    with pytest.raises(ConfigError) as caught:
        create_container()
    assert "short secret" not in str(caught.value)
    assert "metrics.bearer_token (env METRICS_BEARER_TOKEN) = '<redacted>'" in str(caught.value)


def test_typed_values_reach_the_container() -> None:
    container = create_container()
    assert container.config.venue.fee_bps() == Decimal("10")
    assert container.config.account.initial_cash() == {"USD": Decimal("10000")}
    assert container.config.risk.allow_leverage() is False
    assert container.instruments()["ETH-BTC"].tick_size == Decimal("0.00001")
    assert container.venue()._liquidity == {"BTC-USD": Decimal("5"), "ETH-USD": Decimal("50"), "ETH-BTC": Decimal("50")}


def test_a_user_file_may_use_plain_yaml_values(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        "http: {port: 9100}\n"
        "metrics: {enabled: false, histogram_buckets: [0.1, 1]}\n"
        "account: {initial_cash: {usd: 500, btc: 0.5}}\n"
    )
    config = create_container(path).config()
    assert config["http"]["port"] == 9100
    assert config["metrics"]["enabled"] is False and config["metrics"]["histogram_buckets"] == (0.1, 1.0)
    assert config["account"]["initial_cash"] == {"USD": Decimal("500"), "BTC": Decimal("0.5")}


def test_an_empty_user_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("# nothing to change\n")
    assert create_container(path).config() == create_container().config()


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ('http:\n  port: "70000"\n', "http.port = '70000': must be an integer from 1 to 65535"),
        ("account:\n  initial_cash: {USD: abc}\n", "account.initial_cash = {'USD': 'abc'}: must be CUR=amount"),
    ],
)
def test_a_key_the_user_file_sets_literally_names_no_variable(tmp_path: Path, document: str, expected: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(document)
    with pytest.raises(ConfigError) as caught:
        create_container(path)
    assert str(caught.value).startswith(f"invalid configuration: {expected}")


def test_validation_is_pure_and_the_development_token_is_a_startup_step() -> None:
    raw, env = load_sources()
    assert validate(raw, env) == validate(raw, env)
    assert validate(raw, env).auth.api_token == ""
    container = create_container()
    assert container.config.auth.api_token() == ""
    assert provide_development_api_token(container) is True
    token = container.config.auth.api_token()
    assert len(token) >= 32
    assert provide_development_api_token(container) is False
    assert container.config.auth.api_token() == token


def test_production_refuses_to_start_without_an_api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ConfigError) as caught:
        create_container()
    assert str(caught.value) == (
        "invalid configuration: auth.api_token (env TRADING_ENGINE_API_TOKEN) = '': "
        "must be set in production: every POST/PUT/DELETE needs it"
    )


@pytest.mark.parametrize(
    "document",
    [
        'auth:\n  api_token: "secret with spaces 0123456789"\n',
        'auth:\n  api_tokn: "secret-with-no-spaces-0123456789"\n',  # a misspelt key holds one too
    ],
)
def test_no_token_is_echoed_in_the_error_line(tmp_path: Path, document: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(document)
    with pytest.raises(ConfigError) as caught:
        create_container(path)
    assert "secret" not in str(caught.value)
    assert "= '<redacted>'" in str(caught.value)


INSTRUMENT = 'symbol: "{symbol}", tick_size: "{tick}", lot_size: "0.001", min_quantity: "0.001", initial_price: "100"'


def instruments_file(tmp_path: Path, *entries: str, extra: str = "") -> Path:
    path = tmp_path / "config.yml"
    path.write_text("instruments:\n" + "".join(f"  - {{{entry}}}\n" for entry in entries) + extra)
    return path


@pytest.mark.parametrize(
    ("entries", "extra", "expected"),
    [
        ([INSTRUMENT.format(symbol="BTC-USD", tick="0")], "",
         "instruments[0] = 'BTC-USD': BTC-USD tick_size 0 is not allowed; it must be greater than 0"),
        ([INSTRUMENT.format(symbol="BTCUSD", tick="0.01")], "", "instruments[0] = 'BTCUSD': symbol 'BTCUSD' is not valid"),
        ([INSTRUMENT.format(symbol="btc-usd", tick="0.01"), INSTRUMENT.format(symbol="BTC-USD", tick="0.1")], "",
         "instruments[1].symbol = 'BTC-USD': is listed twice"),
        ([INSTRUMENT.format(symbol="BTC-USD", tick="0.01") + ', liquidity: "-1"'], "",
         "instruments[0].liquidity = '-1': must be a decimal number greater than 0"),
        ([INSTRUMENT.format(symbol="BTC-USD", tick="0.01") + ', depth: "1"'], "",
         "instruments[0].depth = '1': unknown key; known keys: instruments[0].initial_price"),
        (['symbol: "BTC-USD"'], "", "instruments[0].tick_size = None: missing; required: instruments[0].symbol, "
         "instruments[0].tick_size, instruments[0].lot_size, instruments[0].min_quantity, instruments[0].initial_price"),
        ([INSTRUMENT.format(symbol="ETH-BTC", tick="0.01")], "",
         "instruments = 'BTC': no instrument converts BTC into the reporting currency USD; configure BTC-USD or USD-BTC"),
        ([INSTRUMENT.format(symbol="BTC-USD", tick="0.01")], 'account:\n  initial_cash: "USD=1,EUR=2"\n',
         "instruments = 'EUR': no instrument converts EUR into the reporting currency USD"),
    ],
)
def test_instrument_rules(tmp_path: Path, entries: list[str], extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create_container(instruments_file(tmp_path, *entries, extra=extra))
    assert expected in str(caught.value)


@pytest.mark.parametrize("value", ["[]", "{}"])
def test_the_instruments_must_be_a_non_empty_list(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(f"instruments: {value}\n")
    with pytest.raises(ConfigError) as caught:
        create_container(path)
    assert str(caught.value) == (
        f"invalid configuration: instruments = {value}: must be a non-empty list of mappings of "
        "symbol, tick_size, lot_size, min_quantity, initial_price, liquidity"
    )


def test_the_initial_cash_is_parsed_per_currency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INITIAL_CASH", " usd=10000 , BTC=0.5")
    assert create_container().config.account.initial_cash() == {"USD": Decimal("10000"), "BTC": Decimal("0.5")}


def test_the_published_schema_is_generated_from_the_models() -> None:
    committed = json.loads((ROOT / "config.schema.json").read_text())
    assert committed == config_schema(), "regenerate it: trading-engine --config-schema > config.schema.json"


def test_the_config_schema_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config-schema"]) == 0
    assert json.loads(capsys.readouterr().out) == config_schema()


def test_the_schema_judges_a_file_as_the_service_does(tmp_path: Path) -> None:
    validator = jsonschema.Draft202012Validator(config_schema())
    raw, _ = load_sources()
    assert list(validator.iter_errors(raw)) == []  # the shipped values, interpolated
    assert list(validator.iter_errors({"http": {"port": 9100}, "logging": {"level": "DEBUG"}})) == []
    for bad in ({"http": {"port": 70000}}, {"http": {"prot": 1}}, {"service": {"instance_name": "bad_name!"}},
                {"instruments": [{"symbol": "BTC-USD"}]}, {"metrics": {"bearer_token": "short"}}):
        assert list(validator.iter_errors(bad)), bad
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(ConfigError):
            create_container(path)
