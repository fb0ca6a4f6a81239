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


# A project job that writes version 0 of a Delta table, then a second batch
# whose one write task says so on stderr (a Python worker's stderr reaches the
# JVM's) and waits to be cancelled.
_WRITING_JOB = """\
import sys, time
from pyspark.sql import functions as F
from featurestore.spark_jobs.io import write_delta
from featurestore.spark_jobs.session import build_spark_session

def main(argv):
    spark = build_spark_session("writing", "local[2]")
    write_delta(spark.range(4), argv[0], mode="overwrite", metadata={"run": "r0"})

    @F.udf("long")
    def blocked(x):
        print("writing", file=sys.stderr, flush=True)
        time.sleep(3600)
        return x

    rows = spark.range(0, 1, 1, 1).select(blocked("id").alias("id"))
    write_delta(rows, argv[0], mode="append", metadata={"run": "r1"})
    return 0
"""


def test_ctrl_c_during_a_write_prints_no_jvm_output(tmp_path: Path) -> None:
    # It printed ~100 lines after the signal: Spark's "Aborting job" with the
    # InterruptedException's stack, the cancelled task's errors, a Py4J
    # traceback, and the JVM's shutdown, around the one line.
    from deltalake import DeltaTable

    repo, table = tmp_path / "proj", tmp_path / "t"
    _project(repo, _WRITING_JOB)
    proc = subprocess.Popen(
        [FEATURESTORE, "run", "--repo", str(repo), "slow", str(table)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}, preexec_fn=_sigint_default,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # the JVM's start-up lines, then the task's
            if line.strip() == "writing":
                break
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the group
        after, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, after
    assert after.splitlines() == [
        "slow: interrupted; no partial version was published "
        "(a Delta commit is all or nothing)"
    ]
    assert DeltaTable(str(table)).version() == 0


# A project job whose Ctrl-C (SIGINT to itself) arrives while a finalizer runs,
# as Py4J's that free JVM objects do on any line, then runs a Spark job that
# only ends when cancelled.
_FINALIZED_JOB = """\
import os, signal, time, weakref
from featurestore.spark_jobs.session import build_spark_session

class Garbage:
    pass

def main(argv):
    spark = build_spark_session("finalized", "local[1]")
    garbage = Garbage()
    finalizer = weakref.ref(garbage, lambda ref: os.kill(os.getpid(), signal.SIGINT))
    del garbage
    slow = spark.sparkContext.parallelize(range(2), 2).map(
        lambda x: time.sleep(3600) or x
    )
    slow.count()
    return 0
"""


def test_ctrl_c_during_a_finalizer_still_interrupts(tmp_path: Path) -> None:
    # Python swallowed the KeyboardInterrupt raised inside the finalizer
    # ("Exception ignored in: ... KeyboardInterrupt") and the job went on
    # into a Spark job nobody cancelled: it hung (the Ctrl-C test above did,
    # 1 run in 3, in Py4J's finalizers).
    repo = tmp_path / "proj"
    _project(repo, _FINALIZED_JOB)
    proc = subprocess.Popen(
        [FEATURESTORE, "run", "--repo", str(repo), "slow"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}, preexec_fn=_sigint_default,
    )  # fmt: skip
    assert proc.stderr is not None
    lines = []
    try:
        for line in proc.stderr:  # to its end, or to the sign it will hang
            lines.append(line.rstrip("\n"))
            assert not line.startswith("Exception ignored"), line
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, lines
    assert lines[-1] == (
        "slow: interrupted; no partial version was published "
        "(a Delta commit is all or nothing)"
    )


# A project job that publishes one batch and is interrupted (SIGINT to itself)
# at the log line publish writes right after its feature commit landed.
_PUBLISHING_JOB = """\
import logging, os, signal
from datetime import datetime, timedelta, timezone
from featurestore.services.contracts import ContractRegistry
from featurestore.spark_jobs import build_spark_session, publish

class InterruptAfterCommit(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("committed "):
            os.kill(os.getpid(), signal.SIGINT)

def main(argv):
    logger = logging.getLogger("featurestore.spark_jobs.publish")
    logger.setLevel(logging.INFO)
    logger.addHandler(InterruptAfterCommit())
    spark = build_spark_session("landed", "local[1]", shuffle_partitions=1)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = [(i, t0 + timedelta(minutes=i), t0, float(i), i % 4, "ams")
            for i in range(40)]
    df = spark.createDataFrame(rows, "shop_id long, event_timestamp timestamp, "
        "created_timestamp timestamp, amount double, visits long, city string")
    contract = ContractRegistry(os.path.join(argv[0], "contracts")).get("shop")
    publish(df, contract, "shop", mode="append", job="landed", run_id="r1",
            data_root=os.path.join(argv[0], "data"))
    return 0
"""


def _project(repo: Path, job: str) -> None:
    (repo / "jobs_slow").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text("project: proj\n")
    (repo / "featurestore.yaml").write_text("jobs:\n  slow: jobs_slow.job\n")
    (repo / "jobs_slow" / "__init__.py").write_text("")
    (repo / "jobs_slow" / "job.py").write_text(job)


def test_ctrl_c_after_the_commit_landed_names_the_version(tmp_path: Path) -> None:
    # It said "no partial version was published" although the run's version
    # was (lineage showed it): a user rerunning an append duplicated the batch.
    from deltalake import DeltaTable

    from tests.unit.monitoring._support import CONTRACT_YAML

    repo = tmp_path / "proj"
    _project(repo, _PUBLISHING_JOB)
    (repo / "contracts" / "shop").mkdir(parents=True)
    (repo / "contracts" / "shop" / "1.0.0.yaml").write_text(CONTRACT_YAML)
    proc = subprocess.run(
        [FEATURESTORE, "run", "--repo", str(repo), "slow", str(repo)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}, preexec_fn=_sigint_default,
    )  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    table = DeltaTable(str(repo / "data" / "features" / "shop"))
    assert table.version() == 0
    assert '"run_id": "r1"' in table.history(1)[0]["userMetadata"]
    assert not (repo / "data" / "features" / "shop_profile").exists()
    assert proc.stderr.splitlines()[-1] == (
        "slow: interrupted after version 0 of shop was published (run r1); its "
        "profile was not written (the next publish, or `featurestore monitor "
        "backfill shop`, writes it)"
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
