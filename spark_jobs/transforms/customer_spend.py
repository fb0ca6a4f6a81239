"""Rolling spend and transaction counts per customer over 1 h, 24 h and 7 d."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

WINDOWS: dict[str, int] = {"1h": 3_600, "24h": 86_400, "7d": 7 * 86_400}


def add_spend_windows(payments: DataFrame) -> DataFrame:
    """One row per (customer, transaction time) with trailing-window aggregates.

    Windows end at the transaction time, inclusive, and start ``size`` seconds
    earlier, exclusive. ``created_timestamp`` is the latest ingest time of any
    payment inside the 7-day window: the moment the row could first be known,
    which keeps the job deterministic and "as known at" queries honest.

    Args:
        payments: Cleaned payments with customer_id, amount, event_time, ingest_time.

    Returns:
        The customer_spend feature table.
    """
    per_instant = payments.groupBy("customer_id", "event_time").agg(
        F.sum("amount").alias("_spend"),
        F.count(F.lit(1)).alias("_count"),
        F.max("ingest_time").alias("_ingested"),
    )
    seconds = F.col("event_time").cast("long")
    by_customer = Window.partitionBy("customer_id").orderBy(seconds)
    out = per_instant
    for label, size in WINDOWS.items():
        window = by_customer.rangeBetween(-(size - 1), 0)
        out = out.withColumn(f"spend_{label}", F.round(F.sum("_spend").over(window), 2))
        out = out.withColumn(
            f"count_{label}", F.sum("_count").over(window).cast("long")
        )
    week = by_customer.rangeBetween(-(WINDOWS["7d"] - 1), 0)
    return out.select(
        F.col("customer_id").cast("long").alias("customer_id"),
        F.col("event_time").alias("event_timestamp"),
        F.max("_ingested").over(week).alias("created_timestamp"),
        *[F.col(f"{kind}_{label}") for label in WINDOWS for kind in ("spend", "count")],
    )
