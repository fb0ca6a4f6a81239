"""The training-set job: in the test session and on a standalone Spark cluster.

Both runs must equal the DuckDB engine (services.offline) row for row.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from py4j.protocol import Py4JJavaError

from featurestore.services.offline import HistoricalRequest, get_historical_features
from featurestore.spark_jobs.jobs import build_training_set
from featurestore.spark_jobs.session import DELTA_PACKAGE, IVY_DIR
from tests.processes import free_port

pytestmark = [pytest.mark.spark, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[3]
JOB_FILE = REPO / "spark_jobs" / "jobs" / "build_training_set.py"


def _expected(store, entity_path, as_known_at):
    entity = pq.read_table(entity_path)
    request = HistoricalRequest(
        entity=entity, features="model_v1", as_known_at=as_known_at
    )
    return get_historical_features(store, request).table.to_pylist()


def _written(path):
    rows = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda r: r["request_id"])


def _args(repo, entity_path, output, as_known_at):
    args = [
        "--entity-path",
        str(entity_path),
        "--feature-repo",
        str(repo),
        "--feature-service",
        "model_v1",
        "--output",
        str(output),
    ]
    return [*args, "--as-known-at"] if as_known_at else args


@pytest.mark.parametrize("as_known_at", [False, True])
def test_job_matches_duckdb_engine(spark, feast_repo, tmp_path, capsys, as_known_at):
    store, repo, entity_path = feast_repo
    output = tmp_path / "training_set"
    argv = _args(repo, entity_path, output, as_known_at)

    assert build_training_set.main(argv) == 0

    manifest = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert manifest["output"]["version"] == 0
    assert {t: v["version"] for t, v in manifest["tables"].items()} == {
        "card_merchant": 0,
        "card_score": 0,
    }
    assert _written(output) == _expected(store, entity_path, as_known_at)


def test_job_replaces_only_its_own_output(spark, feast_repo, tmp_path, capsys):
    # --output pointing at a feature table replaced it with the training set
    # (no contract, a column gone; materialise then failed on it). It is now
    # refused before any work, as the CLI and the service refuse it; the job's
    # own output is marked and a re-run replaces it.
    _, repo, entity_path = feast_repo
    output = tmp_path / "training_set"
    assert build_training_set.main(_args(repo, entity_path, output, False)) == 0
    assert build_training_set.main(_args(repo, entity_path, output, False)) == 0
    assert DeltaTable(str(output)).version() == 1
    table = repo / "data" / "card_merchant"
    before = DeltaTable(str(table)).version()
    capsys.readouterr()
    assert build_training_set.main(_args(repo, entity_path, table, False)) == 2
    err = capsys.readouterr().err
    assert "OUTPUT_NOT_A_TRAINING_SET" in err and "never replaced" in err
    assert DeltaTable(str(table)).version() == before


def test_job_reports_unknown_view(spark, feast_repo, tmp_path, capsys):
    _, repo, entity_path = feast_repo
    argv = [
        "--entity-path",
        str(entity_path),
        "--feature-repo",
        str(repo),
        "--features",
        "nope:x",
        "--output",
        str(tmp_path / "out"),
    ]
    assert build_training_set.main(argv) == 1
    assert "CONFIG_INVALID" in capsys.readouterr().err


# --- standalone cluster -------------------------------------------------------

PYSPARK_HOME = Path(__import__("pyspark").__file__).parent


def _spawn(args, env, log):
    # A new session per daemon so teardown can kill its whole process group.
    return subprocess.Popen(
        [str(PYSPARK_HOME / "bin" / "spark-class"), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _alive_workers(ui_port: int) -> int:
    with suppress(OSError, ValueError):
        url = f"http://127.0.0.1:{ui_port}/json/"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(json.load(resp).get("aliveworkers", 0))
    return 0


@pytest.fixture
def spark_cluster(tmp_path):
    """A master and two 1-core, 1g workers on 127.0.0.1; yields (url, env)."""
    env = {
        **os.environ,
        "SPARK_HOME": str(PYSPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(tmp_path / "spark-logs"),
        "SPARK_WORKER_DIR": str(tmp_path / "spark-work"),
        "SPARK_LOCAL_DIRS": str(tmp_path / "spark-local"),
        "SPARK_DAEMON_MEMORY": "256m",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    env.pop("PYSPARK_GATEWAY_PORT", None)
    port, ui = free_port(), free_port()
    log = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115
    procs = [
        _spawn(
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(ui),
            ],
            env,
            log,
        )
    ]
    try:
        for i in range(2):
            procs.append(
                _spawn(
                    [
                        "org.apache.spark.deploy.worker.Worker",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(free_port()),
                        "--webui-port",
                        str(free_port()),
                        "--cores",
                        "1",
                        "--memory",
                        "1g",
                        "--work-dir",
                        str(tmp_path / f"spark-work-{i}"),
                        f"spark://127.0.0.1:{port}",
                    ],
                    env,
                    log,
                )
            )
        deadline = time.monotonic() + 120
        while _alive_workers(ui) < 2:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                log.flush()
                pytest.fail(
                    "cluster did not start:\n"
                    + (tmp_path / "cluster.log").read_text()[-3000:]
                )
            time.sleep(1)
        yield f"spark://127.0.0.1:{port}", env
    finally:
        for p in procs:
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        log.close()


@pytest.mark.slow
def test_job_on_standalone_cluster(spark_cluster, feast_repo, tmp_path):
    master, env = spark_cluster
    store, repo, entity_path = feast_repo
    output = tmp_path / "training_set"
    cmd = [
        str(PYSPARK_HOME / "bin" / "spark-submit"),
        "--master",
        master,
        "--packages",
        DELTA_PACKAGE,
        "--conf",
        f"spark.jars.ivy={IVY_DIR}",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        "--conf",
        f"spark.pyspark.driver.python={sys.executable}",
        "--conf",
        "spark.driver.host=127.0.0.1",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.executor.memory=512m",
        "--conf",
        "spark.executor.cores=1",
        "--conf",
        "spark.cores.max=2",
        "--conf",
        "spark.sql.shuffle.partitions=2",
        "--driver-memory",
        "1g",
        str(JOB_FILE),
        *_args(repo, entity_path, output, as_known_at=True),
    ]
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=480,
        start_new_session=True,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    manifest = json.loads(proc.stdout.strip().splitlines()[-1])
    assert manifest["tables"]["card_merchant"]["version"] == 0
    assert _written(output) == _expected(store, entity_path, as_known_at=True)
    # The job really ran on the cluster: its executors left work folders.
    assert any((tmp_path / "spark-work-0").iterdir()) or any(
        (tmp_path / "spark-work-1").iterdir()
    )


def test_failed_job_leaves_nothing_at_output(spark, feast_repo, tmp_path):
    # The job wrote its Delta files straight at --output: one failing midway
    # left a folder of data files there (a half-made output a reader could
    # see, and which the next run refused as not a training set). It writes
    # under a staging name beside the output now, published whole.
    store, repo, entity_path = feast_repo
    # Spark takes the dataset's schema from one file: this second one, whose
    # card_id is a string, fails in the tasks that write the output.
    bad = pq.read_table(entity_path / "part-0.parquet").set_column(
        1, "card_id", pa.array(["x"] * 9)
    )
    pq.write_table(bad, entity_path / "part-1.parquet")
    output = tmp_path / "out" / "training_set"
    output.parent.mkdir()

    with pytest.raises(Py4JJavaError, match="FAILED_READ_FILE"):
        build_training_set.main(_args(repo, entity_path, output, False))

    assert list(output.parent.iterdir()) == []
    (entity_path / "part-1.parquet").unlink()
    assert build_training_set.main(_args(repo, entity_path, output, False)) == 0
    assert list(output.parent.iterdir()) == [output]
    assert _written(output) == _expected(store, entity_path, False)
