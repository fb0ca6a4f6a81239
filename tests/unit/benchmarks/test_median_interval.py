"""The interval around the median of paired runs that judges #14's goals."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from benchmarks._secure_online import (
    P99_DIFF_GOAL_MS,
    describe,
    median_interval,
    summarise,
)


def _coverage(n: int, k: int) -> float:
    """P(k-th smallest <= median <= k-th largest) for n continuous draws, by
    enumerating which draws fall below the median (each half the time)."""
    inside = sum(
        k <= sum(below) <= n - k for below in itertools.product((0, 1), repeat=n)
    )
    return inside / 2**n


@pytest.mark.parametrize("n", range(6, 17))
def test_interval_is_the_narrowest_order_statistics_with_95_percent_coverage(
    n: int,
) -> None:
    low, high = median_interval([float(i) for i in range(n)])
    k = int(low) + 1  # values 0..n-1: the k-th smallest is k - 1
    assert high == n - k  # symmetric: the k-th largest
    assert _coverage(n, k) >= 0.95
    assert k == n // 2 or _coverage(n, k + 1) < 0.95


@pytest.mark.parametrize("n", range(6))
def test_too_few_values_give_no_interval(n: int) -> None:
    assert median_interval([1.0] * n) == (-math.inf, math.inf)


def test_interval_covers_a_skewed_distributions_median_as_often_as_promised() -> None:
    rng = random.Random(14)
    trials, n, median = 4000, 15, math.log(2)  # median of Exp(1)
    covered = 0
    for _ in range(trials):
        low, high = median_interval([rng.expovariate(1) for _ in range(n)])
        covered += low <= median <= high
    assert covered / trials >= 0.95


def test_interval_ignores_input_order() -> None:
    values = [0.91, 0.74, 1.06, 0.88, 0.90, 0.93, 0.85, 0.97]
    assert median_interval(values) == median_interval(sorted(values, reverse=True))


def _runs(qps: list[float], p99: list[float]) -> list[dict[str, object]]:
    return [
        {"qps": q, "p50_ms": 0.5, "p99_ms": p, "errors": 0, "cpu_us_per_call": {}}
        for q, p in zip(qps, p99, strict=True)
    ]


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [
        ([0.95, 0.96, 0.93, 0.97, 0.94, 0.95, 0.92], "met"),
        ([0.80, 0.82, 0.85, 0.79, 0.84, 0.81, 0.83], "MISSED"),
        ([0.85, 0.95, 0.88, 0.93, 0.91, 0.89, 0.92], "undecided"),
    ],
)
def test_saturated_goal_is_judged_by_the_interval(
    ratios: list[float], verdict: str
) -> None:
    plain = _runs([1000.0] * len(ratios), [1.0] * len(ratios))
    secure = _runs([1000.0 * r for r in ratios], [1.0] * len(ratios))
    result = summarise(plain, secure, fixed_rate=False)
    assert result["qps_ratio_paired_interval"] == pytest.approx(
        (min(ratios), max(ratios))  # 7 pairs: the whole range is the 98% interval
    )
    assert result["goal_by_interval"] == verdict
    assert f"by the interval: {verdict}" in describe("saturate", result, False)


def test_p99_goal_is_judged_by_the_interval_of_differences() -> None:
    diffs = [0.1, -0.2, 0.25, 0.05, 0.2, 0.0, 0.15, 0.1, 0.3, -0.1, 0.2, 0.05]
    plain = _runs([1000.0] * len(diffs), [2.0] * len(diffs))
    secure = _runs([1000.0] * len(diffs), [2.0 + d for d in diffs])
    result = summarise(plain, secure, fixed_rate=True)
    low, high = result["p99_diff_paired_interval_ms"]
    # 12 pairs: the 3rd smallest and 3rd largest difference (96% coverage).
    assert (low, high) == pytest.approx((0.0, 0.2))
    assert high <= P99_DIFF_GOAL_MS
    assert result["goal_by_interval"] == "met"
    line = describe("fixed", result, True)
    assert f"[{low:+.2f}, {high:+.2f}]" in line
