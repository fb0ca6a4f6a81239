"""Publish a feature table: judge it, quarantine failures, commit passing rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurestore.services.contracts import Contract
from featurestore.spark_jobs.io import delta_version, write_delta
from featurestore.spark_jobs.paths import DataPaths
from featurestore.spark_jobs.validate import (
    REASONS_COLUMN,
    ValidationResult,
    enforce_failure_ratio,
    validate,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishReport:
    """What one publish did."""

    table: str
    version: int | None
    validation: ValidationResult


def publish(
    df: DataFrame,
    contract: Contract,
    paths: DataPaths,
    *,
    job: str,
    run_id: str,
) -> PublishReport:
    """Validate ``df`` against ``contract`` and publish it as a new Delta version.

    Order matters: the schema is checked first (nothing written on mismatch);
    failing rows go to the quarantine table, tagged with the run id; then the
    failure ratio is enforced, and only then is the feature table overwritten
    with the passing rows in one commit. Any failure before that commit leaves
    the feature table at its previous version.

    Raises:
        ContractViolationError: wrong schema or too many failing rows.
    """
    result = validate(contract, df)
    stamp = {
        "job": job,
        "run_id": run_id,
        "contract": f"{contract.name}@{contract.version}",
        "contract_name": contract.name,
        "contract_version": str(contract.version),
        "validation": result.summary(),
    }
    try:
        if result.rows_failed:
            quarantined = result.failed.select(
                *[F.col(c.name) for c in contract.columns],
                F.col(REASONS_COLUMN).alias("reasons"),
                F.lit(run_id).alias("run_id"),
                F.lit(f"{contract.name}@{contract.version}").alias("contract"),
                F.lit(datetime.now(UTC)).alias("quarantined_at"),
            )
            write_delta(
                quarantined,
                paths.quarantine_table(contract.name),
                mode="append",
                metadata=stamp,
            )
        enforce_failure_ratio(contract, result)
        target = paths.feature_table(contract.name)
        write_delta(result.passed, target, mode="overwrite", metadata=stamp)
        version = delta_version(target)
    finally:
        result.release()
    log.info("published %s version %s: %s", contract.name, version, result.summary())
    return PublishReport(contract.name, version, result)
