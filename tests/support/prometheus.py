"""Run a real Prometheus server against the service, from the shipped scrape configuration.

::

    with ServiceProcess() as service, PrometheusServer(f"127.0.0.1:{service.port}") as prometheus:
        series = prometheus.wait_for('rate(http_requests_total[1m])', tick=make_traffic)
        assert prometheus.query('up{job="trading-system-engine"}')[0]["value"][1] == "1"

The scrape configuration is generated from ``deploy/prometheus/prometheus.yml``: the targets are
replaced by the given loopback addresses and the scrape and rule evaluation intervals are shortened
(1 s by default); everything else (job name, metrics_path, honor_labels, the rule files, ...) is
kept, so the tests exercise the file that ships. Each server gets a free loopback port and a
temporary directory (TSDB, generated config, its own log); the directory is removed and the process
ended (terminate, then kill) on exit, whether or not the test failed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.process import REPO_ROOT, free_port

SHIPPED_SCRAPE_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
JOB = "trading-system-engine"

Result = list[dict[str, Any]]


def require_tool(name: str) -> str:
    """The path of a system tool the integration tests need; a missing one fails the test (it is
    part of the test set-up, so it is never a reason to skip)."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(
            f"{name} is not installed: `make test` installs it (Debian package 'prometheus', "
            "which provides prometheus and promtool)",
            pytrace=False,
        )
    return path


def render_scrape_config(
    targets: Sequence[str],
    *,
    source: Path = SHIPPED_SCRAPE_CONFIG,
    scrape_interval: str = "1s",
    credentials_file: Path | None = None,
    evaluation_interval: str | None = None,
    targets_file: Path | None = None,
) -> dict[str, Any]:
    """The shipped scrape configuration with every static target replaced by ``targets`` and every
    scrape interval (and timeout, which may not exceed it) set to ``scrape_interval``; rules are
    evaluated every ``evaluation_interval`` (by default the scrape interval, so recorded series
    follow the data as fast as it arrives). Relative ``rule_files`` are made absolute so they still
    resolve from a config written elsewhere. With ``credentials_file``, scrapes send its content as
    a bearer token. With ``targets_file``, the targets are discovered from that file
    (``file_sd_configs``, re-read every second) instead of listed."""
    config = yaml.safe_load(source.read_text())
    config["global"] = {
        **(config.get("global") or {}),
        "scrape_interval": scrape_interval,
        "scrape_timeout": scrape_interval,
        "evaluation_interval": evaluation_interval or scrape_interval,
    }
    if config.get("rule_files"):
        config["rule_files"] = [str(source.parent / pattern) for pattern in config["rule_files"]]
    jobs = config.get("scrape_configs") or []
    if not jobs:
        raise AssertionError(f"{source} has no scrape_configs")
    for job in jobs:
        job["scrape_interval"] = scrape_interval
        job["scrape_timeout"] = scrape_interval
        # One group of the given targets, keeping the labels the shipped (first) group attaches.
        groups = job.get("static_configs") or [{}]
        group = {"targets": list(targets)}
        if groups[0].get("labels"):
            group["labels"] = dict(groups[0]["labels"])
        job["static_configs"] = [group]
        if targets_file is not None:
            del job["static_configs"]
            job["file_sd_configs"] = [{"files": [str(targets_file)], "refresh_interval": "1s"}]
        if credentials_file is not None:
            job["authorization"] = {"type": "Bearer", "credentials_file": str(credentials_file)}
    return config


