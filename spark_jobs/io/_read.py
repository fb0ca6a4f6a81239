"""Spark reads of raw inputs (Parquet), their errors translated here."""

from __future__ import annotations

import os
from collections.abc import Sequence

from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from featurestore.services.storage import is_local, local_path, scheme, to_spark_uri
from featurestore.spark_jobs.errors import (
    ConfigError,
    InputNotFoundError,
    InputSchemaError,
    StorageUnavailableError,
)
from featurestore.spark_jobs.io import _uri


def read_parquet(
    spark: SparkSession,
    location: str | os.PathLike[str],
    columns: Sequence[str] = (),
) -> DataFrame:
    """Read a Parquet dataset at any location a project names (path, ``file://``,
    ``s3://``): Spark gets its own name for it (``s3a://``) with the project's
    object-store options, as for tables. A missing dataset is an
    InputNotFoundError.

    Args:
        spark: The session.
        location: The dataset's path or URI.
        columns: Columns the caller reads: one missing is an InputSchemaError
            here, not an unresolved column deep in the caller's plan.

    Raises:
        InputNotFoundError: no dataset there.
        InputSchemaError: the dataset lacks some of ``columns``.
        ConfigError: Spark has no file system for the location's scheme, or
            cannot read what is there (a column type Spark lacks).
        StorageUnavailableError: the store did not answer or refused (bad
            credentials, an unreachable endpoint); the JVM's trace, which can
            quote request details, is not chained.
    """
    where = os.fspath(location)
    if is_local(where) and not os.path.exists(local_path(where)):
        raise InputNotFoundError(where)
    if not _uri.spark_can_open(spark, where):
        # Raw inputs are read by Spark itself: delta-rs writes tables, not
        # this; say what is missing instead of a JVM stack trace.
        kind = scheme(to_spark_uri(where))
        raise ConfigError(
            f"Spark has no file system for {kind}:// (FS_SPARK_S3=1 makes jobs "
            "load hadoop-aws; on spark-submit add the packages "
            "`featurestore run --print-submit` names)",
            scheme=kind,
        )
    try:
        frame = spark.read.parquet(_uri.spark_uri(spark, where))
    except AnalysisException as exc:
        if exc.getCondition() not in ("PATH_NOT_FOUND", "UNABLE_TO_INFER_SCHEMA"):
            # There, but Spark cannot read it (a nanosecond timestamp column,
            # PARQUET_TYPE_ILLEGAL): say that, not "input not found".
            detail = (str(exc).strip().splitlines() or [str(exc)])[0]
            raise ConfigError(
                f"cannot read {where} as Parquet: {detail}",
                path=where,
                error=str(exc.getCondition()),
            ) from None
        raise InputNotFoundError(where) from exc
    except Py4JJavaError as exc:  # refused credentials, no answer, I/O failure
        if is_local(where) or _not_parquet(exc):
            # A local file system has no credentials or endpoint to check:
            # what is there is not Parquet (a CSV file, a corrupt footer).
            raise ConfigError(
                f"cannot read {where} as Parquet ({_java_condition(exc)}): "
                "give a Parquet file or a folder of them",
                path=where,
                error=_java_condition(exc),
            ) from None
        raise StorageUnavailableError(where, _java_class(exc)) from None
    # Spark resolves column names case-insensitively (spark.sql.caseSensitive).
    held = {name.lower() for name in frame.columns}
    missing = [name for name in columns if name.lower() not in held]
    if missing:
        raise InputSchemaError(where, missing)
    return frame


def _java_condition(exc: Py4JJavaError) -> str:
    """Spark's error condition (``FAILED_READ_FILE.CANNOT_READ_FILE_FOOTER``),
    else the Java exception's class."""
    try:
        condition = exc.java_exception.getCondition()
    except Exception:  # not a SparkThrowable, or the gateway is gone
        condition = None
    return str(condition) if condition else _java_class(exc)


def _not_parquet(exc: Py4JJavaError) -> bool:
    """Whether Parquet said the file is none of its (its cause chain)."""
    try:
        cause = exc.java_exception
        for _ in range(10):
            if cause is None:
                return False
            if "is not a Parquet file" in str(cause.getMessage() or ""):
                return True
            cause = cause.getCause()
    except Exception:  # the gateway is gone: say the storage failed
        return False
    return False


def _java_class(exc: Py4JJavaError) -> str:
    """The Java exception's class name (``java.nio.file.AccessDeniedException``)."""
    try:
        return str(exc.java_exception.getClass().getName())
    except Exception:  # the gateway is gone: say what Python saw
        return type(exc).__name__
