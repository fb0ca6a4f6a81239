"""Every job runs under spark-submit and as `python -m`, with --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from featurestore.spark_jobs.jobs import generate_raw_events
from featurestore.spark_jobs.session import DELTA_PACKAGE, IVY_DIR

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
JOBS = ("build_customer_spend", "build_merchant_risk")

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("job", JOBS)
def test_job_under_spark_submit_publishes_a_stamped_delta_version(
    job: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    assert (
        generate_raw_events.main(
            [
                "--transactions",
                "1000",
                "--customers",
                "200",
                "--merchants",
                "20",
                "--days",
                "10",
                "--data-dir",
                str(data),
            ]
        )
        == 0
    )
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        # A job runs in a project (its contracts); here, this repository's.
        "FS_REPO_PATH": str(REPO / "feature_repo"),
    }
    proc = subprocess.run(
        [
            str(BIN / "spark-submit"),
            "--master",
            "local[2]",
            "--packages",
            DELTA_PACKAGE,
            "--conf",
            f"spark.jars.ivy={IVY_DIR}",
            "--conf",
            "spark.sql.shuffle.partitions=2",
            str(REPO / "spark_jobs" / "jobs" / f"{job}.py"),
            "--data-dir",
            str(data),
            "--run-id",
            "submit-1",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = job.removeprefix("build_")
    history = DeltaTable(str(data / "features" / table)).history()
    stamp = json.loads(history[0]["userMetadata"])
    assert stamp["job"] == job
    assert stamp["run_id"] == "submit-1"
    assert stamp["contract"] == f"{table}@1.0.0"
    assert stamp["validation"]["rows_in"] > 0


@pytest.mark.parametrize("job", ("generate_raw_events", *JOBS))
def test_help_describes_the_job(job: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", f"featurestore.spark_jobs.jobs.{job}", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert "--data-dir" in proc.stdout
