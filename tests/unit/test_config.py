"""Startup validation of config.yml: every bad value is one clear error naming key, value, allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from trading_engine import __version__
from trading_engine.containers import create_container
from trading_engine.infrastructure.config import SHIPPED_CONFIG, ConfigError, resolve_config_path


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
    assert config["grpc"] == {"port": 50053}
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
