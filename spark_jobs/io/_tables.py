"""Delta tables: whether one is there, columns, schema, partitions, nulls, rows."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_schema

from featurestore.spark_jobs import _delta_rs
from featurestore.spark_jobs.io import _uri
from featurestore.spark_jobs.io._translate import store_reached
from featurestore.spark_jobs.paths import storage_options

from delta.tables import DeltaTable  # isort: skip


def is_delta_table(df: DataFrame, location: str) -> bool:
    """Whether ``location`` holds a Delta table (any file system).

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    spark = df.sparkSession
    with store_reached(location):
        if not _uri.spark_can_open(spark, location):
            return _delta_rs.is_delta_table(location, storage_options())
        return bool(DeltaTable.isDeltaTable(spark, _uri.spark_uri(spark, location)))


def delta_columns(spark: SparkSession, location: str) -> frozenset[str]:
    """Column names of the Delta table at ``location`` (which must exist)."""
    return frozenset(delta_schema(spark, location).names)


def delta_schema(spark: SparkSession, location: str) -> pa.Schema:
    """Arrow schema of the Delta table at ``location`` (which must exist).

    Types as Spark reads them (timestamps in UTC), whichever engine reads.
    """
    with store_reached(location):
        if not _uri.spark_can_open(spark, location):
            return _delta_rs.schema(location, storage_options())
        uri = _uri.spark_uri(spark, location)
        frame = DeltaTable.forPath(spark, uri).toDF()
        return to_arrow_schema(frame.schema, timezone="UTC")


def delta_partition_columns(location: str) -> list[str]:
    """Partition columns of the Delta table at ``location`` (which must exist)."""
    with store_reached(location):
        return _delta_rs.partition_columns(location, storage_options())


def delta_null_counts(location: str, columns: Sequence[str]) -> dict[str, int]:
    """Nulls in each of ``columns`` of the Delta table at ``location`` (which
    must exist), mostly from its files' statistics (delta-rs reads the log)."""
    with store_reached(location):
        return _delta_rs.null_counts(location, storage_options(), columns)


def delta_rows(location: str, columns: Sequence[str]) -> pa.Table:
    """The current rows of ``columns`` of the Delta table at ``location`` (which
    must exist), read by delta-rs."""
    with store_reached(location):
        return _delta_rs.rows(location, storage_options(), columns)
