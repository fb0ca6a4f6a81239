"""Thirty-day transaction counts and fraud rate per merchant, as known each day."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

WINDOW_DAYS = 30


def add_merchant_risk(payments: DataFrame, labels: DataFrame) -> DataFrame:
    """One row per (merchant, day) for every complete day with payments before it.

    For day ``d`` (row time = end of ``d``, UTC): ``txn_count_30d`` counts payments
    in the 30 days ending with ``d``; ``fraud_count_30d`` counts those of them whose
    fraud label had arrived by the end of ``d``; ``fraud_rate_30d`` divides it by the
    payments whose label (fraud or not) had arrived, null when none had.

    Args:
        payments: Cleaned payments with transaction_id, merchant_id, event_time.
        labels: Fraud labels with transaction_id, is_fraud, label_time.

    Returns:
        The merchant_risk feature table.
    """
    # Aggregate to (merchant, payment day, label day) first: the range join below
    # then touches a few rows per day instead of every payment.
    daily = (
        payments.join(labels, "transaction_id", "left")
        .groupBy(
            "merchant_id",
            F.to_date("event_time").alias("event_day"),
            F.to_date("label_time").alias("label_day"),
        )
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.col("is_fraud").cast("long")).alias("n_fraud"),
        )
    )
    # Only complete days: the row for day d is stamped at the end of d.
    bounds = payments.agg(
        F.to_date(F.min("event_time")).alias("first"),
        F.date_sub(F.to_date(F.max("event_time")), 1).alias("last"),
    )
    calendar = bounds.select(F.explode(F.sequence("first", "last")).alias("day"))
    merchants = payments.select("merchant_id").distinct()
    grid = merchants.crossJoin(calendar)
    in_window = (F.col("event_day") <= F.col("day")) & (
        F.col("event_day") > F.date_sub(F.col("day"), WINDOW_DAYS)
    )
    known = F.col("label_day").isNotNull() & (F.col("label_day") <= F.col("day"))
    joined = grid.join(daily, ["merchant_id"], "left").where(in_window)
    agg = joined.groupBy("merchant_id", "day").agg(
        F.sum("n").cast("long").alias("txn_count_30d"),
        F.sum(F.when(known, F.col("n_fraud")).otherwise(0))
        .cast("long")
        .alias("fraud_count_30d"),
        F.sum(F.when(known, F.col("n")).otherwise(0)).alias("_labelled"),
    )
    day_end = F.to_utc_timestamp(F.date_add("day", 1).cast("timestamp"), "UTC")
    return agg.select(
        "merchant_id",
        day_end.alias("event_timestamp"),
        day_end.alias("created_timestamp"),
        "txn_count_30d",
        "fraud_count_30d",
        F.when(F.col("_labelled") > 0, F.col("fraud_count_30d") / F.col("_labelled"))
        .cast("double")
        .alias("fraud_rate_30d"),
    )
