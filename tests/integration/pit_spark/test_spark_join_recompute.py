"""The Spark join pairs every entity row with its own features on recompute.

An entity frame that comes out of a shuffle has no fixed row order: each time
a stage is computed again (executor loss, cache eviction, a plan that reads
the frame twice) its rows may arrive in another order. A row id generated on
such a frame (``monotonically_increasing_id``) then names other rows the next
time, and a join back on it pairs rows with someone else's features.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from featurestore.spark_jobs.pit import SparkViewInput, point_in_time_join
from tests.unit.offline.test_join_oracle import _got, oracle

pytestmark = [pytest.mark.spark, pytest.mark.integration]

T0 = datetime(2024, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
KEYS = 24


def _feature_rows() -> list[dict]:
    # Per key two rows; the later one carries values that name the key.
    rows = []
    for k in range(KEYS):
        for minute in (0, 10):
            rows.append(
                {
                    "a": k,
                    "b": k % 3,
                    "e": T0 + timedelta(minutes=minute),
                    "c": T0 + timedelta(minutes=minute),
                    "v": k * 100 + minute,
                    "w": f"key{k}@{minute}",
                    "x": k + minute / 100,
                }
            )
    return rows


def _entity_rows() -> list[dict]:
    # Every key three times, before, between and after its two feature rows.
    return [
        {
            "k1": k,
            "k2": k % 3,
            "t": T0 + timedelta(minutes=minute),
            "payload": k * 10 + i,
        }
        for k in range(KEYS)
        for i, minute in enumerate((-5, 5, 15))
    ]


def _table(rows: list[dict], types: dict[str, pa.DataType]) -> pa.Table:
    return pa.table(
        {name: pa.array([r[name] for r in rows], kind) for name, kind in types.items()}
    )


def _shuffled_entity(spark, to_spark, rows: list[dict]):
    """The entity rows after a shuffle whose output order changes per compute.

    A hash repartition is a real shuffle; the reducer sees map outputs in
    fetch order, which depends on timing. That order is made to differ on
    every computation here (a fresh random permutation per batch), so the
    test fails every time the join depends on it, not once in a while.
    """
    table = _table(
        rows,
        {"k1": pa.int64(), "k2": pa.int64(), "t": TS, "payload": pa.int64()},
    )
    shuffled = to_spark(table).repartition(3, "payload")

    def fetch_in_any_order(batches):
        import numpy as np

        rng = np.random.default_rng()  # unseeded: differs on every compute
        for batch in batches:
            yield batch.take(rng.permutation(batch.num_rows))

    return shuffled.mapInArrow(fetch_in_any_order, shuffled.schema)


def test_rows_keep_their_own_features_across_recomputes(spark, to_spark):
    feats = _feature_rows()
    feature_types = {
        "a": pa.int64(),
        "b": pa.int64(),
        "e": TS,
        "c": TS,
        "v": pa.int64(),
        "w": pa.string(),
        "x": pa.float64(),
    }
    features = to_spark(_table(feats, feature_types))
    pair = SparkViewInput(
        name="pair",
        df=features,
        join_keys=["k1", "k2"],
        entity_key_map={"k1": "a", "k2": "b"},
        event_timestamp_column="e",
        created_timestamp_column="c",
        features=["v", "w", "x"],
        output_names=["pair__v", "pair__w", "pair__x"],
    )
    single = SparkViewInput(
        name="single",
        df=features.where("b = 0"),
        join_keys=["k1"],
        entity_key_map={"k1": "a"},
        event_timestamp_column="e",
        features=["v", "w", "x"],
        output_names=["single__v", "single__w", "single__x"],
    )
    entity = _entity_rows()
    joined = point_in_time_join(
        _shuffled_entity(spark, to_spark, entity), "t", [pair, single]
    )
    # The frame is read twice, the second time after its cache is evicted, so
    # every stage under it runs again.
    joined.cache()
    first = joined.toArrow()
    joined.unpersist(blocking=True)
    second = joined.toArrow()

    by_payload = {r["payload"]: r for r in entity}
    single_feats = [{**f, "k1": f["a"]} for f in feats if f["b"] == 0]
    for result in (first, second):
        assert sorted(result.column("payload").to_pylist()) == sorted(by_payload)
        own = [by_payload[p] for p in result.column("payload").to_pylist()]
        assert result.column("k1").to_pylist() == [r["k1"] for r in own]
        assert result.column("k2").to_pylist() == [r["k2"] for r in own]
        assert result.column("t").to_pylist() == [r["t"] for r in own]
        assert _got(result, "pair") == oracle(
            own, feats, [("k1", "a"), ("k2", "b")], None, True, False
        )
        assert _got(result, "single") == oracle(
            own, single_feats, [("k1", "k1")], None, False, False
        )
