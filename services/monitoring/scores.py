"""Drift scores on bucket counts: PSI and Jensen-Shannon distance, numpy only.

Both smooth the two distributions first: ``p_i = (c_i / n + eps) / (1 + k eps)``
for ``k`` buckets, so an empty bucket on one side gives a large but finite
score instead of an infinite one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from featurestore.services.contracts.drift import DriftMetric
from featurestore.services.monitoring.model import Verdict

EPSILON = 1e-4
"""Added to every bucket's share before renormalising."""

_Shares = npt.NDArray[np.float64]


def smoothed_shares(counts: Sequence[int], epsilon: float = EPSILON) -> _Shares:
    """Bucket shares with epsilon smoothing; ValueError when every count is 0."""
    values = np.asarray(counts, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or (values < 0).any():
        raise ValueError("counts must be a non-empty sequence of non-negative ints")
    total = values.sum()
    if total <= 0:
        raise ValueError("no rows to compare")
    shares: _Shares = (values / total + epsilon) / (1.0 + values.size * epsilon)
    return shares


def psi(reference: Sequence[int], current: Sequence[int]) -> float:
    """Population stability index: ``sum((q - p) ln(q / p))``, p the reference."""
    p, q = _pair(reference, current)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(reference: Sequence[int], current: Sequence[int]) -> float:
    """Jensen-Shannon distance, base 2: the square root of the divergence, in [0, 1]."""
    p, q = _pair(reference, current)
    m = (p + q) / 2.0
    divergence = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    return float(np.sqrt(max(divergence, 0.0)))


def score(
    metric: DriftMetric, reference: Sequence[int], current: Sequence[int]
) -> float:
    """The `metric` score of `current` against `reference` (same buckets)."""
    return (
        psi(reference, current) if metric == "psi" else js_distance(reference, current)
    )


def verdict(value: float, warn: float, fail: float) -> Verdict:
    """`fail` at or above `fail`, `warn` at or above `warn`, else `ok`."""
    if value >= fail:
        return "fail"
    return "warn" if value >= warn else "ok"


def _pair(reference: Sequence[int], current: Sequence[int]) -> tuple[_Shares, _Shares]:
    if len(reference) != len(current):
        raise ValueError(
            f"bucket counts differ in length: {len(reference)} != {len(current)}"
        )
    return smoothed_shares(reference), smoothed_shares(current)
