"""The Spark point-in-time join agrees with the brute-force oracle on random data."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.spark_jobs.pit import SparkViewInput, point_in_time_join
from tests.unit.offline.test_join_oracle import (
    ZONES,
    _feature_table,
    _got,
    entity_rows,
    feature_rows,
    oracle,
    ttls,
)

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]


def _pairs(table: pa.Table, columns: list[str]) -> list[tuple]:
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


# Spark runs a few jobs per example; the oracle test in tests/unit covers the
# DuckDB engine with many more examples on the same strategies.
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=st.data(),
    feats=feature_rows(),
    other=feature_rows(),
    ttl_a=ttls,
    ttl_b=ttls,
    zone=st.sampled_from(ZONES),
    as_known_at=st.booleans(),
    duplicate_first=st.booleans(),
)
def test_spark_join_matches_oracle(
    to_spark, data, feats, other, ttl_a, ttl_b, zone, as_known_at, duplicate_first
):
    entity = data.draw(entity_rows(feats, other))
    if duplicate_first and entity:
        entity = [entity[0], *entity, entity[0]]
    tz = ZoneInfo(zone)
    entity_table = pa.table(
        {
            "k1": pa.array([r["k1"] for r in entity], pa.int64()),
            "k2": pa.array([r["k2"] for r in entity], pa.int64()),
            "t": pa.array(
                [r["t"].astimezone(tz) if r["t"] else None for r in entity],
                pa.timestamp("us", tz=zone),
            ),
            "payload": pa.array(range(len(entity)), pa.int64()),
        }
    )
    view_a = SparkViewInput(
        name="pair",
        df=to_spark(_feature_table(feats)),
        join_keys=["k1", "k2"],
        entity_key_map={"k1": "a", "k2": "b"},
        event_timestamp_column="e",
        created_timestamp_column="c",
        ttl=ttl_a,
        features=["v", "w", "x"],
        output_names=["pair__v", "pair__w", "pair__x"],
    )
    view_b = SparkViewInput(
        name="single",
        df=to_spark(
            _feature_table(other).rename_columns(["k2", "b", "e", "c", "v", "w", "x"])
        ),
        join_keys=["k2"],
        event_timestamp_column="e",
        ttl=ttl_b,
        features=["v", "w", "x"],
        output_names=["single__v", "single__w", "single__x"],
    )

    result = point_in_time_join(
        to_spark(entity_table), "t", [view_a, view_b], as_known_at=as_known_at
    ).toArrow()

    assert result.num_rows == len(entity)
    assert result.column("payload").to_pylist() == list(range(len(entity)))
    assert _pairs(result, ["k1", "k2"]) == [(r["k1"], r["k2"]) for r in entity]
    assert result.column("t").to_pylist() == [r["t"] for r in entity]
    assert _got(result, "pair") == oracle(
        entity, feats, [("k1", "a"), ("k2", "b")], ttl_a, True, as_known_at
    )
    other_rows = [{**r, "k2": r["a"]} for r in other]
    assert _got(result, "single") == oracle(
        entity, other_rows, [("k2", "k2")], ttl_b, False, as_known_at
    )