class PrometheusServer:
    """A Prometheus process on ``127.0.0.1:<free port>`` scraping ``targets``; a context manager."""

    def __init__(
        self,
        targets: str | Sequence[str],
        *,
        scrape_interval: str = "1s",
        bearer_token: str | None = None,
        source: Path = SHIPPED_SCRAPE_CONFIG,
        start_timeout: float = 60.0,
        evaluation_interval: str | None = None,
        file_discovery: bool = False,
    ) -> None:
        self.targets = [targets] if isinstance(targets, str) else list(targets)
        self.file_discovery = file_discovery
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.bearer_token = bearer_token
        self.source = source
        self.start_timeout = start_timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None

    # -- paths ----------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "prometheus.yml"

    @property
    def targets_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "targets.json"

    def set_targets(self, targets: Sequence[str]) -> None:
        """With ``file_discovery``: replace the discovered targets (the file is swapped whole)."""
        self.targets = list(targets)
        staged = self.targets_file.with_suffix(".tmp")
        staged.write_text(json.dumps([{"targets": self.targets}]))
        staged.replace(self.targets_file)

    @property
    def log_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "prometheus.log"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> PrometheusServer:
        binary = require_tool("prometheus")
        self.workdir = Path(tempfile.mkdtemp(prefix="prometheus-test-"))
        try:
            credentials = None
            if self.bearer_token is not None:
                credentials = self.workdir / "metrics-token"
                credentials.write_text(self.bearer_token)
                credentials.chmod(0o600)
            if self.file_discovery:
                self.set_targets(self.targets)
            config = render_scrape_config(
                self.targets,
                source=self.source,
                scrape_interval=self.scrape_interval,
                credentials_file=credentials,
                evaluation_interval=self.evaluation_interval,
                targets_file=self.targets_file if self.file_discovery else None,
            )
            self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
            # A free port can be taken between our probe and Prometheus binding it: retry a few.
            for attempt in range(3):
                self._spawn(binary, attempt)
                if self._wait_ready():
                    return self
                self._end_process()
            raise AssertionError(
                f"Prometheus did not start on a free port (3 attempts):\n{self.log_tail()}"
            )
        except BaseException:
            self.stop()
            raise

    def _spawn(self, binary: str, attempt: int) -> None:
        assert self.workdir is not None
        self.port = free_port()
        data = self.workdir / f"data-{attempt}"
        with self.log_file.open("ab") as log:
            log.write(f"--- attempt {attempt + 1}, port {self.port} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=info",
                ],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # the child holds its own copy of the log descriptor; ours closes here

    def _wait_ready(self) -> bool:
        """True once ``/-/ready`` answers 200; False if the process exited (e.g. port taken)."""
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "address already in use" in self.log_tail(50):
                    return False
                raise AssertionError(
                    f"Prometheus exited with {self.proc.returncode} while starting:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return True
            except urllib.error.HTTPError as exc:  # 503 while the TSDB opens
                exc.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(
            f"Prometheus not ready within {self.start_timeout}s on {self.base_url}:\n{self.log_tail()}"
        )

    def _end_process(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)

    def stop(self) -> None:
        try:
            self._end_process()
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- diagnostics ----------------------------------------------------------------------------
    def log_tail(self, lines: int = 20) -> str:
        """The last lines Prometheus logged (its stderr), for failure messages."""
        if self.workdir is None or not self.log_file.exists():
            return "(no Prometheus log)"
        text = self.log_file.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def targets_health(self) -> list[dict[str, Any]]:
        """Each active target's scrape URL, health and last error (``/api/v1/targets``)."""
        data = self._get("/api/v1/targets", {"state": "active"})
        return [
            {k: t.get(k) for k in ("scrapeUrl", "health", "lastError", "labels")}
            for t in data.get("activeTargets", [])
        ]

    def rule_groups(self) -> list[dict[str, Any]]:
        """The loaded rule groups with each rule's health, last error and, for alerting rules, its
        active alerts (``/api/v1/rules``)."""
        return list(self._get("/api/v1/rules", {}).get("groups", []))

    # -- the HTTP API ---------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read().decode(errors="replace")
            raise AssertionError(f"GET {path} {params} -> {exc.code}: {detail}") from None
        if body.get("status") != "success":
            raise AssertionError(f"GET {path} {params} -> {body}")
        return body["data"]

    def query(self, promql: str) -> Result:
        """An instant query: the list of ``{"metric": {labels}, "value": [ts, "value"]}`` results
        (for a scalar or string result, a one-element list holding ``{"value": ...}``)."""
        data = self._get("/api/v1/query", {"query": promql})
        if data["resultType"] in ("vector", "matrix"):
            return list(data["result"])
        return [{"metric": {}, "value": data["result"]}]

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[Result], bool] = bool,
        timeout: float = 60.0,
        *,
        interval: float = 0.25,
        tick: Callable[[], object] | None = None,
    ) -> Result:
        """Poll ``promql`` until ``predicate(result)`` holds and return that result; ``tick`` runs
        before every poll (e.g. to keep traffic flowing). On timeout, fail with the last result,
        the targets' scrape health and the end of Prometheus' log."""
        deadline = time.monotonic() + timeout
        result: Result = []
        while True:
            if tick is not None:
                tick()
            result = self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                break
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"Prometheus is not running:\n{self.log_tail()}")
            time.sleep(interval)
        raise AssertionError(
            f"{promql!r} did not satisfy the condition within {timeout}s; last result: {result}\n"
            f"targets: {self.targets_health()}\nPrometheus log:\n{self.log_tail()}"
        )
