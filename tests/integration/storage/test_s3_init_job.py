"""`featurestore init`, then its job on a project whose data root is a bucket.

The job runs as a user runs it (`featurestore run example`, its own Spark):
the session loads Hadoop's S3A because the data root is on S3, the raw
purchases are read from the bucket and the table is committed there by
Spark's Delta writer. The table is checked against the same aggregation done
with pyarrow from the raw files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from featurestore.services.project import Project
from tests.integration.storage._project import SECRET_VARIABLE, featurestore_yaml
from tests.s3_harness import SECRET_KEY, S3Server

pytestmark = [pytest.mark.spark, pytest.mark.integration]

FEATURESTORE = str(Path(sys.executable).with_name("featurestore"))
TABLE = "customer_purchases"


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"{' '.join(args)} exited {proc.returncode}\n{proc.stderr[-3000:]}"
    )
    assert SECRET_KEY not in proc.stdout + proc.stderr
    return proc.stdout


def _expected(raw: pa.Table) -> list[tuple[int, object, int, float]]:
    """Purchases per customer and UTC day, by pyarrow (the job does it in Spark)."""
    day = pc.floor_temporal(raw["event_time"], unit="day")
    keyed = raw.append_column("day", day)
    grouped = keyed.group_by(["customer_id", "day"]).aggregate(
        [("amount", "count"), ("amount", "sum")]
    )
    return sorted(
        (int(r["customer_id"]), r["day"].date(), int(r["amount_count"]),
         round(float(r["amount_sum"]), 6))
        for r in grouped.to_pylist()
    )  # fmt: skip


def test_the_scaffolded_job_reads_and_publishes_on_s3_through_spark(
    tmp_path: Path, s3_server: S3Server
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FS_")}
    env |= {
        "FS_IVY_DIR": os.environ["FS_IVY_DIR"],
        "FS_DRIVER_MEMORY": "1g",
        "SPARK_LOCAL_IP": "127.0.0.1",
        SECRET_VARIABLE: SECRET_KEY,
    }
    repo = tmp_path / "shop"
    _run([FEATURESTORE, "init", str(repo)], tmp_path, env)
    root = s3_server.prefix("init")
    config = (repo / "featurestore.yaml").read_text()
    options = featurestore_yaml(root, s3_server.options(inline_secret=False))
    (repo / "featurestore.yaml").write_text(config.replace("data_dir: data\n", options))
    project = Project.load(repo, env)
    raw = pq.read_table(repo / "data" / "raw" / "purchases")
    fs, path = project.storage_options.filesystem(f"{root}/raw/purchases")
    pq.write_table(raw, f"{path}/part-0.parquet", filesystem=fs)

    _run([FEATURESTORE, "run", "example"], repo, env)

    location = project.table_uri(TABLE)
    table = DeltaTable(location, storage_options=project.storage_options)
    rows = table.to_pyarrow_table().to_pylist()
    written = sorted(
        (r["customer_id"], r["event_timestamp"].date(), r["purchase_count_1d"],
         round(r["amount_1d"], 6))
        for r in rows
    )  # fmt: skip
    assert written == _expected(raw)
    (commit,) = table.history()
    assert str(commit["engineInfo"]).startswith("Apache-Spark/")
    assert json.loads(commit["userMetadata"])["job"] == "example"
