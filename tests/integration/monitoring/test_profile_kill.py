"""Kill a publish between its feature commit and its profile commit.

The publish process is SIGKILLed from inside, at the log line it writes right
after the feature table's commit: the version exists, its profile does not,
and the publish never reported success. A backfill (no Spark) then profiles
that version, and the next publish carries on from it, so profiles and
versions are in step again; no profile ever names a version that does not exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from deltalake import DeltaTable

from featurestore.services.cli import cli
from featurestore.services.monitoring import read_drift, read_profiles
from featurestore.spark_jobs import publish
from tests.unit.monitoring._support import CONTRACT_YAML, contract, project, rows

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    import logging, os, signal, sys

    from featurestore.spark_jobs import build_spark_session, publish
    from tests.unit.monitoring._support import contract, rows

    class KillAfterCommit(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("committed "):
                os.kill(os.getpid(), signal.SIGKILL)

    logger = logging.getLogger("featurestore.spark_jobs.publish")
    logger.setLevel(logging.INFO)
    logger.addHandler(KillAfterCommit())
    spark = build_spark_session("kill-test", "local[1]", shuffle_partitions=1)
    publish(spark.createDataFrame(rows(300, seed=8)), contract(), sys.argv[1], job="t")
    print("PUBLISHED", flush=True)
    """
)


def _versions(location: str) -> list[int]:
    return sorted(int(c["version"]) for c in DeltaTable(location).history())


def test_a_kill_between_the_commits_is_healed(spark, tmp_path):
    proj = project(tmp_path)
    (tmp_path / "contracts" / "shop").mkdir(parents=True)
    (tmp_path / "contracts" / "shop" / "1.0.0.yaml").write_text(CONTRACT_YAML)
    (tmp_path / "featurestore.yaml").write_text("data_dir: data\n")
    location = proj.table_uri("shop")
    publish(spark.createDataFrame(rows(300, seed=7)), contract(), location, job="t")

    child = subprocess.run(
        [sys.executable, "-c", CHILD, location],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    assert "PUBLISHED" not in child.stdout
    # The feature commit landed; its profile did not; nothing names a phantom.
    assert _versions(location) == [0, 1]
    assert [p.version for p in read_profiles(proj, "shop")] == [0]

    healed = CliRunner().invoke(
        cli, ["monitor", "backfill", "shop", "--repo", str(tmp_path), "--json"]
    )
    assert healed.exit_code == 0, healed.output
    profiles = read_profiles(proj, "shop")
    assert [(p.version, p.source) for p in profiles] == [
        (0, "publish"),
        (1, "backfill"),
    ]
    assert profiles[1].row_count == 300

    report = publish(
        spark.createDataFrame(rows(300, seed=9)), contract(), location, job="t"
    )
    assert report.version == 2
    assert [p.version for p in read_profiles(proj, "shop")] == _versions(location)
    previous = [s for s in read_drift(proj, "shop", 2) if s.against == "previous"]
    assert previous and {s.reference_version for s in previous} == {1}
