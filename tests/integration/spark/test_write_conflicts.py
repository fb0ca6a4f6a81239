"""A real Delta concurrent-commit conflict: translated once, retried, then one line.

While a MERGE runs, its source (a Python UDF on an executor) commits to the same
table with delta-rs, once (a marker file says it did): the MERGE's commit then
conflicts deterministically, and the retry, on the new snapshot, lands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from delta.exceptions import ConcurrentAppendException
from deltalake import DeltaTable

from featurestore.spark_jobs import Reason, RetryPolicy, WriteConflictError
from featurestore.spark_jobs.io import merge_delta
from featurestore.spark_jobs.publish import run_with_retry

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def _interfering_source(spark, table: str, marker: Path):
    from pyspark.sql import functions as F

    marker_path = str(marker)

    @F.udf("long")
    def interfere(key: int) -> int:
        import os

        import pyarrow as pa
        from deltalake import write_deltalake

        if key == 0 and not os.path.exists(marker_path):
            open(marker_path, "w").close()
            other = pa.table({"k": pa.array([100], pa.int64()), "v": [1]})
            write_deltalake(
                table,
                other.cast(pa.schema([("k", pa.int64()), ("v", pa.int64())])),
                mode="append",
            )
        return key

    return spark.range(3).select(
        interfere(F.col("id")).alias("k"), F.lit(5).cast("long").alias("v")
    )


def _table(spark, tmp_path: Path) -> str:
    from pyspark.sql import functions as F

    table = str(tmp_path / "t")
    spark.range(3).select(
        F.col("id").alias("k"), F.lit(0).cast("long").alias("v")
    ).write.format("delta").save(table)
    return table


def test_a_conflicting_merge_is_retried_on_the_new_snapshot(spark, tmp_path):
    table = _table(spark, tmp_path)
    source = _interfering_source(spark, table, tmp_path / "interfered")
    waits: list[float] = []

    run_with_retry(
        lambda: merge_delta(source, table, on=["k"], metadata={"run_id": "r"}),
        RetryPolicy(attempts=3, base_delay=0.0),
        sleep=waits.append,
    )

    assert len(waits) == 1  # one conflict, then success
    rows = DeltaTable(table).to_pyarrow_table().sort_by("k").to_pylist()
    assert [(r["k"], r["v"]) for r in rows] == [(0, 5), (1, 5), (2, 5), (100, 1)]


def test_a_conflict_past_the_last_attempt_is_one_line(spark, tmp_path):
    table = _table(spark, tmp_path)
    source = _interfering_source(spark, table, tmp_path / "interfered")

    with pytest.raises(WriteConflictError) as info:
        run_with_retry(
            lambda: merge_delta(source, table, on=["k"], metadata={"run_id": "r"}),
            RetryPolicy(attempts=1),
        )

    assert info.value.reason is Reason.WRITE_CONFLICT
    assert info.value.metadata == {"table": table, "attempts": "1"}
    assert "\n" not in str(info.value)
    # Translated once in io (the inner error), then wrapped by the retry loop.
    assert isinstance(info.value.__cause__, WriteConflictError)
    assert isinstance(info.value.__cause__.__cause__, ConcurrentAppendException)
    # Only the interfering commit landed.
    rows = DeltaTable(table).to_pyarrow_table().sort_by("k").to_pylist()
    assert [(r["k"], r["v"]) for r in rows] == [(0, 0), (1, 0), (2, 0), (100, 1)]


@contextmanager
def _jvm_log(spark) -> Iterator[object]:
    """What the driver JVM logs meanwhile (its root logger, as the console
    shows it), in a java.io.StringWriter."""
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j
    context = log4j.LogManager.getContext(False)
    config = context.getConfiguration()
    written = spark.sparkContext._jvm.java.io.StringWriter()
    layout = log4j.core.layout.PatternLayout.createDefaultLayout()
    appender = log4j.core.appender.WriterAppender.createAppender(
        layout, None, written, "conflict-test", False, True
    )
    appender.start()
    config.getRootLogger().addAppender(appender, None, None)
    context.updateLoggers()
    try:
        yield written
    finally:
        config.getRootLogger().removeAppender("conflict-test")
        context.updateLoggers()
        appender.stop()


def test_a_retried_conflict_logs_no_java_error(spark, tmp_path, caplog):
    # Delta's MERGE logged the conflict at ERROR with its Java stack trace
    # before our one-line retry warning; the retry handles it.
    table = _table(spark, tmp_path)
    source = _interfering_source(spark, table, tmp_path / "interfered")
    waits: list[float] = []

    with _jvm_log(spark) as logged:
        run_with_retry(
            lambda: merge_delta(source, table, on=["k"], metadata={"run_id": "r"}),
            RetryPolicy(attempts=3, base_delay=0.0),
            sleep=waits.append,
        )

    assert len(waits) == 1  # the conflict happened, and was retried
    warned = [r for r in caplog.records if r.name == "featurestore.spark_jobs.publish"]
    assert [r.levelname for r in warned] == ["WARNING"]  # our one retry line
    assert "ConcurrentAppendException" not in str(logged.toString())
    # ... and only while merging: the logger follows the session's level again.
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j
    merge_logger = "org.apache.spark.sql.delta.commands.MergeIntoCommand"
    level = log4j.LogManager.getLogger(merge_logger).getLevel()
    assert level.equals(log4j.LogManager.getRootLogger().getLevel())
