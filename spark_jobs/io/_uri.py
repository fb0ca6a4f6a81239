"""Locations as Spark names them, and whether Spark has a file system for them."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

from featurestore.services.storage import (
    StorageOptions,
    is_local,
    scheme,
    to_spark_uri,
)
from featurestore.spark_jobs.paths import storage_options


def spark_can_open(spark: SparkSession, location: str) -> bool:
    """Whether Spark has a Hadoop file system for ``location``'s scheme.

    PySpark ships none for S3: ``s3a://`` needs ``hadoop-aws`` and the AWS
    SDK on the classpath (``build_spark_session`` adds them for a project on
    S3). Without one, Delta commits go through delta-rs. With one, the
    project's ``storage_options`` become the session's ``fs.s3a.*`` settings
    here, before Spark opens the location.
    """
    if is_local(location):
        return True
    kind = scheme(to_spark_uri(location))
    if kind not in _FILE_SYSTEMS:
        jvm: Any = spark.sparkContext._jvm
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        try:
            jvm.org.apache.hadoop.fs.FileSystem.getFileSystemClass(kind, conf)
            _FILE_SYSTEMS[kind] = True
        except Exception:  # Py4J: UnsupportedFileSystemException
            _FILE_SYSTEMS[kind] = False
    return _FILE_SYSTEMS[kind]


def spark_uri(
    spark: SparkSession, location: str, options: StorageOptions | None = None
) -> str:
    """``location`` as Spark names it (``s3a://``), ready for Spark to open.

    For ``s3a://`` the project's ``storage_options`` (``options``, default
    those of the project found as jobs find it) become the session's
    ``fs.s3a.*`` Hadoop settings first; they reach every read, write and
    commit (executors get them with each job). Only keys the project names
    are set, so on a cluster the settings given to spark-submit stay in force
    otherwise. Every Spark read or write of a table location goes through
    here.
    """
    uri = to_spark_uri(location)
    if scheme(uri) == "s3a":
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        storage = storage_options() if options is None else options
        for key, value in storage.hadoop_s3a().items():
            if conf.get(key) != value:
                conf.set(key, value)
    return uri


_FILE_SYSTEMS: dict[str, bool] = {}
