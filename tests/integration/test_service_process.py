"""The service as a real subprocess: entry points, startup validation, graceful shutdown."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.process import REPO_ROOT, ServiceProcess

pytestmark = pytest.mark.integration


def get_json(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


@pytest.mark.parametrize("entry", ["module", "console_script"])
def test_entry_points_serve_health_and_stop_cleanly_on_sigterm(entry: str) -> None:
    if entry == "module":
        args = [sys.executable, "-m", "trading_engine"]
    else:
        script = shutil.which("trading-engine", path=str(Path(sys.executable).parent))
        assert script, "console script trading-engine is not installed beside the interpreter"
        args = [script]
    with ServiceProcess(args) as service:
        service.wait_healthy()
        status, body = get_json(f"{service.base_url}/api/v1/health")
        assert status == 200 and body["status"] == "healthy"
        service.signal(signal.SIGTERM)
        assert service.wait() == 0
        assert service.events()[-1]["event"] == "shutdown_complete"


def test_every_log_line_is_json_with_the_identity_fields() -> None:
    with ServiceProcess() as service:
        service.wait_healthy()
        get_json(f"{service.base_url}/api/v1/ready")
        service.signal(signal.SIGINT)
        assert service.wait() == 0
    events = service.events()
    assert len(events) == len([line for line in service.stdout if line.strip()])
    for event in events:
        assert {"service", "instance", "version", "environment", "level", "timestamp", "event"} <= set(event)
    access = [e for e in events if e["event"] == "http_request"]
    assert {(e["method"], e["route"], e["status"]) for e in access} >= {("GET", "/api/v1/ready", 200)}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HTTP_PORT": "70000"}, "http.port (env HTTP_PORT) = '70000': must be an integer from 1 to 65535"),
        ({"HTTP_PORT": "web"}, "http.port (env HTTP_PORT) = 'web': must be an integer from 1 to 65535"),
        ({"ENVIRONMENT": "qa"}, "service.environment (env ENVIRONMENT) = 'qa': must be one of"),
        ({"LOG_LEVEL": "loud"}, "logging.level (env LOG_LEVEL) = 'loud': must be one of"),
        ({"LOG_FORMAT": "yaml"}, "logging.format (env LOG_FORMAT) = 'yaml': must be one of"),
        ({"SERVICE_INSTANCE_NAME": "bad_name!"}, "service.instance_name (env SERVICE_INSTANCE_NAME)"),
        ({"TRADING_ENGINE_CONFIG": "/nonexistent/config.yml"}, "config file = '/nonexistent/config.yml': not found"),
    ],
)
def test_bad_configuration_exits_2_with_one_line_and_no_traceback(env: dict, expected: str) -> None:
    port_env = {} if "HTTP_PORT" in env else {"HTTP_PORT": "8083"}
    result = subprocess.run(
        [sys.executable, "-m", "trading_engine"],
        env={**ServiceProcess().env, **port_env, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("trading-engine: invalid configuration: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_unparsable_config_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "config.yml"
    bad.write_text("service: [\n")
    result = subprocess.run(
        [sys.executable, "-m", "trading_engine", "--config", str(bad)],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "is not valid YAML" in result.stderr


def test_help_explains_the_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trading_engine", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert "--config PATH" in result.stdout and "TRADING_ENGINE_CONFIG" in result.stdout
    assert "--check-config" in result.stdout


def test_mixed_case_instance_name_is_normalised_and_said_once() -> None:
    with ServiceProcess(env={"SERVICE_INSTANCE_NAME": "trading-system-engine-LH"}) as service:
        service.wait_healthy()
        _, body = get_json(f"{service.base_url}/api/v1/health")
        assert body["instance"] == "trading-system-engine-lh"
        notices = [e for e in service.events() if e["event"] == "instance_name_normalised"]
        assert len(notices) == 1
        assert notices[0]["original"] == "trading-system-engine-LH"
        assert notices[0]["normalised"] == "trading-system-engine-lh"


def test_port_in_use_is_one_clear_line_and_exit_1() -> None:
    with ServiceProcess() as first:
        first.wait_healthy()
        result = subprocess.run(
            [sys.executable, "-m", "trading_engine"], env=first.env, cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{first.port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_lets_a_slow_in_flight_request_finish_then_exits_0() -> None:
    args = [sys.executable, "-m", "tests.support.slow_service", "2.0"]
    with ServiceProcess(args) as service:
        service.wait_healthy()
        outcome: dict = {}

        def slow_request() -> None:
            started = time.monotonic()
            outcome["status"], outcome["body"] = get_json(f"{service.base_url}/api/v1/ready")
            outcome["elapsed"] = time.monotonic() - started

        client = threading.Thread(target=slow_request)
        client.start()
        time.sleep(0.5)  # the request is in flight, waiting on the 2 s check
        service.signal(signal.SIGTERM)
        client.join(30)
        assert service.wait() == 0
    assert outcome["status"] == 200
    assert outcome["body"] == {"status": "ready", "checks": {"slow": "ok"}, "reasons": {}}
    assert outcome["elapsed"] >= 1.9
    names = [e["event"] for e in service.events()]
    assert names.index("http_request") < names.index("shutdown_complete") == len(names) - 1


def test_container_healthcheck_probe() -> None:
    probe = [sys.executable, "-m", "trading_engine.healthcheck"]
    with ServiceProcess() as service:
        service.wait_healthy()
        env = {**service.env, "HTTP_PORT": str(service.port)}
        assert subprocess.run(probe, env=env, timeout=30).returncode == 0
    closed = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30)
    assert closed.returncode == 1
    assert "healthcheck: http://127.0.0.1:" in closed.stderr
