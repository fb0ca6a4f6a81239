"""The quarantine table: failing rows tagged with their run, added once per run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurestore.services.contracts import Contract
from featurestore.spark_jobs.errors import SparkJobError
from featurestore.spark_jobs.io import is_delta_table, merge_delta, write_delta
from featurestore.spark_jobs.validate import REASONS_COLUMN, ValidationResult


def quarantine_stamp(
    stamp: dict[str, Any], result: ValidationResult, refused: SparkJobError | None
) -> dict[str, Any]:
    """The quarantine commit's stamp: ``published: 0`` and the reason for a
    refused batch, else ``passed`` (rows judged to publish) for ``published``."""
    validation = {k: v for k, v in stamp["validation"].items() if k != "published"}
    validation["passed"] = result.rows_in - result.rows_failed
    if refused is not None:
        validation.update(published=0, refused=refused.reason)
    return {**stamp, "validation": validation}


def quarantine_rows(
    contract: Contract, result: ValidationResult, run_id: str
) -> DataFrame:
    return result.failed.select(
        *[F.col(c.name) for c in contract.columns],
        F.col(REASONS_COLUMN).alias("reasons"),
        F.lit(run_id).alias("run_id"),
        F.lit(f"{contract.name}@{contract.version}").alias("contract"),
        F.lit(datetime.now(UTC)).alias("quarantined_at"),
    )


def add_to_quarantine(
    contract: Contract,
    rows: DataFrame,
    location: str,
    run_id: str,
    stamp: dict[str, Any],
) -> None:
    if not is_delta_table(rows, location):
        write_delta(rows, location, mode="append", metadata=stamp)
        return
    # A row already quarantined by this run id is not added again. Its
    # created_timestamp is left out: a job stamps it when it runs (as the
    # README's and init's jobs do), so a retry's copy differs only there.
    same_row = [c for c in contract.column_names if c != contract.created_timestamp]
    merge_delta(
        rows,
        location,
        on=["run_id", *same_row],
        metadata=stamp,
        insert_only=True,
        target_filter=f"t.`run_id` = '{run_id}'",
        merge_schema=True,
    )
