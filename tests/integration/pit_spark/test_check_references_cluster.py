"""Custom checks by reference give one verdict on cluster executors and in the service.

The check module lives in a temporary folder that is only on PYTHONPATH: the
driver's (where the service-side verdict runs) and, through
``spark.executorEnv.PYTHONPATH``, the executors' Python workers, which import
it themselves when they judge a batch (the contract names the check, it does
not carry the function). A driver-side registry entry would never get there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from featurestore.spark_jobs.session import DELTA_PACKAGE, IVY_DIR
from tests.integration.pit_spark.test_build_training_set import (  # noqa: F401
    PYSPARK_HOME,
    spark_cluster,
)

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]

CHECKS_PY = """
import os

import pandas as pd

with open(os.environ["CHECKS_MARKER"], "a") as marker:  # who imported us
    marker.write(f"{os.getpid()}\\n")


def positive_amount(values: pd.Series) -> pd.Series:
    return values > 0


def amount_below_limit(frame: pd.DataFrame, columns) -> pd.Series:
    amount, limit = columns
    return (frame[amount] <= frame[limit]) | frame[amount].isna()
"""

CONTRACT = """
name: payments
version: 1.0.0
owner: team@example.com
entity_keys: [customer_id]
event_timestamp: event_timestamp
created_timestamp: created_timestamp
freshness: 7d
max_failure_ratio: 0.5
columns:
  - {name: customer_id, type: int64, nullable: false}
  - {name: event_timestamp, type: timestamp, nullable: false}
  - {name: created_timestamp, type: timestamp, nullable: false}
  - {name: amount, type: float64, nullable: true,
     checks: [{check: "cluster_checks:positive_amount"}]}
  - {name: limit, type: float64, nullable: false}
row_checks:
  - "cluster_checks:amount_below_limit": [amount, limit]
"""

DRIVER_PY = """
import json
import os
import sys
from datetime import UTC, datetime

import pyarrow as pa

from featurestore.services.contracts.model import parse_contract
from featurestore.services.contracts.verdict import row_reasons
from featurestore.spark_jobs.session import build_spark_session
from featurestore.spark_jobs.validate import REASONS_COLUMN, with_verdicts

contract = parse_contract(open(sys.argv[1]).read())
n = 40
stamps = pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * n, pa.timestamp("us", "UTC"))
table = pa.table({
    "customer_id": pa.array(range(n), pa.int64()),
    "event_timestamp": stamps,
    "created_timestamp": stamps,
    "amount": pa.array([None if i % 7 == 0 else float(i % 5 - 1) for i in range(n)]),
    "limit": pa.array([float(i % 3) for i in range(n)]),
})
spark = build_spark_session("check-references")
df = spark.createDataFrame(table.to_pandas()).repartition(4)
judged = with_verdicts(contract, df).select("customer_id", REASONS_COLUMN).toArrow()
executor = {
    row["customer_id"]: sorted((r["column"], r["check"]) for r in row[REASONS_COLUMN])
    for row in judged.to_pylist()
}
service = [sorted((r["column"], r["check"]) for r in row)
           for row in row_reasons(contract, table).to_pylist()]
print(json.dumps({
    "driver_pid": os.getpid(),
    "executor": [executor[i] for i in range(n)],
    "service": service,
}))
"""


def test_executor_verdict_equals_service_verdict(spark_cluster, tmp_path):  # noqa: F811
    master, env = spark_cluster
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "cluster_checks.py").write_text(textwrap.dedent(CHECKS_PY))
    (tmp_path / "contract.yaml").write_text(CONTRACT)
    (tmp_path / "driver.py").write_text(DRIVER_PY)
    marker = tmp_path / "imported_by"
    env = {**env, "PYTHONPATH": str(checks), "CHECKS_MARKER": str(marker)}
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
        f"spark.executorEnv.PYTHONPATH={checks}",
        "--conf",
        f"spark.executorEnv.CHECKS_MARKER={marker}",
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
        str(tmp_path / "driver.py"),
        str(tmp_path / "contract.yaml"),
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
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    assert out["executor"] == out["service"]
    flagged = {tuple(r) for row in out["service"] for r in row}
    assert flagged == {
        ("amount", "cluster_checks:positive_amount"),
        ("amount,limit", "cluster_checks:amount_below_limit"),
    }
    # Imported by the driver (contract load, service verdict) and, on their
    # own, by executor Python workers.
    importers = {int(p) for p in marker.read_text().split()}
    assert out["driver_pid"] in importers
    assert importers - {out["driver_pid"]}
