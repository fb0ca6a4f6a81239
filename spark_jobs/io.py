"""Reads of raw inputs and Delta writes with commit metadata; Spark errors end here.

Table locations are strings (a local path, ``file://``, ``s3a://`` ...) handed to
Spark and Hadoop untouched: ``pathlib`` would fold ``s3a://b`` into ``s3a:/b``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from deltalake import DeltaTable as _RsDeltaTable
from deltalake.exceptions import TableNotFoundError as _RsTableNotFoundError
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from featurestore.spark_jobs.errors import InputNotFoundError, WriteConflictError

# Importing delta.exceptions makes PySpark raise these (Python) classes for Delta's
# Scala concurrent-commit errors; every one of them means "retry on a new snapshot".
from delta.exceptions import (  # isort: skip
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from delta.tables import DeltaTable  # isort: skip

_CONFLICTS = (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
# A MERGE takes its commit message from the session conf, not from an option;
# the conf is shared by every thread of the session, so merges hold this lock
# from setting it to committing.
_COMMIT_INFO_CONF = "spark.databricks.delta.commitInfo.userMetadata"
_MERGE_LOCK = threading.Lock()


def read_parquet(spark: SparkSession, path: Path) -> DataFrame:
    """Read a Parquet dataset, translating a missing path into InputNotFoundError."""
    if not path.exists():
        raise InputNotFoundError(str(path))
    try:
        return spark.read.parquet(str(path))
    except AnalysisException as exc:
        raise InputNotFoundError(str(path)) from exc


@contextmanager
def _conflicts_translated(location: str) -> Iterator[None]:
    """Re-raise Delta's concurrent-commit errors as WriteConflictError."""
    try:
        yield
    except _CONFLICTS as exc:
        raise WriteConflictError(location, _first_line(exc)) from exc
    except Exception as exc:
        # Older paths (e.g. a first commit racing another) surface as a plain
        # Py4J error naming the Scala class.
        if (
            "Concurrent" in type(exc).__name__
            or "io.delta.exceptions.Concurrent" in (str(exc)[:500])
        ):
            raise WriteConflictError(location, _first_line(exc)) from exc
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _stamp(metadata: Mapping[str, object]) -> str:
    return json.dumps(metadata, sort_keys=True)


def write_delta(
    df: DataFrame,
    location: str | os.PathLike[str],
    *,
    mode: str,
    metadata: Mapping[str, object],
    partition_by: Sequence[str] = (),
    replace_where: str | None = None,
) -> None:
    """Write ``df`` as one Delta commit whose ``userMetadata`` is ``metadata`` (JSON).

    ``overwrite`` replaces the table content atomically (schema and partitioning
    included) unless ``replace_where`` limits it to the rows matching that
    predicate; a failure before the commit leaves the table at its previous
    version. ``partition_by`` applies when the write creates the table or
    replaces it whole; otherwise the table keeps its partitioning.

    Args:
        df: Rows to write.
        location: Table path or URI, passed to Spark as is.
        mode: ``overwrite`` or ``append``.
        metadata: Stamped as the commit's ``userMetadata``.
        partition_by: Partition columns for a new (or wholly replaced) table.
        replace_where: SQL predicate for a partial overwrite.

    Raises:
        WriteConflictError: a concurrent commit conflicted with this one.
    """
    location = os.fspath(location)
    writer = (
        df.write.format("delta").mode(mode).option("userMetadata", _stamp(metadata))
    )
    whole = mode == "overwrite" and replace_where is None
    if replace_where is not None:
        writer = writer.option("replaceWhere", replace_where)
    elif whole:
        writer = writer.option("overwriteSchema", "true")
    if partition_by and (whole or not is_delta_table(df, location)):
        writer = writer.partitionBy(*partition_by)
    with _conflicts_translated(location):
        writer.save(location)


def is_delta_table(df: DataFrame, location: str) -> bool:
    """Whether ``location`` holds a Delta table (any Hadoop file system)."""
    return bool(DeltaTable.isDeltaTable(df.sparkSession, location))


def merge_delta(
    df: DataFrame,
    location: str,
    *,
    on: Sequence[str],
    metadata: Mapping[str, object],
    update_when: Column | None = None,
    insert_only: bool = False,
    target_filter: Column | None = None,
) -> None:
    """MERGE ``df`` into the Delta table at ``location`` in one commit.

    Rows are matched on equal ``on`` columns (null-safe); matched rows are
    updated from ``df`` where ``update_when`` holds (all when None), unmatched
    rows are inserted. The table must exist.

    Args:
        df: Source rows; at most one per ``on`` value unless ``insert_only``.
        location: Table path or URI, passed to Spark as is.
        on: Columns identifying a row.
        metadata: Stamped as the commit's ``userMetadata``.
        update_when: Condition over ``t.`` (target) and ``s.`` (source) columns.
        insert_only: Only insert unmatched rows, never update.
        target_filter: Condition on ``t.`` that every matching row satisfies;
            lets Delta skip files.

    Raises:
        WriteConflictError: a concurrent commit conflicted with this one.
    """
    condition = F.lit(True)
    if target_filter is not None:
        condition = target_filter
    for name in on:
        condition = condition & F.col(f"t.`{name}`").eqNullSafe(F.col(f"s.`{name}`"))
    spark = df.sparkSession
    with _conflicts_translated(location), _MERGE_LOCK:
        builder = (
            DeltaTable.forPath(spark, location)
            .alias("t")
            .merge(df.alias("s"), condition)
        )
        if not insert_only:
            builder = builder.whenMatchedUpdateAll(update_when)
        builder = builder.whenNotMatchedInsertAll()
        previous = spark.conf.get(_COMMIT_INFO_CONF, None)
        spark.conf.set(_COMMIT_INFO_CONF, _stamp(metadata))
        try:
            builder.execute()
        finally:
            if previous is None:
                spark.conf.unset(_COMMIT_INFO_CONF)
            else:
                spark.conf.set(_COMMIT_INFO_CONF, previous)


def _is_local(location: str) -> bool:
    scheme = urlparse(location).scheme
    return scheme in ("", "file") or len(scheme) == 1  # "C:" on Windows


def committed_version(
    spark: SparkSession, location: str, metadata: Mapping[str, object]
) -> int | None:
    """Version of the newest commit at ``location`` stamped with ``metadata``.

    Under concurrent writers the latest version may be someone else's; the stamp
    (job, run id, summary) finds this writer's own commit among the last few.
    Local tables are read from the transaction log with delta-rs (milliseconds,
    where Spark's ``DESCRIBE HISTORY`` runs a job); others through Spark.

    Returns:
        The version, the latest one when no recent commit carries the stamp, or
        None when there is no table.
    """
    stamp = _stamp(metadata)
    if _is_local(location):
        try:
            table = _RsDeltaTable(location)
        except _RsTableNotFoundError:
            return None
        history = table.history(20)
        mine = [int(c["version"]) for c in history if c.get("userMetadata") == stamp]
        return max(mine) if mine else int(table.version())
    if not DeltaTable.isDeltaTable(spark, location):
        return None
    rows = DeltaTable.forPath(spark, location).history(20).collect()
    mine = [int(r["version"]) for r in rows if r["userMetadata"] == stamp]
    return max(mine) if mine else max(int(r["version"]) for r in rows)
