"""The real service with N synthetic series registered before it serves, for the loop-stall
benchmark. Run as ``python -m bench.serve_with_series --series 10000 --kind counter`` with HOST and
HTTP_PORT (and any other setting) in the environment, like ``python -m trading_engine``."""

from __future__ import annotations

import argparse
import gc
import sys

from bench.series import KINDS, register_series
from trading_engine.application import run
from trading_engine.containers import create_container


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve_with_series", description=__doc__)
    parser.add_argument("--series", type=int, default=10_000, help="series to register (default 10000)")
    parser.add_argument("--kind", choices=KINDS, default="counter", help="series kind (default counter)")
    parser.add_argument("--switch-interval", type=float, default=None, metavar="SECONDS",
                        help="sys.setswitchinterval before serving (default: Python's, 0.005), to see "
                        "how the GIL hand-off between the render thread and the loop shapes the stall")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() after registering the series, so full collections skip them")
    args = parser.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    limit = min(100_000, max(20_000, args.series + 1))  # the config allows at most 100000
    container = create_container(overrides={"metrics": {"max_series_per_metric": str(limit)}})
    register_series(container.metrics_port(), args.series, args.kind)
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    run(container)


if __name__ == "__main__":
    main()
