"""Each row of a batch is judged once: the feature table and the quarantine get
the rows of that one verdict, however the job's transform would recompute.

The oracle needs no model of Spark: with a source whose every computation
draws anew (a nondeterministic UDF), every input id must be in exactly one of
the feature table's new rows and the run's quarantine rows, and the counts
stamped on the commits must be theirs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from featurestore.services.contracts import Contract, ContractRegistry
from featurestore.spark_jobs.paths import DataPaths
from featurestore.spark_jobs.publish import publish

pytestmark = [pytest.mark.spark, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 10, 1, tzinfo=UTC)
ROWS = 600


@pytest.fixture(scope="module")
def contract() -> Contract:
    registry = ContractRegistry(REPO / "feature_repo" / "contracts")
    return registry.get("customer_spend", "1.0.0")


def _batch(spark: Any, first_id: int) -> Any:
    """ROWS rows with ids from ``first_id``; each computation of the frame
    makes about 2% of them fail the contract (spend_1h < 0), others each time,
    and stamps another created_timestamp."""
    import random

    from pyspark.sql import functions as F

    spend = F.udf(
        lambda _: -1.0 if random.random() < 0.02 else 1.0, "double"
    ).asNondeterministic()
    start = int(T0.timestamp())
    return spark.range(first_id, first_id + ROWS, numPartitions=4).select(
        F.col("id").alias("customer_id"),
        F.timestamp_seconds(F.lit(start) + F.col("id") * 60).alias("event_timestamp"),
        # As jobs stamp it: a plan holding current_timestamp() is one Spark's
        # cache did not match in the quarantine's MERGE (the batch ran again).
        F.current_timestamp().alias("created_timestamp"),
        spend(F.col("id")).alias("spend_1h"),
        F.lit(1).cast("long").alias("count_1h"),
        F.lit(2.0).alias("spend_24h"),
        F.lit(2).cast("long").alias("count_24h"),
        F.lit(3.0).alias("spend_7d"),
        F.lit(3).cast("long").alias("count_7d"),
    )


def _ids(path: Path, **where: object) -> list[int]:
    table = DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    return [r["customer_id"] for r in table if all(r[k] == v for k, v in where.items())]


@pytest.mark.parametrize("mode", ["append", "merge", "overwrite"])
def test_published_and_quarantined_rows_are_one_verdict(
    spark, tmp_path, contract, mode
) -> None:
    paths = DataPaths.from_root(tmp_path)
    table = paths.feature_table(contract.name)
    quarantine = paths.quarantine_table(contract.name)
    # Two runs: the first makes both tables (plain writes), the second goes
    # through each mode's write and the quarantine's insert-only MERGE.
    for run, first_id in (("run-1", 0), ("run-2", 10_000)):
        before = set(_ids(table)) if run == "run-2" else set()
        held = spark.sparkContext._jsc.getPersistentRDDs().size()
        report = publish(
            _batch(spark, first_id),
            contract,
            contract.name,
            data_root=tmp_path,
            job="test_job",
            run_id=run,
            mode=mode,  # type: ignore[arg-type]
        )
        published = set(_ids(table)) - (before if mode != "overwrite" else set())
        quarantined = _ids(quarantine, run_id=run)
        batch = set(range(first_id, first_id + ROWS))
        failed = report.validation.rows_failed
        assert len(quarantined) == len(set(quarantined)) == failed
        assert published.isdisjoint(quarantined), sorted(published & set(quarantined))
        assert published | set(quarantined) == batch, sorted(
            batch - published - set(quarantined)
        )
        meta = json.loads(DeltaTable(str(table)).history(1)[0]["userMetadata"])
        assert meta["validation"]["quarantined"] == len(quarantined)
        assert meta["validation"]["published"] == len(published)
        # The gate let it through (max_failure_ratio 0.05): at 2% of 600 rows,
        # 30 or more fail with p ~ 7e-6 and none with p ~ 5e-6 (at 3%, 30 or
        # more was p ~ 0.005 a publish: it flaked).
        assert 0 < len(quarantined) < ROWS * 0.05
        # The verdicts' blocks are freed once published.
        assert spark.sparkContext._jsc.getPersistentRDDs().size() == held
