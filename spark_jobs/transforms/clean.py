"""Clean raw transactions: one row per transaction id, unusable rows dropped."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def deduplicate_transactions(raw: DataFrame) -> DataFrame:
    """Keep one row per ``transaction_id``: the first delivery (earliest ingest).

    Ties on ingest time are broken by the remaining columns so the choice is the
    same on every run.
    """
    order = Window.partitionBy("transaction_id").orderBy(
        F.col("ingest_time").asc(), *[F.col(c).asc() for c in raw.columns]
    )
    return (
        raw.withColumn("_delivery", F.row_number().over(order))
        .where(F.col("_delivery") == 1)
        .drop("_delivery")
    )


def approved_payments(transactions: DataFrame) -> DataFrame:
    """Approved transactions with a customer and a timestamp.

    Rows without a customer id cannot be attributed to any entity and are dropped
    here; every other defect (customer 0, negative amounts) flows on, so the
    feature table's contract decides about it and the quarantine shows it.
    """
    return transactions.where(
        (F.col("status") == "approved")
        & F.col("customer_id").isNotNull()
        & F.col("event_time").isNotNull()
    )
