"""A run finds its own commit by its stamp, however many commits came after it.

The lookup read only the newest 20 commits: with more other writers' commits
between a run's write and its lookup, the run's version was reported as None.
Local tables are read with delta-rs, tables on S3A through Spark.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from featurestore.services.project import Project
from featurestore.spark_jobs.io import committed_version, latest_version, write_delta
from tests.integration.storage.test_s3_publish import s3_project  # noqa: F401

pytestmark = [pytest.mark.spark, pytest.mark.integration]

FOREIGN_COMMITS = 25


def _foreign_commits(
    location: str, count: int, options: dict[str, str] | None = None
) -> None:
    """``count`` one-row appends by another writer (delta-rs), unstamped."""
    for n in range(count):
        write_deltalake(location, pa.table({"k": pa.array([1000 + n], pa.int64())}),
                        mode="append", storage_options=options)  # fmt: skip


def _run_write(spark, location: str, stamp: dict[str, object]) -> None:
    write_delta(spark.range(3).withColumnRenamed("id", "k"), location,
                mode="append", metadata=stamp)  # fmt: skip


def test_a_run_finds_its_commit_behind_many_foreign_commits(spark, tmp_path: Path):
    location = str(tmp_path / "t")
    _run_write(spark, location, {"run_id": "earlier"})
    before = latest_version(spark, location)
    stamp = {"job": "t", "run_id": "r1"}
    _run_write(spark, location, stamp)
    _foreign_commits(location, FOREIGN_COMMITS)

    found = committed_version(spark, location, stamp, since=before)

    assert before is not None
    assert found == before + 1
    assert DeltaTable(location).version() == before + 1 + FOREIGN_COMMITS


def test_a_new_tables_first_commit_is_found_behind_many_foreign_commits(
    spark, tmp_path: Path
):
    # since=None: the table did not exist before the run's write.
    location = str(tmp_path / "t")
    stamp = {"job": "t", "run_id": "first"}
    _run_write(spark, location, stamp)
    _foreign_commits(location, FOREIGN_COMMITS)

    assert committed_version(spark, location, stamp) == 0


def test_the_same_stamp_at_or_before_since_is_not_the_runs(spark, tmp_path: Path):
    # A retried run with the same stamp: the earlier commit is not this one's.
    location = str(tmp_path / "t")
    stamp = {"job": "t", "run_id": "again"}
    _run_write(spark, location, stamp)
    _foreign_commits(location, FOREIGN_COMMITS)
    before = latest_version(spark, location)

    assert committed_version(spark, location, stamp, since=before) is None
    assert committed_version(spark, location, stamp, since=-1) == 0


def test_a_run_on_s3a_finds_its_commit_behind_many_foreign_commits(
    spark,
    s3_project: Project,  # noqa: F811 (the fixture imported above)
):
    # Spark has S3A in the test session: the log is read with DESCRIBE HISTORY.
    location = s3_project.table_uri("t")
    options = s3_project.storage_options.for_location(location)
    _run_write(spark, location, {"run_id": "earlier"})
    before = latest_version(spark, location)
    stamp = {"job": "t", "run_id": "r1"}
    _run_write(spark, location, stamp)
    _foreign_commits(location, FOREIGN_COMMITS, options)

    assert before is not None
    assert committed_version(spark, location, stamp, since=before) == before + 1
