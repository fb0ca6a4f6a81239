"""Bucket labels of numeric profiles: one distinct, truthful label per bucket."""

from __future__ import annotations

import itertools
import math

from hypothesis import given
from hypothesis import strategies as st

from featurestore.services.monitoring.model import ColumnProfile
from featurestore.services.monitoring.snapshot import numeric_edges


def _labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    column = ColumnProfile(
        feature="f", kind="numeric", row_count=1, null_count=0,
        edges=edges, counts=(0,) * (len(edges) + 2),
    )  # fmt: skip
    return column.bucket_labels


def _holds(label: str, value: float) -> bool:
    """Whether ``label`` (as written) says ``value`` falls in its bucket."""
    if label[0] not in "[(":
        return value == float(label)
    low, high = (float(part) for part in label[1:-1].split(", "))
    above = value >= low if label[0] == "[" else value > low
    return above and value < high


def test_a_feature_with_few_values_has_one_bucket_per_value() -> None:
    # A count that is mostly 1: every distinct value is an edge, and one just
    # above the maximum (7) gives larger values a bucket of their own.
    edges = numeric_edges([1, 1, 1], [1, 2, 7], 7, bins=10)
    assert _labels(edges) == ("[-inf, 1)", "[1, 2)", "[2, 7)", "7", "(7, inf)", "null")


@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    st.data(),
)
def test_labels_are_distinct_and_name_the_bucket_of_each_value(
    values: list[float], data: st.DataObject
) -> None:
    edges = sorted(values)
    if data.draw(st.booleans()):  # the "one bucket per value" top edge
        top = math.nextafter(edges[-1], math.inf)
        if math.isfinite(top):
            edges.append(top)
    labels = _labels(tuple(edges))[:-1]
    assert len(set(labels)) == len(labels)
    bounds = (-math.inf, *edges, math.inf)
    for value in [*edges, data.draw(st.floats(allow_nan=False, width=64))]:
        # The bucket holding ``value`` by the edges (lo <= value < hi) is the
        # one, and the only one, whose label says it holds ``value``.
        inside = [lo <= value < hi for lo, hi in itertools.pairwise(bounds)]
        assert [_holds(label, value) for label in labels] == inside, labels


def test_an_empty_category_has_a_visible_label() -> None:
    column = ColumnProfile(
        feature="tier", kind="categorical", row_count=3, null_count=0,
        categories=("gold", ""), counts=(1, 1, 0, 1),
    )  # fmt: skip
    assert column.bucket_labels == ("gold", '""', "other", "null")
