"""Latency histograms of fs-loadgen runs, pooled across runs.

fs-loadgen reports each run's latencies as ``[bucket, count]`` pairs of
BUCKET_MS buckets. Pooling the runs of one side gives the percentile of all
their calls, as one long run would; the median of the runs' own p99s is a
different figure, set in a 10 s run by whether one of the host's stalls fell
in it. Runs are resampled whole (calls within a run share its stalls) and
plain and secure pair by pair (a pair shares the hour).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BUCKET_MS = 0.01
"""Width of one fs-loadgen histogram bucket (10 µs)."""

MIN_PAIRS = 10
"""Fewer pairs give no interval: a bootstrap over a handful of runs only
restates their range."""

Hist = Sequence[Sequence[int]]
"""One run's ``[bucket, count]`` pairs, bucket ascending."""


def _dense(hists: Sequence[Hist], buckets: np.ndarray) -> np.ndarray:
    """Counts per run (rows) and bucket (columns, the values of ``buckets``)."""
    out = np.zeros((len(hists), len(buckets)), dtype=np.int64)
    for row, hist in enumerate(hists):
        if hist:
            pairs = np.asarray(hist, dtype=np.int64)
            out[row, np.searchsorted(buckets, pairs[:, 0])] = pairs[:, 1]
    return out


def _percentile_ms(counts: np.ndarray, buckets: np.ndarray, p: float) -> np.ndarray:
    """The ``p`` percentile of each row of ``counts``, by fs-loadgen's rule
    (the call at index int(p * (n - 1)) in sorted order), as the middle of its
    bucket in ms."""
    cumulative = np.cumsum(counts, axis=-1)
    total = cumulative[..., -1:]
    index = np.floor(p * (total - 1)).astype(np.int64)
    # The first bucket whose cumulative count passes the index.
    position = (cumulative <= index).sum(axis=-1)
    return (buckets[position] + 0.5) * BUCKET_MS


def _buckets(*sides: Sequence[Hist]) -> np.ndarray:
    found = {pair[0] for side in sides for hist in side for pair in hist}
    if not found:
        raise ValueError("no latencies: every run's histogram is empty")
    return np.array(sorted(found), dtype=np.int64)


def pooled_percentile_ms(hists: Sequence[Hist], p: float = 0.99) -> float:
    """The ``p`` percentile of every call of ``hists`` taken together, in ms."""
    buckets = _buckets(hists)
    pooled = _dense(hists, buckets).sum(axis=0)
    return float(_percentile_ms(pooled, buckets, p))


def pooled_diff_interval_ms(
    plain: Sequence[Hist],
    secure: Sequence[Hist],
    confidence: float,
    p: float = 0.99,
    resamples: int = 4000,
    seed: int = 14,
) -> tuple[float, float]:
    """A percentile-bootstrap interval for pooled(secure) - pooled(plain) at
    ``p``, in ms, resampling whole pairs of runs with replacement; infinite
    bounds below MIN_PAIRS pairs."""
    if len(plain) != len(secure) or not plain:
        raise ValueError("need the same number of plain and secure runs, at least one")
    if len(plain) < MIN_PAIRS:
        return -math.inf, math.inf
    buckets = _buckets(plain, secure)
    plain_counts, secure_counts = _dense(plain, buckets), _dense(secure, buckets)
    rng = np.random.default_rng(seed)
    n = len(plain)
    diffs = []
    for start in range(0, resamples, 500):  # bounded memory: 500 x buckets at a time
        size = min(500, resamples - start)
        weights = rng.multinomial(n, np.full(n, 1 / n), size=size)
        diffs.append(
            _percentile_ms(weights @ secure_counts, buckets, p)
            - _percentile_ms(weights @ plain_counts, buckets, p)
        )
    tail = (1 - confidence) / 2
    low, high = np.quantile(np.concatenate(diffs), [tail, 1 - tail])
    return float(low), float(high)
