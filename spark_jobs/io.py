"""Reads of raw inputs and Delta writes with commit metadata; Spark errors end here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from deltalake import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from featurestore.spark_jobs.errors import InputNotFoundError, WriteConflictError


def read_parquet(spark: SparkSession, path: Path) -> DataFrame:
    """Read a Parquet dataset, translating a missing path into InputNotFoundError."""
    if not path.exists():
        raise InputNotFoundError(str(path))
    try:
        return spark.read.parquet(str(path))
    except AnalysisException as exc:
        raise InputNotFoundError(str(path)) from exc


def write_delta(
    df: DataFrame,
    path: Path,
    *,
    mode: str,
    metadata: Mapping[str, object],
) -> None:
    """Write ``df`` as one Delta commit whose ``userMetadata`` is ``metadata`` (JSON).

    ``overwrite`` replaces the table content atomically (schema included); a
    failure before the commit leaves the table at its previous version.

    Raises:
        WriteConflictError: a concurrent commit conflicted with this one.
    """
    writer = (
        df.write.format("delta")
        .mode(mode)
        .option("userMetadata", json.dumps(metadata, sort_keys=True))
    )
    if mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    try:
        writer.save(str(path))
    except Exception as exc:
        if (
            type(exc).__name__.startswith("Concurrent")
            or "Concurrent" in str(exc)[:300]
        ):
            raise WriteConflictError(str(path), str(exc).splitlines()[0]) from exc
        raise


def delta_version(path: Path) -> int | None:
    """Latest version of the Delta table at ``path``, or None when there is none.

    Read from the transaction log with delta-rs: milliseconds, where Spark's
    ``DESCRIBE HISTORY`` runs a job (0.6-2.4 s measured on 2M-row publishes).
    """
    if not (path / "_delta_log").exists():
        return None
    return int(DeltaTable(str(path)).version())
