"""Pooled latency percentiles of fs-loadgen histograms, against the raw calls."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks._latency_hist import (
    BUCKET_MS,
    MIN_PAIRS,
    pooled_diff_interval_ms,
    pooled_percentile_ms,
)
from benchmarks._secure_online import P99_DIFF_GOAL_MS, describe, summarise


def _hist(latencies_us: list[int]) -> list[list[int]]:
    """What fs-loadgen reports: [bucket, count] of 10 µs buckets, ascending."""
    buckets, counts = np.unique(np.asarray(latencies_us) // 10, return_counts=True)
    return [[int(b), int(c)] for b, c in zip(buckets, counts, strict=True)]


def _raw_percentile_ms(runs: list[list[int]], p: float) -> float:
    """The oracle: sort every call, take fs-loadgen's index, report its bucket."""
    calls = sorted(us for run in runs for us in run)
    us = calls[int(p * (len(calls) - 1))]
    return (us // 10 + 0.5) * BUCKET_MS


@settings(max_examples=200, deadline=None)
@given(
    runs=st.lists(
        st.lists(st.integers(0, 50_000), min_size=1, max_size=300),
        min_size=1,
        max_size=6,
    ),
    p=st.sampled_from([0.0, 0.5, 0.9, 0.99, 0.999, 1.0]),
)
def test_pooled_percentile_is_the_percentile_of_all_calls(
    runs: list[list[int]], p: float
) -> None:
    got = pooled_percentile_ms([_hist(run) for run in runs], p)
    assert got == pytest.approx(_raw_percentile_ms(runs, p))


def test_pooling_is_not_the_median_of_run_percentiles() -> None:
    # Two runs of 100 calls: one quiet, one with a 5-call stall at 8 ms.
    quiet, stalled = [1000] * 100, [1000] * 95 + [8000] * 5
    runs = [_hist(quiet), _hist(stalled), _hist(quiet)]
    # Per run the p99 is 1.005 ms twice and 8.005 once; pooled, the 5 stalled
    # calls are 1.7% of 300 calls, so the pooled p99 is in the stall.
    assert pooled_percentile_ms(runs) == pytest.approx(8.005)


def _series(rng: np.random.Generator, pairs: int, shift_us: int) -> tuple[list, list]:
    """Runs whose tails are set by stalls, as on the bench's VM; secure is plain
    shifted by ``shift_us``, so the true pooled p99 difference is the shift."""

    def run(extra: int) -> list[list[int]]:
        calls = rng.lognormal(np.log(900), 0.25, 2000).astype(int)
        if rng.random() < 0.4:  # a stall: a cluster of calls waits it out
            at, size = rng.integers(0, 1950), int(rng.integers(5, 40))
            calls[at : at + size] += rng.integers(1000, 5000)
        return _hist(list(calls + extra))

    return [run(0) for _ in range(pairs)], [run(shift_us) for _ in range(pairs)]


def test_bootstrap_interval_covers_the_true_difference_as_often_as_promised() -> None:
    rng = np.random.default_rng(7)
    covered, series = 0, 40
    for _ in range(series):
        plain, secure = _series(rng, pairs=12, shift_us=200)
        low, high = pooled_diff_interval_ms(plain, secure, 0.95, resamples=500)
        covered += low - BUCKET_MS <= 0.2 <= high + BUCKET_MS
    # 95% promised; a percentile bootstrap over 12 clusters runs a little under.
    assert covered >= 34, f"covered {covered} of {series}"


def test_bootstrap_interval_separates_a_large_difference_from_none() -> None:
    rng = np.random.default_rng(3)
    plain, secure = _series(rng, pairs=20, shift_us=0)
    _, same_high = pooled_diff_interval_ms(plain, secure, 0.95)
    plain, slower = _series(rng, pairs=20, shift_us=1500)
    slow_low, _ = pooled_diff_interval_ms(plain, slower, 0.95)
    assert same_high < 0.75 < slow_low  # either side of half the shift


def test_too_few_pairs_give_no_interval() -> None:
    plain, secure = _series(np.random.default_rng(5), pairs=MIN_PAIRS - 1, shift_us=0)
    assert pooled_diff_interval_ms(plain, secure, 0.95) == (-math.inf, math.inf)


def test_mismatched_or_empty_runs_are_refused() -> None:
    with pytest.raises(ValueError, match="same number"):
        pooled_diff_interval_ms([_hist([100])], [], 0.95)
    with pytest.raises(ValueError, match="empty"):
        pooled_percentile_ms([[], []])


def test_summary_judges_the_p99_goal_by_the_pooled_interval_too() -> None:
    rng = np.random.default_rng(11)
    plain_hists, secure_hists = _series(rng, pairs=12, shift_us=100)

    def runs(hists: list) -> list[dict]:
        return [
            {"qps": 1000.0, "p50_ms": 0.9, "p99_ms": pooled_percentile_ms([h]),
             "errors": 0, "cpu_us_per_call": {}, "switches_per_call": {},
             "latency_hist_10us": h}
            for h in hists
        ]  # fmt: skip

    result = summarise(runs(plain_hists), runs(secure_hists), fixed_rate=True)
    low, high = result["p99_pooled_diff_interval_ms"]
    assert low <= result["p99_pooled_diff_ms"] <= high
    assert high <= P99_DIFF_GOAL_MS
    assert result["goal_by_pooled_interval"] == "met"
    assert f"[{low:+.2f}, {high:+.2f}]: met" in describe("fixed", result, True)
    # Runs without histograms (older fs-loadgen) keep the per-run verdict only.
    for run in (*result["plain"]["runs"], *result["secure"]["runs"]):
        del run["latency_hist_10us"]
    assert "p99_pooled_ms" not in summarise(
        result["plain"]["runs"], result["secure"]["runs"], fixed_rate=True
    )
