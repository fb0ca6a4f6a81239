"""Delta writes (Spark, or delta-rs where Spark cannot open the location)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import pyarrow as pa
from pyspark.sql import DataFrame

from featurestore.spark_jobs import _delta_rs
from featurestore.spark_jobs._commit_lock import committing
from featurestore.spark_jobs.io import _uri
from featurestore.spark_jobs.io._quiet import WRITE_FAILURE_LOGGERS, loggers_off
from featurestore.spark_jobs.io._tables import is_delta_table
from featurestore.spark_jobs.io._translate import (
    conflicts_translated,
    store_reached,
    table_written,
)
from featurestore.spark_jobs.paths import storage_options


def commit_stamp(metadata: Mapping[str, object]) -> str:
    return json.dumps(metadata, sort_keys=True)


def write_delta(
    df: DataFrame,
    location: str | os.PathLike[str],
    *,
    mode: str,
    metadata: Mapping[str, object],
    partition_by: Sequence[str] = (),
    replace_where: str | None = None,
    merge_schema: bool = False,
) -> None:
    """Write ``df`` as one Delta commit whose ``userMetadata`` is ``metadata`` (JSON).

    ``overwrite`` replaces the table content atomically (schema and partitioning
    included) unless ``replace_where`` limits it to the rows matching that
    predicate; a failure before the commit leaves the table at its previous
    version. ``partition_by`` applies when the write creates the table or
    replaces it whole; otherwise the table keeps its partitioning. With
    ``merge_schema`` a column ``df`` has and the table lacks joins the table's
    schema in the same commit (older rows read it as null); without it such
    a write fails. Either way the table's columns keep their types.

    Args:
        df: Rows to write.
        location: Table path or URI, passed to Spark as is.
        mode: ``overwrite`` or ``append``.
        metadata: Stamped as the commit's ``userMetadata``.
        partition_by: Partition columns for a new (or wholly replaced) table.
        replace_where: SQL predicate for a partial overwrite.
        merge_schema: Let an append or partial overwrite add columns; the
            caller has checked they belong there (see ``publish``).

    Raises:
        WriteConflictError: a concurrent commit conflicted with this one.
        StorageUnavailableError: the object store did not answer or refused.
        TableNotWritableError: the local file system refused the write (full,
            not writable, read-only).
    """
    location = os.fspath(location)
    with table_written(location), store_reached(location), committing(location):
        if not _uri.spark_can_open(df.sparkSession, location):
            _delta_rs.write(
                df,
                location,
                storage_options(),
                mode=mode,
                stamp=commit_stamp(metadata),
                partition_by=partition_by,
                replace_where=replace_where,
                merge_schema=merge_schema,
            )
            return
        writer = (
            df.write.format("delta")
            .mode(mode)
            .option("userMetadata", commit_stamp(metadata))
        )
        whole = mode == "overwrite" and replace_where is None
        if replace_where is not None:
            writer = writer.option("replaceWhere", replace_where)
        if whole:
            writer = writer.option("overwriteSchema", "true")
        elif merge_schema:
            writer = writer.option("mergeSchema", "true")
        if partition_by and (whole or not is_delta_table(df, location)):
            writer = writer.partitionBy(*partition_by)
        with (
            conflicts_translated(location),
            loggers_off(df.sparkSession, WRITE_FAILURE_LOGGERS),
        ):
            writer.save(_uri.spark_uri(df.sparkSession, location))


def append_arrow(
    rows: pa.Table,
    location: str,
    *,
    metadata: Mapping[str, object],
    merge_schema: bool = False,
) -> None:
    """Append Arrow ``rows`` to the Delta table at ``location`` in one delta-rs
    commit whose ``userMetadata`` is ``metadata``: for a few rows the driver
    holds (profiles), where a Spark write would run a job. Column types and
    nullability are the Arrow schema's; with ``merge_schema`` a column the
    table lacks joins its schema.

    Raises:
        WriteConflictError: a concurrent commit conflicted with this one.
        StorageUnavailableError: the object store did not answer or refused.
        TableNotWritableError: the local file system refused the write (full,
            not writable, read-only).
    """
    with table_written(location), store_reached(location), committing(location):
        _delta_rs.write_arrow(
            rows,
            location,
            storage_options(),
            mode="append",
            stamp=commit_stamp(metadata),
            merge_schema=merge_schema,
        )
