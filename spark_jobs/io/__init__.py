"""Reads of raw inputs and Delta writes with commit metadata; Spark errors end here.

Table locations are strings (a local path, ``file://``, ``s3://`` ...), never
``pathlib`` paths, which fold ``s3://b`` into ``s3:/b``. Spark gets them as
Hadoop names them (``s3a://``) when it has a file system for the scheme
(``_uri``); otherwise the commit goes through delta-rs (``_delta_rs.py``) with
the project's storage options. Reads of raw inputs are in ``_read``, Delta
writes in ``_write`` and ``_merge``, what a table holds in ``_tables``, its
commits and their stamps in ``_history``; Delta's and the object store's
errors are translated in ``_translate``.
"""

from featurestore.spark_jobs.io._history import (
    committed_version,
    latest_version,
    publish_stamp,
)
from featurestore.spark_jobs.io._merge import merge_delta, same_value
from featurestore.spark_jobs.io._read import read_parquet
from featurestore.spark_jobs.io._tables import (
    delta_columns,
    delta_null_counts,
    delta_partition_columns,
    delta_rows,
    delta_schema,
    is_delta_table,
)
from featurestore.spark_jobs.io._uri import spark_can_open, spark_uri
from featurestore.spark_jobs.io._write import append_arrow, write_delta

__all__ = [
    "append_arrow",
    "committed_version",
    "delta_columns",
    "delta_null_counts",
    "delta_partition_columns",
    "delta_rows",
    "delta_schema",
    "is_delta_table",
    "latest_version",
    "merge_delta",
    "publish_stamp",
    "read_parquet",
    "same_value",
    "spark_can_open",
    "spark_uri",
    "write_delta",
]
