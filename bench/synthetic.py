"""Seeded synthetic one-minute bars: a geometric random walk whose drift changes regime now and
then (so trend-following strategies have trends to find), written as a bars CSV.

``python -m bench.synthetic OUT.csv[.gz] --bars N --seed S`` writes a file; the shipped sample
``examples/history/btc-usd-1m.csv.gz`` is ``--bars 4320 --seed 7`` (three days from 2024-03-01).
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2024, 3, 1, tzinfo=UTC)


def bars(count: int, seed: int, start_price: float = 60000.0) -> Iterator[tuple[datetime, float, float, float, float, float]]:
    """(start, open, high, low, close, volume) per minute, prices to the cent."""
    rng = random.Random(seed)
    price = start_price
    drift = 0.0
    for index in range(count):
        if index % 240 == 0:  # a new regime every four hours
            drift = rng.choice((-1, 0, 1)) * rng.uniform(0.00001, 0.00006)
        opened = price
        path = [opened]
        for _ in range(4):
            price *= math.exp(rng.gauss(drift / 4, 0.0006))
            path.append(price)
        high, low = max(path) * (1 + rng.uniform(0, 0.0003)), min(path) * (1 - rng.uniform(0, 0.0003))
        yield (START + timedelta(minutes=index), round(opened, 2), round(high, 2), round(low, 2), round(price, 2),
               round(rng.uniform(0.5, 20), 4))


def write(path: Path, count: int, seed: int) -> None:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as f:  # type: ignore[operator]
        f.write("timestamp,open,high,low,close,volume\n")
        for start, o, h, lo, c, v in bars(count, seed):
            f.write(f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')},{o:.2f},{max(h, o, c):.2f},{min(lo, o, c):.2f},{c:.2f},{v}\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.synthetic", description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--bars", type=int, default=4320)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write(args.out, args.bars, args.seed)


if __name__ == "__main__":
    main()
