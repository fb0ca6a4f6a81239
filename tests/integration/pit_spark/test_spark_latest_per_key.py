"""Spark's "latest row per key" is the DuckDB / Arrow one, checked by hypothesis.

Spark has no separate latest-row function: the latest row per key is its
point-in-time join asked at an instant after every event, with no TTL. On the
strategies of tests/unit/offline/test_latest.py (few keys and times, so ties
on key, event and created time are common, NaN and nulls included) it must
pick, per key, the row ``latest_per_key`` (DuckDB) and the plain-loop oracle
pick: one definition of the winner for the three engines.
"""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from featurestore.services.offline.join import latest_per_key
from featurestore.spark_jobs.pit import SparkViewInput, point_in_time_join
from tests.unit.offline.test_latest import (
    FEATURES,
    T0,
    TS,
    by_key,
    latest_rows_input,
    oracle,
    table_of,
)

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=latest_rows_input())
def test_spark_picks_the_same_latest_row_per_key(to_spark, rows):
    table = table_of(rows)
    keys = sorted({r["k"] for r in rows if r["e"] is not None})
    entity = pa.table(
        {
            "k": pa.array(keys, pa.int64()),
            "t": pa.array([T0 + timedelta(days=1)] * len(keys), TS),
        }
    )
    view = SparkViewInput(
        name="v",
        df=to_spark(table),
        join_keys=["k"],
        event_timestamp_column="e",
        created_timestamp_column="c",
        features=FEATURES,
    )
    joined = point_in_time_join(to_spark(entity), "t", [view]).toArrow()
    duck = latest_per_key(table, ["k"], "e", "c", FEATURES)

    want = oracle([r for r in rows if r["e"] is not None])
    assert by_key(joined, joined.column("k").to_pylist()) == want
    assert by_key(duck, duck.column("k").to_pylist()) == want
