"""Spark starts from the jar files Ivy resolved once: no Ivy (nor its ~90 log
lines) while they are all there, a resolution again when one is gone; a
resolution logs to a file, not the terminal.

Each test starts a JVM of its own (a new Python process), in an Ivy dir of its
own whose ``cache`` is the shared Ivy cache: a resolution runs offline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from featurestore.spark_jobs._jars import (
    log_path,
    manifest_path,
    record_jars,
    recorded_jars,
)
from featurestore.spark_jobs.session import (
    DELTA_PACKAGE,
    IVY_DIR,
    S3A_EXCLUDES,
    spark_packages,
)

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]

IVY_LINES = (
    ":: loading settings",
    "Ivy Default Cache",
    "resolving dependencies",
    "found io.delta",
)
COMMIT_A_TABLE = """
import sys
from featurestore.spark_jobs.session import build_spark_session
build_spark_session("jars", "local[1]").range(3).write.format("delta").save(sys.argv[1])
"""


def _ivy_dir(tmp_path: Path) -> Path:
    ivy = tmp_path / "ivy"
    ivy.mkdir()
    (ivy / "cache").symlink_to(IVY_DIR / "cache", target_is_directory=True)
    return ivy


def _commit_in_a_new_jvm(
    tmp_path: Path, ivy: Path, s3a: bool
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FS_IVY_DIR": str(ivy), "FS_SPARK_S3": "1" if s3a else "0"}
    return subprocess.run(
        [sys.executable, "-c", COMMIT_A_TABLE, str(tmp_path / "table")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_recorded_jars_start_spark_without_ivy(
    spark: SparkSession, tmp_path: Path
) -> None:
    # Every start printed Ivy's ":: loading settings ::", "found io.delta#..."
    # and its resolution report (about 90 lines) before the job's own output.
    ivy = _ivy_dir(tmp_path)
    manifest = manifest_path(ivy, spark_packages(True), S3A_EXCLUDES)
    record_jars(manifest, spark.sparkContext.getConf().get("spark.jars", ""))
    assert recorded_jars(manifest)  # the shared session's jars, all there

    proc = _commit_in_a_new_jvm(tmp_path, ivy, s3a=True)

    assert proc.returncode == 0, proc.stderr
    assert [line for line in IVY_LINES if line in proc.stderr] == []
    assert "fetching Spark jars" not in proc.stderr
    assert DeltaTable(str(tmp_path / "table")).version() == 0
    assert not (ivy / "jars").exists()  # nothing resolved, nothing copied


def test_a_first_start_keeps_ivy_output_in_a_log_not_on_the_terminal(
    tmp_path: Path,
) -> None:
    # Ivy resolved inside the job's JVM: its ~90 lines followed our progress
    # line on stderr, before the job's own output.
    ivy = _ivy_dir(tmp_path)
    manifest = manifest_path(ivy, DELTA_PACKAGE, "")

    proc = _commit_in_a_new_jvm(tmp_path, ivy, s3a=False)

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(
        f"fetching Spark jars for Delta Lake into {ivy} (first run only)\n"
    )
    assert [line for line in IVY_LINES if line in proc.stderr] == []
    assert DeltaTable(str(tmp_path / "table")).version() == 0
    assert recorded_jars(manifest)
    log = log_path(manifest).read_text()
    assert [line for line in IVY_LINES if line not in log] == []


def test_a_missing_recorded_jar_resolves_again_and_records_anew(
    tmp_path: Path,
) -> None:
    ivy = _ivy_dir(tmp_path)
    manifest = manifest_path(ivy, DELTA_PACKAGE, "")
    gone = ivy / "jars" / "io.delta_delta-spark_4.2_2.13-4.4.0.jar"
    manifest.write_text(f"{gone}\n")

    proc = _commit_in_a_new_jvm(tmp_path, ivy, s3a=False)

    assert proc.returncode == 0, proc.stderr
    assert f"fetching Spark jars for Delta Lake into {ivy}" in proc.stderr
    assert DeltaTable(str(tmp_path / "table")).version() == 0
    jars = recorded_jars(manifest)
    assert jars is not None and str(gone) in jars  # resolved into ivy/jars again
    assert all(Path(jar).parent == ivy / "jars" for jar in jars)
