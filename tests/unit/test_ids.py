"""Generated ids: unique, prefixed, and saying nothing about what they name."""

from __future__ import annotations

import re

from trading_engine.domain.ids import IdGenerator


def test_ids_are_unique_and_prefixed() -> None:
    ids = IdGenerator("ord_")
    drawn = [ids() for _ in range(10_000)]
    assert len(set(drawn)) == len(drawn)
    assert all(re.fullmatch(r"ord_[0-9a-f]{26}", i) for i in drawn)


def test_two_generators_never_collide() -> None:
    first, second = IdGenerator("ord_"), IdGenerator("ord_")
    assert {first() for _ in range(1000)}.isdisjoint({second() for _ in range(1000)})


def test_the_random_part_is_fixed_per_generator_and_the_counter_counts() -> None:
    ids = IdGenerator("fil_", random_part=bytes(range(8)))
    assert [ids(), ids()] == ["fil_00010203040506070000000001", "fil_00010203040506070000000002"]
