"""A small demo-like project for the console: real jobs, Delta, feast, training set.

``build_project`` copies this repository's feature_repo (views, services,
permissions), adds two later versions of the customer_spend contract (one
compatible, one breaking) so diffs have something to show, generates seeded
raw events (malformed rows included), runs the real Spark jobs twice (two
runs, two Delta versions, rows quarantined with their reasons), runs the real
``feast apply`` and ``feast materialize``, and writes one training set through
the functions the service's GetHistoricalFeatures uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[3]
FEAST = str(Path(sys.executable).parent / "feast")
RUNS = ("run-1", "run-2")

COMPATIBLE = ("owner: risk-features@example.com", "owner: risk-ml@example.com")
BREAKING = (
    "  - name: spend_7d\n    type: float64\n    nullable: false\n    checks:\n"
    "      - greater_than_or_equal_to: 0\n",
    "  - name: spend_7d\n    type: float64\n    nullable: false\n    checks:\n"
    "      - greater_than_or_equal_to: 0\n      - less_than_or_equal_to: 1000000\n",
)


@dataclass(frozen=True)
class ConsoleProject:
    """Where the built project is."""

    repo: Path
    data: Path

    def env(self) -> dict[str, str]:
        """The environment a console or feast process needs for it (a
        PYTHONPATH already set stays first: it may say where featurestore is)."""
        path = os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"), str(REPO))))
        return {**os.environ, "FS_DATA_DIR": str(self.data), "PYTHONPATH": path}


def _contract_versions(contracts: Path) -> None:
    folder = contracts / "customer_spend"
    text = (folder / "1.0.0.yaml").read_text(encoding="utf-8")
    compatible = (
        text.replace("version: 1.0.0", "version: 1.1.0")
        .replace(*COMPATIBLE)
        .replace("freshness: 7d", "freshness: 3d")
    ) + "min_rows: 1\n"
    assert compatible.count("1.1.0") == 1 and COMPATIBLE[1] in compatible
    (folder / "1.1.0.yaml").write_text(compatible, encoding="utf-8")
    breaking = compatible.replace("version: 1.1.0", "version: 2.0.0").replace(*BREAKING)
    assert "less_than_or_equal_to" in breaking
    (folder / "2.0.0.yaml").write_text(breaking, encoding="utf-8")


def _feast(*args: str, project: ConsoleProject) -> None:
    proc = subprocess.run(
        [FEAST, *args],
        cwd=project.repo,
        env=project.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _run_jobs(project: ConsoleProject) -> None:
    from featurestore.spark_jobs.jobs import build_customer_spend, build_merchant_risk
    from featurestore.spark_jobs.jobs import generate_raw_events as generate

    small = ["--transactions", "3000", "--customers", "150", "--merchants", "20"]
    assert generate.main([*small, "--days", "10", "--data-dir", str(project.data)]) == 0
    for run in RUNS:
        for job in (build_customer_spend, build_merchant_risk):
            args = [
                "--data-dir", str(project.data),
                "--contracts-dir", str(project.repo / "contracts"),
                "--run-id", run, "--master", "local[2]",
                "--contract-version", "1.0.0",
            ]  # fmt: skip
            assert job.main(args) == 0, job.__name__


def _training_set(project: ConsoleProject) -> None:
    from feast import FeatureStore

    from featurestore.services.offline import (
        HistoricalRequest,
        get_historical_features,
    )
    from featurestore.services.server.training_sets import write_training_set

    now = datetime.now(UTC)
    entity = pa.table(
        {
            "customer_id": pa.array([1, 2, 3], pa.int64()),
            "merchant_id": ["M0001", "M0002", "M0003"],
            "event_timestamp": pa.array(
                [now - timedelta(days=d) for d in (1, 2, 3)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    store = FeatureStore(repo_path=str(project.repo))
    result = get_historical_features(
        store, HistoricalRequest(entity=entity, features="fraud_model_v1")
    )
    root = project.data / "training_sets"
    write_training_set(
        str(root / "fraud" / "train.parquet"),
        "parquet",
        result.rows,
        result.manifest.to_json(),
        str(root),
    )


def build_project(root: Path) -> ConsoleProject:
    """Build the project under ``root`` (needs the shared Spark session first)."""
    project = ConsoleProject(root / "feature_repo", root / "data")
    shutil.copytree(
        REPO / "feature_repo",
        project.repo,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    _contract_versions(project.repo / "contracts")
    _run_jobs(project)
    _feast("apply", project=project)
    end = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    start = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    _feast("materialize", start, end, project=project)
    previous = os.environ.get("FS_DATA_DIR")
    os.environ["FS_DATA_DIR"] = str(project.data)  # the repo's table_uri() reads it
    try:
        _training_set(project)
    finally:
        if previous is None:
            os.environ.pop("FS_DATA_DIR", None)
        else:
            os.environ["FS_DATA_DIR"] = previous
    return project


if (
    __name__ == "__main__"
):  # build one by hand: python -m tests.integration.ui._project DIR
    from featurestore.spark_jobs.session import build_spark_session

    build_spark_session("console-project", "local[2]", shuffle_partitions=2)
    print(build_project(Path(sys.argv[1]).resolve()))
