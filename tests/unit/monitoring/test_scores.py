"""PSI and Jensen-Shannon against scipy and hand-derived closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, norm

from featurestore.services.monitoring.scores import (
    EPSILON,
    js_distance,
    psi,
    smoothed_shares,
    verdict,
)

counts = st.lists(st.integers(0, 10_000), min_size=2, max_size=12).filter(
    lambda c: sum(c) > 0
)


def _reference_shares(c):
    # The smoothing written out longhand, element by element.
    n, k = sum(c), len(c)
    return [(x / n + EPSILON) / (1 + k * EPSILON) for x in c]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_scores_equal_scipy_on_random_counts(data):
    p = data.draw(counts)
    q = data.draw(st.lists(st.integers(0, 10_000), min_size=len(p), max_size=len(p)))
    if sum(q) == 0:
        q[0] = 1
    ps, qs = _reference_shares(p), _reference_shares(q)
    # PSI is the symmetric (Jeffreys) divergence: KL(q||p) + KL(p||q).
    assert psi(p, q) == pytest.approx(entropy(qs, ps) + entropy(ps, qs), rel=1e-9)
    assert js_distance(p, q) == pytest.approx(
        jensenshannon(ps, qs, base=2), rel=1e-9, abs=1e-12
    )
    assert 0.0 <= js_distance(p, q) <= 1.0


def test_two_buckets_match_the_closed_form():
    # p = (a, 1-a), q = (b, 1-b): PSI = (b-a) ln(b/a) + (a-b) ln((1-b)/(1-a)).
    a, b = 0.3, 0.6
    expected = (b - a) * math.log(b / a) + (a - b) * math.log((1 - b) / (1 - a))
    assert psi([3000, 7000], [6000, 4000]) == pytest.approx(expected, rel=1e-3)


def test_normal_shift_on_decile_buckets_matches_scipy():
    # N(0,1) deciles as edges; N(0.5,1) shares per bucket from its CDF.
    edges = norm.ppf(np.arange(1, 10) / 10)
    bounds = np.concatenate([[-np.inf], edges, [np.inf]])
    shifted = np.diff(norm.cdf(bounds, loc=0.5))
    n = 10**9
    reference = [n // 10] * 10 + [0]
    current = [round(s * n) for s in shifted] + [0]
    # The closed-form shares, smoothed as the scores smooth (11 buckets, nulls).
    q = (np.append(shifted, 0.0) + EPSILON) / (1 + 11 * EPSILON)
    p = (np.append(np.full(10, 0.1), 0.0) + EPSILON) / (1 + 11 * EPSILON)
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert psi(reference, current) == pytest.approx(expected, rel=1e-6)
    # Unsmoothed, the textbook value differs only by the smoothing.
    textbook = float(np.sum((shifted - 0.1) * np.log(shifted / 0.1)))
    assert psi(reference, current) == pytest.approx(textbook, rel=5e-3)


def test_identical_distributions_score_zero_and_disjoint_ones_are_bounded():
    assert psi([5, 5, 0], [50, 50, 0]) == pytest.approx(0.0, abs=1e-12)
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0, abs=1e-3)
    assert math.isfinite(psi([1, 0], [0, 1]))


def test_smoothing_keeps_a_distribution():
    shares = smoothed_shares([0, 3, 7])
    assert shares.sum() == pytest.approx(1.0)
    assert (shares > 0).all()


@pytest.mark.parametrize("bad", [[], [0, 0], [-1, 2]])
def test_bad_counts_are_refused(bad):
    with pytest.raises(ValueError):
        smoothed_shares(bad)


def test_mismatched_buckets_are_refused():
    with pytest.raises(ValueError):
        psi([1, 2], [1, 2, 3])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, "ok"), (0.099, "ok"), (0.1, "warn"), (0.19, "warn"), (0.2, "fail")],
)
def test_verdict_thresholds_are_inclusive(value, expected):
    assert verdict(value, 0.1, 0.2) == expected
