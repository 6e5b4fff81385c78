"""An independent fuzzer agrees with the OpenAPI document: schemathesis against the live service.

The real service runs as a subprocess on loopback (chaos strategies enabled, so the document lists
all six strategies), and ``st run`` generates requests from ``GET /api/v1/openapi.json``: every
check, every phase (examples, coverage, fuzzing, and the stateful phase, which follows the
document's links from ``POST /orders`` to the order routes and from ``POST /strategies/start`` to
the instance routes), deterministic generation and a bounded number of examples per operation.
The few answers only the running service can know of are listed, with their reasons, in
``schemathesis.toml`` at the repository root, which a person running ``st run`` by hand gets too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import REPO_ROOT, ServiceProcess

pytestmark = pytest.mark.integration

TOKEN = "contract-test-token-0123456789"
MAX_EXAMPLES = 50  # per operation and phase: about 2,500 cases, some seconds on two cores
ST = Path(sys.executable).with_name("st")


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_failure_against_the_live_service() -> None:
    env = {"TRADING_ENGINE_API_TOKEN": TOKEN, "ENABLE_CHAOS_STRATEGIES": "true"}
    with ServiceProcess(env=env) as service:
        service.wait_healthy()
        run = subprocess.run(
            [
                str(ST), "--no-color", "--config-file", str(REPO_ROOT / "schemathesis.toml"),
                "run", f"{service.base_url}/api/v1/openapi.json",
                "--header", f"Authorization: Bearer {TOKEN}",
                # Every check runs (schemathesis 4's default; `--checks all` would also override the
                # per-operation settings of schemathesis.toml).
                "--phases", "examples,coverage,fuzzing,stateful",
                "--max-examples", str(MAX_EXAMPLES),
                # Derandomized, so every run sends the same cases (and keeps no example database);
                # the seed is the one a randomized run would use.
                "--seed", "20261201",
                "--request-timeout", "10",
            ],
            capture_output=True, text=True, timeout=540, cwd=REPO_ROOT,
        )
        server_errors = [e for e in service.events() if e.get("event") == "unhandled_exception"]
    report = run.stdout + run.stderr
    print(report)
    assert run.returncode == 0, report
    summary = re.search(r"(\d+) generated, (\d+) passed", report)
    assert summary and int(summary[1]) > 0 and summary[1] == summary[2], report
    links = re.search(r"API Links:\s+(\d+) covered", report)
    assert links and int(links[1]) > 0, "the stateful phase followed no link:\n" + report
    assert not server_errors, server_errors
