"""generate_raw_events --drift: only the later batch's amounts move."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from featurestore.spark_jobs.jobs.generate_raw_events import generate, main

END = datetime(2026, 6, 1, tzinfo=UTC)


def _tx(drift: float):
    tx, labels = generate(
        4000, customers=200, merchants=20, days=40, seed=3, end=END, drift=drift
    )
    return tx, labels


def test_drift_scales_the_last_quarter_only():
    (plain, plain_labels), (drifted, drifted_labels) = _tx(1.0), _tx(3.0)
    assert drifted.drop_columns(["amount"]).equals(plain.drop_columns(["amount"]))
    assert drifted_labels.equals(plain_labels)
    times = np.array(plain.column("event_time").to_pylist())
    cut = END.timestamp() - 40 * 86400 / 4
    later = np.array([t.timestamp() >= cut for t in times])
    a = np.array(plain.column("amount").to_pylist())
    b = np.array(drifted.column("amount").to_pylist())
    assert 0.2 < later.mean() < 0.3
    np.testing.assert_array_equal(a[~later], b[~later])
    np.testing.assert_allclose(b[later], a[later] * 3, atol=0.015)


@pytest.mark.parametrize("value", ["0", "-2"])
def test_drift_must_be_positive(value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--transactions", "10", "--drift", value])
    assert info.value.code == 2
