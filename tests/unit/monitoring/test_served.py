"""Served-value counts per view and status equal a cell-by-cell count."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.services.monitoring import served
from featurestore.services.online import FeatureStatus, PackedDoubles, ViewResult

NOW = datetime(2026, 1, 1, tzinfo=UTC)
VALUE = b"\x29" + bytes(8)
STORED = st.sampled_from([FeatureStatus.PRESENT, FeatureStatus.OUTSIDE_MAX_AGE])


@st.composite
def _results(draw: st.DrawFn) -> ViewResult:
    nf = draw(st.integers(1, 6))
    rows, statuses = [], []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            rows.append(None)
            statuses.append(FeatureStatus.NOT_FOUND)
            continue
        cells = draw(st.lists(st.sampled_from([VALUE, VALUE, None]), min_size=nf,
                              max_size=nf))  # fmt: skip
        rows.append(tuple(cells) if draw(st.booleans()) else cells)
        statuses.append(draw(STORED))
    view = draw(st.sampled_from(["a", "b"]))
    features = tuple(f"f{i}" for i in range(nf))
    return ViewResult(view, features, [NOW] * len(rows), rows, statuses)


def _expected(results: list[ViewResult]) -> Counter[tuple[str, str]]:
    """Cell by cell, through ViewResult.statuses (the reader's own rule)."""
    out: Counter[tuple[str, str]] = Counter()
    for result in results:
        for row in result.statuses:
            for status in row:
                out[result.view, status.name] += 1
    return out


def _delta(before: dict, after: dict) -> Counter[tuple[str, str]]:
    return Counter({k: v - before.get(k, 0) for k, v in after.items()}) + Counter()


@settings(max_examples=200, deadline=None)
@given(st.lists(_results(), min_size=1, max_size=3))
def test_counts_equal_the_cells(results: list[ViewResult]) -> None:
    before = served.served_counts()
    served._count(results)
    assert _delta(before, served.served_counts()) == _expected(results)


def test_packed_doubles_count_by_row() -> None:
    cells = np.zeros((3, 4, 9), np.uint8)
    present = np.array([True, False, True])
    statuses = [FeatureStatus.PRESENT, FeatureStatus.NOT_FOUND,
                FeatureStatus.OUTSIDE_MAX_AGE]  # fmt: skip
    result = ViewResult(
        "packed", tuple("wxyz"), [NOW, None, NOW], PackedDoubles(cells, present),
        statuses,
    )  # fmt: skip
    before = served.served_counts()
    served._count([result])
    assert _delta(before, served.served_counts()) == _expected([result]) == Counter(
        {("packed", "PRESENT"): 4, ("packed", "NOT_FOUND"): 4,
         ("packed", "OUTSIDE_MAX_AGE"): 4}
    )  # fmt: skip


def test_each_thread_counts_apart_and_a_scrape_sums() -> None:
    import threading

    result = ViewResult("threads", ("f",), [NOW], [(VALUE,)], [FeatureStatus.PRESENT])
    before = served.served_counts().get(("threads", "PRESENT"), 0)
    workers = [
        threading.Thread(target=lambda: [served._count([result]) for _ in range(500)])
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert served.served_counts()[("threads", "PRESENT")] - before == 2000
