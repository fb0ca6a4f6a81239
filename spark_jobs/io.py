"""Reads of raw inputs and Delta writes with commit metadata; Spark errors end here.

Table locations are strings (a local path, ``file://``, ``s3://`` ...), never
``pathlib`` paths, which fold ``s3://b`` into ``s3:/b``. Spark gets them as
Hadoop names them (``s3a://``) when it has a file system for the scheme;
otherwise the commit goes through delta-rs (``_delta_rs.py``) with the
project's storage options.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_schema

from featurestore.services.storage import (
    StorageOptions,
    delta_error_detail,
    is_local,
    local_path,
    scheme,
    to_spark_uri,
)
from featurestore.spark_jobs import _delta_rs
from featurestore.spark_jobs._commit_lock import committing
from featurestore.spark_jobs.errors import (
    ConfigError,
    InputNotFoundError,
    InputSchemaError,
    SparkJobError,
    StorageUnavailableError,
    WriteConflictError,
)
from featurestore.spark_jobs.paths import storage_options

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
# Delta's MERGE logs the error it is about to raise (a concurrent commit among
# them) at ERROR with the whole Java stack, before our one-line retry warning.
_MERGE_LOGGER = "org.apache.spark.sql.delta.commands.MergeIntoCommand"


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
    if not spark_can_open(spark, where):
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
        frame = spark.read.parquet(spark_uri(spark, where))
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


@contextmanager
def _store_reached(location: str) -> Iterator[None]:
    """Re-raise an object store's failure (no answer, refused, no such bucket)
    as StorageUnavailableError naming ``location``: delta-rs's ``OSError``, or
    a JVM ``IOException`` (S3A's) anywhere in Spark's cause chain. Neither is
    chained: their text quotes request ids and the server's answer."""
    if is_local(location):  # a local file system's failure is no store's
        yield
        return
    try:
        yield
    except SparkJobError:
        raise
    except OSError as exc:  # delta-rs: "Generic S3 error" and the server's XML
        head = delta_error_detail(exc).split(":", 1)[0].strip()
        raise StorageUnavailableError(location, head or "OSError") from None
    except (Py4JJavaError, CapturedException) as exc:
        java = exc.java_exception if isinstance(exc, Py4JJavaError) else exc._origin
        failed = _io_failure(java)
        if failed is None:
            raise
        raise StorageUnavailableError(location, failed) from None


def _io_failure(java: Any) -> str | None:
    """The class of the first ``java.io.IOException`` in ``java``'s cause
    chain (``org.apache.hadoop.fs.s3a.UnknownStoreException``), else None."""
    try:
        for _ in range(10):
            if java is None:
                return None
            kind = java.getClass()
            while kind is not None:
                if kind.getName() == "java.io.IOException":
                    return str(java.getClass().getName())
                kind = kind.getSuperclass()
            java = java.getCause()
    except Exception:  # the gateway is gone: not known to be the store
        return None
    return None


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
    """
    location = os.fspath(location)
    with _store_reached(location), committing(location):
        if not spark_can_open(df.sparkSession, location):
            _delta_rs.write(
                df,
                location,
                storage_options(),
                mode=mode,
                stamp=_stamp(metadata),
                partition_by=partition_by,
                replace_where=replace_where,
                merge_schema=merge_schema,
            )
            return
        writer = (
            df.write.format("delta").mode(mode).option("userMetadata", _stamp(metadata))
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
        with _conflicts_translated(location):
            writer.save(spark_uri(df.sparkSession, location))


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
    """
    with _store_reached(location), committing(location):
        _delta_rs.write_arrow(
            rows,
            location,
            storage_options(),
            mode="append",
            stamp=_stamp(metadata),
            merge_schema=merge_schema,
        )


def is_delta_table(df: DataFrame, location: str) -> bool:
    """Whether ``location`` holds a Delta table (any file system).

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    spark = df.sparkSession
    with _store_reached(location):
        if not spark_can_open(spark, location):
            return _delta_rs.is_delta_table(location, storage_options())
        return bool(DeltaTable.isDeltaTable(spark, spark_uri(spark, location)))


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
    """
    # Lock order: the table's commit lock (across processes), then _MERGE_LOCK.
    with _store_reached(location), committing(location):
        spark = df.sparkSession
        held = delta_columns(spark, location)
        terms = [same_value(n, held) for n in on]
        condition = " AND ".join(
            [*([f"({target_filter})"] if target_filter else []), *terms] or ["TRUE"]
        )
        if not spark_can_open(spark, location):
            _delta_rs.merge(
                df,
                location,
                storage_options(),
                condition=condition,
                stamp=_stamp(metadata),
                update_when=update_when,
                insert_only=insert_only,
                merge_schema=merge_schema,
            )
            return
        with _conflicts_translated(location), _MERGE_LOCK:
            builder = (
                DeltaTable.forPath(spark, spark_uri(spark, location))
                .alias("t")
                .merge(df.alias("s"), condition)
            )
            if merge_schema:
                builder = builder.withSchemaEvolution()
            if not insert_only:
                builder = builder.whenMatchedUpdateAll(update_when)
            builder = builder.whenNotMatchedInsertAll()
            previous = spark.conf.get(_COMMIT_INFO_CONF, None)
            spark.conf.set(_COMMIT_INFO_CONF, _stamp(metadata))
            try:
                with _merge_errors_unlogged(spark):
                    builder.execute()
            finally:
                if previous is None:
                    spark.conf.unset(_COMMIT_INFO_CONF)
                else:
                    spark.conf.set(_COMMIT_INFO_CONF, previous)


@contextmanager
def _merge_errors_unlogged(spark: SparkSession) -> Iterator[None]:
    """Turn Delta's MERGE logger off while a merge runs (under ``_MERGE_LOCK``).

    What it would log it also raises: a conflict is retried and reported in
    one line by ``publish``, anything else propagates with its Java stack.
    The logger's own setting is restored after (or removed, when it had none,
    so it follows the root level again).
    """
    log4j: Any = spark.sparkContext._jvm.org.apache.logging.log4j  # type: ignore[union-attr]
    context = log4j.LogManager.getContext(False)
    config = context.getConfiguration()
    had_own = config.getLoggers().containsKey(_MERGE_LOGGER)
    level = config.getLoggerConfig(_MERGE_LOGGER).getLevel()
    log4j.core.config.Configurator.setLevel(_MERGE_LOGGER, log4j.Level.OFF)
    try:
        yield
    finally:
        if had_own:
            log4j.core.config.Configurator.setLevel(_MERGE_LOGGER, level)
        else:
            config.removeLogger(_MERGE_LOGGER)
            context.updateLoggers()


def delta_columns(spark: SparkSession, location: str) -> frozenset[str]:
    """Column names of the Delta table at ``location`` (which must exist)."""
    return frozenset(delta_schema(spark, location).names)


def delta_schema(spark: SparkSession, location: str) -> pa.Schema:
    """Arrow schema of the Delta table at ``location`` (which must exist).

    Types as Spark reads them (timestamps in UTC), whichever engine reads.
    """
    with _store_reached(location):
        if not spark_can_open(spark, location):
            return _delta_rs.schema(location, storage_options())
        uri = spark_uri(spark, location)
        frame = DeltaTable.forPath(spark, uri).toDF()
        return to_arrow_schema(frame.schema, timezone="UTC")


def delta_partition_columns(location: str) -> list[str]:
    """Partition columns of the Delta table at ``location`` (which must exist)."""
    with _store_reached(location):
        return _delta_rs.partition_columns(location, storage_options())


def delta_null_counts(location: str, columns: Sequence[str]) -> dict[str, int]:
    """Nulls in each of ``columns`` of the Delta table at ``location`` (which
    must exist), mostly from its files' statistics (delta-rs reads the log)."""
    with _store_reached(location):
        return _delta_rs.null_counts(location, storage_options(), columns)


def delta_rows(location: str, columns: Sequence[str]) -> pa.Table:
    """The current rows of ``columns`` of the Delta table at ``location`` (which
    must exist), read by delta-rs."""
    with _store_reached(location):
        return _delta_rs.rows(location, storage_options(), columns)


def publish_stamp(spark: SparkSession, location: str) -> dict[str, Any]:
    """The stamp ``publish`` gave the table's current rows: the metadata of the
    newest commit holding a ``contract_version`` ({} when none does, or no
    table). Usually the newest commit; one made by maintenance (OPTIMIZE,
    another tool) carries no stamp, so the log is read further back then.

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    read = _history_reader(spark, location)
    with _store_reached(location):
        for limit in (1, None):
            for _, raw in read(limit):
                stamp = _parsed_stamp(raw)
                if "contract_version" in stamp:
                    return stamp
    return {}


def _parsed_stamp(raw: object) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def same_value(name: str, held: frozenset[str]) -> str:
    """SQL: target ``t`` and source ``s`` agree on column ``name`` (null-safe).

    A column the target lacks (``held`` are its columns) is null in every
    target row, so only a null source value agrees.
    """
    if name in held:
        return f"(t.`{name}` IS NOT DISTINCT FROM s.`{name}`)"
    return f"(s.`{name}` IS NULL)"


def committed_version(
    spark: SparkSession,
    location: str,
    metadata: Mapping[str, object],
    *,
    since: int | None = None,
) -> int | None:
    """Version of the newest commit at ``location`` stamped with ``metadata``.

    Under concurrent writers the latest version may be someone else's; the stamp
    (job, run id, summary) finds this writer's own commit among every commit
    after ``since``, however many other writers made meanwhile, and only that:
    a writer that committed nothing has no version of its own. Tables delta-rs
    reaches (local ones, and those Spark cannot open) are read from the
    transaction log with delta-rs (milliseconds, where Spark's
    ``DESCRIBE HISTORY`` runs a job); others through Spark.

    Args:
        spark: The session.
        location: Table path or URI.
        metadata: The commit's stamp, as given to the write.
        since: Only commits after this version count (the table's version
            before the write: an earlier run's commit with the same stamp is
            not this one's). None: the table did not exist before the write,
            so every commit is searched.

    Returns:
        The version, or None when no commit after ``since`` carries the stamp
        (or there is no table).

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    stamp = _stamp(metadata)
    with _store_reached(location):
        mine = [
            version
            for version, stamped in _commits_after(spark, location, since)
            if stamped == stamp
        ]
    return max(mine, default=None)


def latest_version(spark: SparkSession, location: str) -> int | None:
    """The newest version of the Delta table at ``location``, None without one.

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    with _store_reached(location):
        newest = _history_reader(spark, location)(1)
    return max((version for version, _ in newest), default=None)


_Commits = list[tuple[int, object]]
"""(version, userMetadata) of commits, newest first."""


def _commits_after(spark: SparkSession, location: str, since: int | None) -> _Commits:
    """Every commit after version ``since`` (all of them when None) that the log
    still holds; [] without a table.

    The log is read newest first, as far back as ``since``: first the newest
    commit, then down to ``since``; commits landing meanwhile push the oldest
    wanted one further back, so it reads again until that one is in or the log
    has no more.
    """
    read = _history_reader(spark, location)
    if since is None:
        return read(None)
    limit = 1
    while True:
        commits = read(limit)
        oldest = min((version for version, _ in commits), default=since)
        if oldest <= since + 1 or len(commits) < limit:
            return [(version, stamp) for version, stamp in commits if version > since]
        limit = max(version for version, _ in commits) - since


def _history_reader(
    spark: SparkSession, location: str
) -> Callable[[int | None], _Commits]:
    """Reads the newest ``limit`` commits (all with None), [] without a table."""
    if is_local(location) or not spark_can_open(spark, location):

        def from_log(limit: int | None) -> _Commits:
            history = _delta_rs.history(location, storage_options(), limit)
            return [(int(str(c["version"])), c.get("userMetadata")) for c in history]

        return from_log
    uri = spark_uri(spark, location)

    def from_spark(limit: int | None) -> _Commits:
        if not DeltaTable.isDeltaTable(spark, uri):
            return []
        rows = DeltaTable.forPath(spark, uri).history(limit).collect()
        return [(int(r["version"]), r["userMetadata"]) for r in rows]

    return from_spark
