"""The pure parts of the strategy runtime: the token bucket and the performance arithmetic."""

from __future__ import annotations

import math

import pytest

from trading_engine.domain.performance import max_drawdown, sharpe_ratio
from trading_engine.domain.rate_limit import TokenBucket


class Seconds:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_starts_full_and_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Seconds()
    bucket = TokenBucket(rate=2.0, burst=3.0, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back
    assert [bucket.take() for _ in range(2)] == [True, False]
    clock.now += 60  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_a_slow_bucket_gives_a_token_only_once_a_whole_one_has_accrued() -> None:
    clock = Seconds()
    bucket = TokenBucket(rate=0.5, burst=1.0, clock=clock)
    assert bucket.take() and not bucket.take()
    clock.now += 1.9
    assert not bucket.take()
    clock.now += 0.1
    assert bucket.take()


@pytest.mark.parametrize(
    ("values", "drawdown"),
    [([], 0.0), ([5.0], 0.0), ([1.0, 2.0, 3.0], 0.0), ([0.0, 10.0, 4.0, 12.0, 2.0, 6.0], 10.0), ([-1.0, -3.0], 2.0)],
)
def test_max_drawdown_is_the_largest_fall_from_a_previous_peak(values: list[float], drawdown: float) -> None:
    assert max_drawdown(values) == drawdown


def test_sharpe_ratio_is_mean_over_population_deviation_of_the_changes() -> None:
    # Changes 1, 3: mean 2, population standard deviation 1.
    assert sharpe_ratio([0.0, 1.0, 4.0]) == pytest.approx(2.0)
    changes = [0.5, -0.25, 1.0, 0.25]
    values = [10.0]
    for change in changes:
        values.append(values[-1] + change)
    mean = sum(changes) / 4
    deviation = math.sqrt(sum((c - mean) ** 2 for c in changes) / 4)
    assert sharpe_ratio(values) == pytest.approx(mean / deviation)


@pytest.mark.parametrize("values", [[], [1.0], [1.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
def test_sharpe_ratio_is_none_with_fewer_than_two_changes_or_no_variation(values: list[float]) -> None:
    assert sharpe_ratio(values) is None
