"""Clean raw transactions: one row per transaction id, unusable rows dropped."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def deduplicate_transactions(raw: DataFrame) -> DataFrame:
    """Keep one row per ``transaction_id``: the first delivery (earliest ingest).

    Ties on ingest time are broken by the remaining columns, so the choice is the
    same on every run: the minimum of a struct compares it field by field.
    """
    others = [c for c in raw.columns if c not in ("transaction_id", "ingest_time")]
    first = F.min(F.struct("ingest_time", *others)).alias("_first")
    return (
        raw.groupBy("transaction_id")
        .agg(first)
        .select(
            *[
                F.col("transaction_id")
                if c == "transaction_id"
                else F.col(f"_first.{c}")
                for c in raw.columns
            ]
        )
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
