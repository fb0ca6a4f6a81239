"""A day corrected by a Spark MERGE into a partitioned table reaches the online
store at the next incremental run (late rows as Spark publishes them)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from featurestore.services.online.materialize import materialize_incremental
from featurestore.spark_jobs.io import merge_delta
from tests.delta_repo import delta_repo
from tests.integration.online.test_online_materialize_late import (
    DEFINITIONS,
    NOW,
    _expected,
    _online,
    _table_path,
)

pytestmark = [pytest.mark.integration, pytest.mark.spark]

SCHEMA = "customer_id LONG, event_timestamp TIMESTAMP, visits LONG, day STRING"


def test_a_merged_correction_of_a_past_day_is_written(spark, tmp_path):
    store = delta_repo(tmp_path / "repo", "late", DEFINITIONS)
    old, new = NOW - timedelta(hours=30), NOW - timedelta(hours=5)
    rows = [(k, t, 10 * k + i, t.date().isoformat())
            for k in range(4) for i, t in enumerate((old, new))]  # fmt: skip
    spark.createDataFrame(rows, SCHEMA).write.format("delta").partitionBy("day").save(
        _table_path(store)
    )
    materialize_incremental(store.repo_path, NOW - timedelta(hours=1))
    # Customer 2's latest row corrected under the same event time; customer 3
    # gets a row between its two (older than what is online: not served).
    fixes = [(2, new, 999, new.date().isoformat()),
             (3, old + timedelta(hours=1), 555, old.date().isoformat())]  # fmt: skip
    merge_delta(
        spark.createDataFrame(fixes, SCHEMA),
        _table_path(store),
        on=["customer_id", "event_timestamp"],
        metadata={"run_id": "fix"},
    )
    done = materialize_incremental(store.repo_path, NOW)
    published = [r[:3] for r in rows if (r[0], r[1]) != (2, new)] + [
        f[:3] for f in fixes
    ]
    assert _online(store) == _expected(published, NOW)
    # Every entity of a file the MERGE rewrote counts as touched (more work,
    # never fewer): at least customer 2, whose written row is the fix.
    assert done.late["stats"] >= 1
