"""The README's "Bring your own job" contract and job, run exactly as written."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable

pytestmark = [pytest.mark.spark, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[3]


def _block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    found = re.search(
        rf"<!-- {marker}:begin -->\n```\w+\n(.*?)```\n<!-- {marker}:end -->", text, re.S
    )
    assert found, f"README has no {marker} block"
    return found.group(1)


def test_the_readme_job_publishes_and_a_retried_run_changes_nothing(
    spark, tmp_path, monkeypatch, capsys
):
    # In a project made by `featurestore init`, run by `featurestore run` from
    # another folder: every location is the project's (the job used to read
    # ./contracts and write ./lake, and main(run_id) got main(argv)'s list).
    from featurestore.services.cli import main as featurestore
    from featurestore.services.project import scaffold

    project = tmp_path / "shop"
    scaffold(project)
    contract = _block("readme-byo-contract")
    contract_file = project / contract.splitlines()[0].removeprefix("# ")
    contract_file.parent.mkdir(parents=True)
    contract_file.write_text(contract)
    (project / "jobs" / "daily_sales.py").write_text(_block("readme-byo-job"))
    config = project / "featurestore.yaml"
    config.write_text(config.read_text() + "  daily_sales: jobs.daily_sales\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = ["run", "--repo", str(project), "daily_sales", "run-1"]

    assert featurestore(run) == 0, capsys.readouterr().err
    table = str(project / "data" / "features" / "store_sales")
    first = DeltaTable(table).to_pyarrow_table().sort_by("store_id").to_pylist()
    assert [(r["store_id"], r["day"], r["sales"]) for r in first] == [
        (1, date(2026, 11, 1), 20.0),
        (2, date(2026, 11, 2), 30.0),
    ]
    assert featurestore(run) == 0  # a retry of the same run
    again = DeltaTable(table).to_pyarrow_table().sort_by("store_id").to_pylist()
    assert [(r["store_id"], r["sales"]) for r in again] == [(1, 20.0), (2, 30.0)]
    history = DeltaTable(table).history()
    stamp = json.loads(history[0]["userMetadata"])
    assert (stamp["job"], stamp["run_id"], stamp["mode"], stamp["contract"]) == (
        "daily_sales",
        "run-1",
        "replace_partitions",
        "store_sales@1.0.0",
    )
    assert "version 1:" in capsys.readouterr().out
    assert list(elsewhere.iterdir()) == []  # nothing written where it ran from


def test_a_retried_run_quarantines_each_failing_row_once(spark, tmp_path):
    # created_timestamp is stamped when the job runs (as the README's and
    # init's jobs do): a retry's failing rows differed there and were added
    # again on every retry.
    from pyspark.sql import functions as F

    from featurestore.services.contracts import parse_contract
    from featurestore.spark_jobs import ContractViolationError, publish

    contract = parse_contract(_block("readme-byo-contract"), "store_sales/1.0.0.yaml")
    rows = spark.createDataFrame(
        [(1, "2026-11-01", 20.0), (2, "2026-11-02", -30.0), (2, "2026-11-02", -31.0)],
        "store_id long, d string, sales double",
    ).select(
        "store_id",
        F.to_date("d").alias("day"),
        F.to_timestamp(F.date_add(F.to_date("d"), 1)).alias("event_timestamp"),
        F.current_timestamp().alias("created_timestamp"),
        "sales",
    )
    table = str(tmp_path / "store_sales")
    for _ in range(3):
        with pytest.raises(ContractViolationError):  # 2 of 3 fail: over 5%
            publish(rows, contract, table, mode="append", job="t", run_id="retry-1")
    quarantined = DeltaTable(f"{table}_quarantine").to_pyarrow_table()
    assert sorted(quarantined.column("sales").to_pylist()) == [-31.0, -30.0]
    assert set(quarantined.column("run_id").to_pylist()) == {"retry-1"}
    # Another run id quarantines its own copies.
    with pytest.raises(ContractViolationError):
        publish(rows, contract, table, mode="append", job="t", run_id="retry-2")
    assert DeltaTable(f"{table}_quarantine").to_pyarrow_table().num_rows == 4
