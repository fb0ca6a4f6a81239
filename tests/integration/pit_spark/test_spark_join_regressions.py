"""The two bugs of Feast's Spark offline store, pinned, plus input checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from featurestore.spark_jobs.errors import ConfigError, Reason
from featurestore.spark_jobs.pit import SparkViewInput, point_in_time_join

pytestmark = [pytest.mark.spark, pytest.mark.integration]

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _features(rows):
    """Rows (card, merchant, e_minutes, c_minutes, amount)."""
    return pa.table(
        {
            "card_id": pa.array([r[0] for r in rows], pa.int64()),
            "merchant_id": pa.array([r[1] for r in rows], pa.int64()),
            "e": pa.array([T0 + timedelta(minutes=r[2]) for r in rows], TS),
            "c": pa.array([T0 + timedelta(minutes=r[3]) for r in rows], TS),
            "amount": pa.array([r[4] for r in rows], pa.float64()),
        }
    )


def _entity(rows):
    """Rows (card, merchant, t_minutes)."""
    return pa.table(
        {
            "card_id": pa.array([r[0] for r in rows], pa.int64()),
            "merchant_id": pa.array([r[1] for r in rows], pa.int64()),
            "t": pa.array([T0 + timedelta(minutes=r[2]) for r in rows], TS),
        }
    )


def _view(df, **kw):
    return SparkViewInput(
        name="card_merchant",
        df=df,
        join_keys=["card_id", "merchant_id"],
        event_timestamp_column="e",
        created_timestamp_column="c",
        features=["amount"],
        **kw,
    )


def test_tie_on_key_event_and_created_time_gives_one_row(to_spark):
    # Feast's Spark store joins the deduped (key, e, c) back and gets two rows.
    feats = _features([(1, 12, 0, 0, 1.0), (1, 12, 0, 0, 7.0), (1, 12, 0, 0, 3.0)])
    entity = _entity([(1, 12, 5), (1, 12, 5)])  # duplicates stay duplicates
    out = point_in_time_join(to_spark(entity), "t", [_view(to_spark(feats))])
    assert out.toArrow().column("amount").to_pylist() == [7.0, 7.0]


def test_multi_column_keys_are_not_concatenated(to_spark):
    # Feast's Spark store compares concat(card_id, merchant_id): "112" == "112".
    feats = _features([(1, 12, 0, 0, 1.0), (11, 2, 0, 0, 2.0)])
    entity = _entity([(11, 2, 5), (1, 12, 5), (112, None, 5)])
    out = point_in_time_join(to_spark(entity), "t", [_view(to_spark(feats))])
    assert out.toArrow().column("amount").to_pylist() == [2.0, 1.0, None]


def test_ttl_boundary_included_and_as_known_at(to_spark):
    feats = _features([(1, 12, 0, 0, 1.0), (1, 12, 10, 15, 2.0)])  # 2.0 backfilled
    entity = _entity([(1, 12, m) for m in (10, 11, 15, 20, 21)])
    view = _view(to_spark(feats), ttl=timedelta(minutes=10))
    got = point_in_time_join(to_spark(entity), "t", [view]).toArrow()
    assert got.column("amount").to_pylist() == [2.0, 2.0, 2.0, 2.0, None]
    known = point_in_time_join(to_spark(entity), "t", [view], as_known_at=True)
    assert known.toArrow().column("amount").to_pylist() == [1.0, None, 2.0, 2.0, None]


def test_mismatched_key_types_are_rejected(to_spark, spark):
    feats = to_spark(_features([(1, 12, 0, 0, 1.0)]))
    entity = to_spark(_entity([(1, 12, 5)])).selectExpr(
        "cast(card_id as string) as card_id", "merchant_id", "t"
    )
    with pytest.raises(ConfigError) as err:
        point_in_time_join(entity, "t", [_view(feats)])
    assert err.value.reason is Reason.CONFIG_INVALID
    assert err.value.metadata["column"] == "card_id"


def test_naive_entity_timestamp_is_rejected(to_spark):
    entity = to_spark(_entity([(1, 12, 5)])).selectExpr(
        "card_id", "merchant_id", "cast(t as timestamp_ntz) as t"
    )
    feats = to_spark(_features([(1, 12, 0, 0, 1.0)]))
    with pytest.raises(ConfigError) as err:
        point_in_time_join(entity, "t", [_view(feats)])
    assert err.value.metadata == {"column": "t"}


def test_public_api_is_pinned():
    import featurestore.spark_jobs.pit as pit

    assert sorted(pit.__all__) == ["SparkViewInput", "point_in_time_join"]


def test_integer_keys_of_different_widths_match(to_spark):
    feats = to_spark(_features([(1, 12, 0, 0, 1.0), (11, 2, 0, 0, 2.0)]))
    entity = to_spark(_entity([(11, 2, 5), (1, 12, 5), (1, 2, 5)])).selectExpr(
        "cast(card_id as int) as card_id",
        "cast(merchant_id as short) as merchant_id",
        "t",
    )
    out = point_in_time_join(entity, "t", [_view(feats)])
    assert out.toArrow().column("amount").to_pylist() == [2.0, 1.0, None]


def test_feature_spark_cannot_order_is_rejected_by_name(to_spark):
    feats = to_spark(_features([(1, 12, 0, 0, 1.0)])).selectExpr(
        "*", "map('a', amount) as amounts"
    )
    entity = to_spark(_entity([(1, 12, 5)]))
    view = SparkViewInput(
        name="card_merchant", df=feats, join_keys=["card_id", "merchant_id"],
        event_timestamp_column="e", features=["amount", "amounts"],
    )  # fmt: skip
    with pytest.raises(ConfigError, match="amounts") as err:
        point_in_time_join(entity, "t", [view])
    assert err.value.metadata == {"column": "amounts", "view": "card_merchant"}
