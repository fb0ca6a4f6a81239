"""Arrow -> Spark conversion and a small Feast repo over Delta for the Spark joins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def to_spark(spark):
    """Return a function turning an Arrow table into a Spark DataFrame.

    Timestamps become Spark TIMESTAMP (UTC instants, microseconds); the schema
    is given explicitly so all-null columns keep their types.
    """
    from pyspark.sql import types as T

    def kind(t: pa.DataType):
        if pa.types.is_timestamp(t):
            return T.TimestampType()
        if pa.types.is_int64(t):
            return T.LongType()
        if pa.types.is_int32(t):
            return T.IntegerType()
        if pa.types.is_floating(t):
            return T.DoubleType()
        if pa.types.is_boolean(t):
            return T.BooleanType()
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return T.StringType()
        raise TypeError(t)

    def convert(table: pa.Table):
        cols = []
        for f, col in zip(table.schema, table.columns, strict=True):
            if pa.types.is_timestamp(f.type):
                col = col.cast(pa.timestamp("us", tz="UTC"))
            cols.append(col)
        utc = pa.table(cols, names=table.column_names)
        schema = T.StructType(
            [T.StructField(f.name, kind(f.type), True) for f in utc.schema]
        )
        # Straight from Arrow: a pandas round trip can take pyspark's row
        # fallback, which re-reads tz-aware times through the process time zone.
        return spark.createDataFrame(utc, schema=schema)

    return convert


T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")

REPO_PY = """
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64

card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.INT64)
merchant = Entity(
    name="merchant", join_keys=["merchant_id"], value_type=ValueType.INT64
)
card_merchant_source = FileSource(
    name="card_merchant",
    path="data/card_merchant",
    file_format=DeltaFormat(),
    timestamp_field="event_time",
    created_timestamp_column="created_time",
)
card_merchant_view = FeatureView(
    name="card_merchant",
    entities=[card, merchant],
    ttl=timedelta(minutes=30),
    schema=[Field(name="amount", dtype=Float64), Field(name="n", dtype=Int64)],
    source=card_merchant_source,
)
card_score_source = FileSource(
    name="card_score",
    path="data/card_score",
    file_format=DeltaFormat(),
    timestamp_field="event_time",
)
card_score_view = FeatureView(
    name="card_score",
    entities=[card],
    ttl=timedelta(0),
    schema=[Field(name="score", dtype=Float64)],
    source=card_score_source,
)
model_v1_service = FeatureService(
    name="model_v1", features=[card_merchant_view, card_score_view[["score"]]]
)
"""

YAML = """project: pit_spark_it
registry: {registry}
provider: local
online_store:
  type: sqlite
  path: {online}
offline_store:
  type: featurestore.services.offline.DeltaOfflineStore
entity_key_serialization_version: 3
"""


def _ts(minutes):
    return [T0 + timedelta(minutes=m) if m is not None else None for m in minutes]


@pytest.fixture
def feast_repo(tmp_path):
    """A Feast repo over two Delta views (a (1,12)/(11,2) key pair, ties on c).

    Returns (FeatureStore, repo folder, entity parquet path).
    """
    from deltalake import write_deltalake
    from feast import FeatureStore

    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        YAML.format(registry=tmp_path / "registry.db", online=tmp_path / "online.db")
    )
    (repo / "definitions.py").write_text(REPO_PY)
    # (card, merchant, e, c, amount, n): ties on (key, e, c) resolved by features
    rows = [
        (1, 12, 0, 0, 1.0, 1),
        (11, 2, 0, 0, 2.0, 2),
        (1, 12, 10, 10, 3.0, 3),
        (1, 12, 10, 20, 4.0, 4),
        (1, 12, 10, 20, 4.5, 0),
        (11, 2, 40, 40, 5.0, 5),
        (11, 2, 40, None, 9.0, 9),
    ]
    cols = list(zip(*rows, strict=True))
    write_deltalake(
        str(repo / "data" / "card_merchant"),
        pa.table(
            {
                "card_id": pa.array(cols[0], pa.int64()),
                "merchant_id": pa.array(cols[1], pa.int64()),
                "event_time": pa.array(_ts(cols[2]), TS),
                "created_time": pa.array(_ts(cols[3]), TS),
                "amount": pa.array(cols[4], pa.float64()),
                "n": pa.array(cols[5], pa.int64()),
            }
        ),
    )
    write_deltalake(
        str(repo / "data" / "card_score"),
        pa.table(
            {
                "card_id": pa.array([1, 11, 1, 112], pa.int64()),
                "event_time": pa.array(_ts([0, 5, 25, 0]), TS),
                "score": pa.array([0.1, 0.2, 0.3, 0.9], pa.float64()),
            }
        ),
    )
    entity_rows = [
        (1, 12, 5),
        (11, 2, 5),
        (1, 12, 15),
        (1, 12, 25),
        (1, 12, 25),
        (11, 2, 45),
        (112, None, 5),
        (1, 12, 60),
        (11, 2, None),
    ]
    ecols = list(zip(*entity_rows, strict=True))
    entity = pa.table(
        {
            "request_id": pa.array(range(len(entity_rows)), pa.int64()),
            "card_id": pa.array(ecols[0], pa.int64()),
            "merchant_id": pa.array(ecols[1], pa.int64()),
            "event_timestamp": pa.array(_ts(ecols[2]), TS),
        }
    )
    entity_path = tmp_path / "entity"
    entity_path.mkdir()
    pq.write_table(entity, entity_path / "part-0.parquet")
    ns: dict = {}
    exec(compile(REPO_PY, str(repo / "definitions.py"), "exec"), ns)
    store = FeatureStore(repo_path=str(repo))
    store.apply(
        [
            ns[n]
            for n in (
                "card",
                "merchant",
                "card_merchant_view",
                "card_score_view",
                "model_v1_service",
            )
        ]
    )
    return store, repo, entity_path
