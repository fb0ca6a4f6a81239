"""Delta MERGE: one commit, its stamp in the session conf under a lock."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame

from featurestore.spark_jobs import _delta_rs
from featurestore.spark_jobs._commit_lock import committing
from featurestore.spark_jobs.io import _uri
from featurestore.spark_jobs.io._quiet import WRITE_FAILURE_LOGGERS, loggers_off
from featurestore.spark_jobs.io._tables import delta_columns
from featurestore.spark_jobs.io._translate import (
    conflicts_translated,
    store_reached,
    table_written,
)
from featurestore.spark_jobs.io._write import commit_stamp
from featurestore.spark_jobs.paths import storage_options

from delta.tables import DeltaTable  # isort: skip

# A MERGE takes its commit message from the session conf, not from an option;
# the conf is shared by every thread of the session, so merges hold this lock
# from setting it to committing.
_COMMIT_INFO_CONF = "spark.databricks.delta.commitInfo.userMetadata"
_MERGE_LOCK = threading.Lock()
# Delta's MERGE logs the error it is about to raise (a concurrent commit among
# them) at ERROR with the whole Java stack, before our one-line retry warning:
# off while a merge runs, as the loggers of a failed write task are.
_MERGE_LOGGER = "org.apache.spark.sql.delta.commands.MergeIntoCommand"


def merge_delta(
    df: DataFrame,
    location: str,
    *,
    on: Sequence[str],
    metadata: Mapping[str, object],
    update_when: str | None = None,
    insert_only: bool = False,
    target_filter: str | None = None,
    merge_schema: bool = False,
) -> None:
    """MERGE ``df`` into the Delta table at ``location`` in one commit.

    Rows are matched on equal ``on`` columns (null-safe); matched rows are
    updated from ``df`` where ``update_when`` holds (all when None), unmatched
    rows are inserted. The table must exist. With ``merge_schema`` a column
    ``df`` has and the table lacks joins the table's schema in the same
    commit; in ``on`` it matches only null, the value the table's rows have.

    Args:
        df: Source rows; at most one per ``on`` value unless ``insert_only``.
        location: Table path or URI, passed to Spark as is.
        on: Columns identifying a row.
        metadata: Stamped as the commit's ``userMetadata``.
        update_when: SQL condition over ``t.`` (target) and ``s.`` (source)
            columns, in the SQL both Spark and delta-rs read (backticked
            names, ``IS NOT DISTINCT FROM``); see `same_value` for columns
            the table may lack.
        insert_only: Only insert unmatched rows, never update.
        target_filter: SQL condition on ``t.`` that every matching row
            satisfies; lets Delta skip files.
        merge_schema: Let the merge add columns (Delta schema evolution);
            the caller has checked they belong there (see ``publish``).

    Raises:
        WriteConflictError: a concurrent commit conflicted with this one.
        StorageUnavailableError: the object store did not answer or refused.
        TableNotWritableError: the local file system refused the write (full,
            not writable, read-only).
    """
    # Lock order: the table's commit lock (across processes), then _MERGE_LOCK.
    with table_written(location), store_reached(location), committing(location):
        spark = df.sparkSession
        held = delta_columns(spark, location)
        terms = [same_value(n, held) for n in on]
        condition = " AND ".join(
            [*([f"({target_filter})"] if target_filter else []), *terms] or ["TRUE"]
        )
        if not _uri.spark_can_open(spark, location):
            _delta_rs.merge(
                df,
                location,
                storage_options(),
                condition=condition,
                stamp=commit_stamp(metadata),
                update_when=update_when,
                insert_only=insert_only,
                merge_schema=merge_schema,
            )
            return
        with conflicts_translated(location), _MERGE_LOCK:
            builder = (
                DeltaTable.forPath(spark, _uri.spark_uri(spark, location))
                .alias("t")
                .merge(df.alias("s"), condition)
            )
            if merge_schema:
                builder = builder.withSchemaEvolution()
            if not insert_only:
                builder = builder.whenMatchedUpdateAll(update_when)
            builder = builder.whenNotMatchedInsertAll()
            previous = spark.conf.get(_COMMIT_INFO_CONF, None)
            spark.conf.set(_COMMIT_INFO_CONF, commit_stamp(metadata))
            try:
                with loggers_off(spark, (_MERGE_LOGGER, *WRITE_FAILURE_LOGGERS)):
                    builder.execute()
            finally:
                if previous is None:
                    spark.conf.unset(_COMMIT_INFO_CONF)
                else:
                    spark.conf.set(_COMMIT_INFO_CONF, previous)


def same_value(name: str, held: frozenset[str]) -> str:
    """SQL: target ``t`` and source ``s`` agree on column ``name`` (null-safe).

    A column the target lacks (``held`` are its columns) is null in every
    target row, so only a null source value agrees.
    """
    if name in held:
        return f"(t.`{name}` IS NOT DISTINCT FROM s.`{name}`)"
    return f"(s.`{name}` IS NULL)"
