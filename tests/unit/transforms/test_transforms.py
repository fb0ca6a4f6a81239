"""Transforms on tiny in-memory frames, checked against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import types as T

from featurestore.spark_jobs.transforms.clean import (
    approved_payments,
    deduplicate_transactions,
)
from featurestore.spark_jobs.transforms.customer_spend import add_spend_windows
from featurestore.spark_jobs.transforms.merchant_risk import add_merchant_risk

pytestmark = pytest.mark.spark

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
RAW = T.StructType(
    [
        T.StructField("transaction_id", T.StringType()),
        T.StructField("customer_id", T.LongType()),
        T.StructField("merchant_id", T.StringType()),
        T.StructField("amount", T.DoubleType()),
        T.StructField("status", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("ingest_time", T.TimestampType()),
    ]
)


def _utc(value: datetime) -> datetime:
    # collect() gives naive datetimes in the session time zone, which is UTC.
    return value.replace(tzinfo=UTC)


def _raw(spark, rows):
    return spark.createDataFrame(rows, RAW)


def _pay(
    tid, customer, minutes, amount, ingest_after=1, status="approved", merchant="M0001"
):
    event = T0 + timedelta(minutes=minutes)
    return (
        tid,
        customer,
        merchant,
        amount,
        status,
        event,
        event + timedelta(minutes=ingest_after),
    )


def test_first_delivery_wins_and_unusable_rows_are_dropped(spark) -> None:
    rows = [
        _pay("a", 1, 0, 10.0, ingest_after=5),
        _pay("a", 1, 0, 99.0, ingest_after=1),  # same id delivered earlier
        _pay("b", None, 0, 1.0),  # no customer
        _pay("c", 2, 0, 1.0, status="declined"),
    ]
    out = approved_payments(deduplicate_transactions(_raw(spark, rows))).collect()
    assert [(r.transaction_id, r.amount) for r in out] == [("a", 99.0)]


def test_spend_windows_are_trailing_and_inclusive(spark) -> None:
    rows = [
        _pay("1", 7, 0, 10.0),
        _pay("2", 7, 30, 20.0),  # 30 min later: inside 1 h
        _pay("3", 7, 60, 5.0),  # exactly 1 h after the first: first drops out of 1 h
        _pay("4", 7, 60 * 25, 1.0),  # 25 h later: only itself in 24 h
        _pay("5", 8, 0, 3.0),
    ]
    out = add_spend_windows(_raw(spark, rows)).orderBy("customer_id", "event_timestamp")
    got = [
        (r.customer_id, r.spend_1h, r.count_1h, r.spend_24h, r.count_24h, r.count_7d)
        for r in out.collect()
    ]
    assert got == [
        (7, 10.0, 1, 10.0, 1, 1),
        (7, 30.0, 2, 30.0, 2, 2),
        (7, 25.0, 2, 35.0, 3, 3),
        (7, 1.0, 1, 1.0, 1, 4),
        (8, 3.0, 1, 3.0, 1, 1),
    ]
    created = [_utc(r.created_timestamp) for r in out.collect()]
    # Known once the latest payment in the 7-day window has been ingested.
    assert created[2] == T0 + timedelta(minutes=61)


def test_merchant_fraud_rate_counts_only_labels_known_by_day_end(spark) -> None:
    day = T0.replace(hour=0, minute=0)
    pays = _raw(
        spark,
        [
            _pay("p1", 1, 0, 10.0),
            _pay("p2", 1, 60, 10.0),
            _pay("p3", 1, 60 * 24, 10.0),  # next day, so day 1 is complete
        ],
    )
    labels = spark.createDataFrame(
        [
            ("p1", True, day + timedelta(hours=20)),  # known the same day
            ("p2", False, day + timedelta(days=3)),
        ],  # known three days later
        "transaction_id string, is_fraud boolean, label_time timestamp",
    )
    out = add_merchant_risk(pays, labels).orderBy("event_timestamp").collect()
    first = out[0]
    assert _utc(first.event_timestamp) == day + timedelta(days=1)
    assert (first.txn_count_30d, first.fraud_count_30d, first.fraud_rate_30d) == (
        2,
        1,
        1.0,
    )
