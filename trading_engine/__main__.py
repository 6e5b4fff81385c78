"""Command line: ``trading-engine`` / ``python -m trading_engine``. Parse, build, run — nothing else."""

from __future__ import annotations

import argparse
import json
import os
import sys

from trading_engine import __version__
from trading_engine.infrastructure.config import (
    CONFIG_ENV_VAR,
    ConfigError,
    config_schema,
    resolve_config_path,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="trading-engine",
        description="Run the trading-system-engine HTTP service. Every setting lives in config.yml "
        "and can be overridden by the environment variable named beside it there. "
        "'trading-engine backtest --help' runs a backtest instead.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=os.environ.get(CONFIG_ENV_VAR) or None,
        help=f"YAML file merged over the shipped defaults (env {CONFIG_ENV_VAR}; default: "
        "./config.yml when it exists, else the config.yml shipped with the package)",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration and exit (status 0 when valid, 2 when not)",
    )
    parser.add_argument(
        "--config-schema",
        action="store_true",
        help="print the JSON schema of a configuration file (its values after ${VAR:default} "
        "interpolation) and exit",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["backtest"]:
        from trading_engine.backtesting.cli import main as backtest

        return backtest(argv[1:])
    args = parse_args(argv)
    if args.config_schema:
        print(json.dumps(config_schema(), indent=2))
        return 0
    from trading_engine.infrastructure.strategy_plugins import StrategyLoadError

    try:
        from trading_engine.containers import create_container

        container = create_container(resolve_config_path(args.config))
    except (ConfigError, StrategyLoadError) as exc:
        print(f"trading-engine: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print("trading-engine: configuration is valid", file=sys.stderr)
        return 0

    from trading_engine.application import run
    from trading_engine.domain.errors import StoreUnavailable
    from trading_engine.infrastructure.persistence.records import IncompatibleSchema

    try:
        run(container)
    except (StoreUnavailable, IncompatibleSchema) as exc:  # the database cannot be opened or used
        print(f"trading-engine: cannot start: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the port is taken, the host does not resolve, ...
        print(f"trading-engine: cannot serve on {container.config.http.host()}:"
              f"{container.config.http.port()}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
