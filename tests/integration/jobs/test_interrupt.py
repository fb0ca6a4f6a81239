"""Ctrl-C (SIGINT) stops a featurestore command with one line and exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]

FEATURESTORE = str(Path(sys.executable).parent / "featurestore")
_CONTRACTS = Path(__file__).resolve().parents[3] / "feature_repo" / "contracts"

# A project job that builds the session, says so, then runs a Spark job that
# only ends when cancelled (each task sleeps far longer than any test runs).
_JOB = """\
import sys, time
from featurestore.spark_jobs.session import build_spark_session

def main(argv):
    spark = build_spark_session("interrupted", "local[1]")
    print("running", flush=True)
    slow = spark.sparkContext.parallelize(range(2), 2).map(
        lambda x: time.sleep(3600) or x
    )
    slow.count()
    return 0
"""


def _sigint_default() -> None:
    # A SIGINT ignored by the parent (a background job) would stay ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted(proc: subprocess.Popen[str]) -> tuple[int, str]:
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.strip() == "running":
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_ctrl_c_during_a_job_is_one_line_exit_130(tmp_path: Path) -> None:
    # It was Py4J tracebacks, a KeyboardInterrupt traceback, "Aborted!", exit 1.
    repo = tmp_path / "proj"
    (repo / "jobs_slow").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text("project: proj\n")
    (repo / "featurestore.yaml").write_text("jobs:\n  slow: jobs_slow.job\n")
    (repo / "jobs_slow" / "__init__.py").write_text("")
    (repo / "jobs_slow" / "job.py").write_text(_JOB)
    proc = subprocess.Popen(
        [FEATURESTORE, "run", "--repo", str(repo), "slow"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}, preexec_fn=_sigint_default,
    )  # fmt: skip
    code, err = _interrupted(proc)
    assert code == 130, err
    assert "Traceback" not in err and "py4j" not in err.lower(), err
    assert "Aborted!" not in err
    assert err.splitlines()[-1] == (
        "slow: interrupted; no partial version was published "
        "(a Delta commit is all or nothing)"
    )


def test_ctrl_c_in_any_command_is_one_line_exit_130(tmp_path: Path) -> None:
    # contracts validate exited 1 ("failing rows") after "Aborted!". A named
    # pipe nobody writes keeps it waiting on its FILE until the signal.
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [FEATURESTORE, "contracts", "validate", str(fifo), "--contract",
         "customer_spend", "--root", str(_CONTRACTS)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_sigint_default,
    )  # fmt: skip
    _wait_blocked_on(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.splitlines() == ["featurestore: interrupted"]


def _wait_blocked_on(pid: int) -> None:
    """Until process ``pid`` waits in open() for a writer to its named pipe."""
    while Path(f"/proc/{pid}/wchan").read_text() != "wait_for_partner":
        time.sleep(0.05)
