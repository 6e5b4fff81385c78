"""promtool, Prometheus' own linter, accepts what the service exposes and the scrape config it ships.

promtool comes with Debian's ``prometheus`` package, which ``make test`` installs; a missing
promtool fails these tests rather than skipping them.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.support.process import REPO_ROOT, ServiceProcess
from tests.support.prometheus import SHIPPED_SCRAPE_CONFIG, render_scrape_config, require_tool

pytestmark = pytest.mark.integration


def request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_promtool_check_metrics_finds_no_problem_in_the_exposition() -> None:
    env = {"SERVICE_INSTANCE_NAME": "trading-system-engine-LH", "VERSION": "9.8.7"}
    with ServiceProcess(env=env) as service:
        service.wait_healthy()
        base = service.base_url
        # Every kind of series the RED middleware creates: 2xx, a 404 (unmatched), a 405; no 500.
        assert request(f"{base}/api/v1/health")[0] == 200
        assert request(f"{base}/api/v1/ready")[0] == 200
        assert request(f"{base}/api/v1/health", method="HEAD")[0] == 200
        assert request(f"{base}/api/v1/no-such-route")[0] == 404
        assert request(f"{base}/api/v1/health", method="POST")[0] == 405
        assert request(f"{base}/metrics")[0] == 200  # a scrape, so the metrics route has series too

        status, headers, body = request(f"{base}/api/v1/metrics", headers={"Accept": "text/plain"})

    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers["Content-Type"]
    text = body.decode()
    # The exposition holds what the traffic produced, so the lint covers those series.
    for fragment in (
        'route="unmatched"',
        'code="404"',
        'code="405"',
        "http_request_duration_seconds_bucket{",
        "http_request_errors_total{",
        "process_resident_memory_bytes{",
        "python_gc_collections_total{",
    ):
        assert fragment in text, fragment
    assert 'code="500"' not in text

    result = promtool("check", "metrics", stdin=body)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), (
        f"promtool check metrics exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )


def test_promtool_check_config_accepts_the_shipped_scrape_config() -> None:
    result = promtool("check", "config", str(SHIPPED_SCRAPE_CONFIG))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"
    assert "SUCCESS" in result.stdout

    document = yaml.safe_load(SHIPPED_SCRAPE_CONFIG.read_text())
    [job] = document["scrape_configs"]
    assert job["job_name"] == "trading-system-engine"
    assert job["metrics_path"] == "/api/v1/metrics"
    assert job["honor_labels"] is True
    assert job["static_configs"] == [{"targets": ["localhost:8083"]}]


def test_promtool_check_config_accepts_the_config_the_tests_generate(tmp_path: Path) -> None:
    """What PrometheusServer runs, with the optional bearer-token block the shipped file documents."""
    token_file = tmp_path / "token"
    token_file.write_text("0123456789abcdef0123")
    config = render_scrape_config(["127.0.0.1:18083"], credentials_file=token_file)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))

    result = promtool("check", "config", str(path))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"
    [job] = config["scrape_configs"]
    assert job["honor_labels"] is True and job["metrics_path"] == "/api/v1/metrics"
    assert job["scrape_interval"] == job["scrape_timeout"] == "1s"


def test_the_fleet_scrape_config_and_the_compose_file_agree() -> None:
    """deploy/prometheus/fleet.yml is valid, discovers its targets from files, and the targets file
    names each engine of deploy/docker-compose.yml once; each engine has its own instance name."""
    fleet = SHIPPED_SCRAPE_CONFIG.parent / "fleet.yml"
    result = promtool("check", "config", str(fleet))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"
    [job] = yaml.safe_load(fleet.read_text())["scrape_configs"]
    assert job["honor_labels"] is True and job["metrics_path"] == "/api/v1/metrics"
    assert job["file_sd_configs"] == [{"files": ["targets/*.json"], "refresh_interval": "30s"}]

    compose = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yml").read_text())
    engines = {name: service for name, service in compose["services"].items() if name.startswith("engine-")}
    names = [service["environment"]["SERVICE_INSTANCE_NAME"] for service in engines.values()]
    assert len(engines) == 2 and len(set(names)) == 2
    assert all(service["environment"]["TRADING_ENGINE_DB_BACKEND"] == "postgres" for service in engines.values())
    [group] = json.loads((fleet.parent / "targets" / "engines.json").read_text())
    assert sorted(group["targets"]) == sorted(f"{name}:8083" for name in engines)
    assert compose["services"]["prometheus"]["command"] == ["--config.file=/etc/prometheus/fleet.yml"]
