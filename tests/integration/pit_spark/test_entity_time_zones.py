"""Entity timestamps in a non-UTC zone keep their instants through the Spark join."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from featurestore.spark_jobs.pit import SparkViewInput, point_in_time_join
from tests.unit.offline.test_join_oracle import _feature_table

pytestmark = [pytest.mark.spark, pytest.mark.integration]

BASE = datetime(2024, 3, 10, 0, 0, tzinfo=UTC)  # a US DST switch day


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_oracle_failure_example(to_spark, zone):
    # The example hypothesis found: every row at BASE, some created times null.
    row = {"a": 1, "b": 1, "e": BASE, "c": BASE, "v": 0, "w": "x", "x": 0.5}
    feats = [row, {**row, "c": None}]
    other = [{**row, "c": None}, row, row, {**row, "c": None, "w": None}]
    tz = ZoneInfo(zone)
    entity = pa.table(
        {
            "k1": pa.array([1, 1], pa.int64()),
            "k2": pa.array([1, 1], pa.int64()),
            "t": pa.array([BASE.astimezone(tz)] * 2, pa.timestamp("us", tz=zone)),
            "payload": pa.array([0, 1], pa.int64()),
        }
    )
    view_a = SparkViewInput(
        name="pair",
        df=to_spark(_feature_table(feats)),
        join_keys=["k1", "k2"],
        entity_key_map={"k1": "a", "k2": "b"},
        event_timestamp_column="e",
        created_timestamp_column="c",
        features=["v", "w"],
        output_names=["pair__v", "pair__w"],
    )
    view_b = SparkViewInput(
        name="single",
        df=to_spark(
            _feature_table(other).rename_columns(["k2", "b", "e", "c", "v", "w", "x"])
        ),
        join_keys=["k2"],
        event_timestamp_column="e",
        features=["v", "w"],
        output_names=["single__v", "single__w"],
    )
    result = point_in_time_join(to_spark(entity), "t", [view_a, view_b]).toArrow()
    assert result.column("t").to_pylist() == [BASE, BASE]


def test_parquet_entity_in_new_york_keeps_instants(spark, to_spark, tmp_path):
    # build_training_set reads entity rows from Parquet/Delta: a tz-aware column
    # is stored as UTC instants, so the zone it was written in must not matter.
    import pyarrow.parquet as pq

    zone = "America/New_York"
    stamps = [BASE.astimezone(ZoneInfo(zone)), None]
    pq.write_table(
        pa.table(
            {
                "k2": pa.array([1, 1], pa.int64()),
                "t": pa.array(stamps, pa.timestamp("us", tz=zone)),
            }
        ),
        tmp_path / "entity.parquet",
    )
    row = {"a": 1, "b": 1, "e": BASE, "c": None, "v": 7, "w": "x", "x": 0.5}
    view = SparkViewInput(
        name="single",
        df=to_spark(
            _feature_table([row]).rename_columns(["k2", "b", "e", "c", "v", "w", "x"])
        ),
        join_keys=["k2"],
        event_timestamp_column="e",
        features=["v"],
    )
    entity = spark.read.parquet(str(tmp_path / "entity.parquet"))
    result = point_in_time_join(entity, "t", [view]).toArrow()
    assert result.column("t").to_pylist() == [BASE, None]
    assert result.column("v").to_pylist() == [7, None]
