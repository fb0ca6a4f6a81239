"""`featurestore run JOB`: in-process and through its printed spark-submit line."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.integration]

FEATURESTORE = str(Path(sys.executable).parent / "featurestore")
SMALL = ["--transactions", "500", "--customers", "50", "--merchants", "10",
         "--days", "3", "--seed", "3"]  # fmt: skip


def test_run_generate_raw_events(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.run(
        [FEATURESTORE, "run", "generate_raw_events", *SMALL, "--data-dir", str(data)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote ")
    assert pq.read_table(data / "raw" / "transactions").num_rows >= 500


def test_run_unknown_job_is_usage(tmp_path: Path) -> None:
    proc = subprocess.run(
        [FEATURESTORE, "run", "no_such_job"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "generate_raw_events" in proc.stderr


@pytest.mark.spark
@pytest.mark.slow
def test_printed_spark_submit_line_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    printed = subprocess.run(
        [FEATURESTORE, "run", "--print-submit", "--master", "local[1]",
         "generate_raw_events", *SMALL, "--data-dir", str(data)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    proc = subprocess.run(
        shlex.split(printed.stdout), cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert pq.read_table(data / "raw" / "fraud_labels").num_rows > 0
