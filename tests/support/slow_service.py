"""The real service with one readiness check that takes ``argv[1]`` seconds: an in-flight request
that outlives a SIGTERM, for the graceful-shutdown test. Run as ``python -m tests.support.slow_service``."""

from __future__ import annotations

import sys

from dependency_injector import providers

from tests.fakes import SlowCheck
from trading_engine.application import run
from trading_engine.containers import create_container

if __name__ == "__main__":
    container = create_container(overrides={"health": {"readiness_timeout_seconds": "60"}})
    container.readiness_checks.override(
        providers.Dict(slow=providers.Object(SlowCheck(float(sys.argv[1]))))
    )
    run(container)
