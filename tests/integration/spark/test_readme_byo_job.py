"""The README's "Bring your own job" contract and job, run exactly as written."""

from __future__ import annotations

import importlib.util
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
    contract = _block("readme-byo-contract")
    contract_file = tmp_path / contract.splitlines()[0].removeprefix("# ")
    contract_file.parent.mkdir(parents=True)
    contract_file.write_text(contract)
    job_file = tmp_path / "jobs" / "daily_sales.py"
    job_file.parent.mkdir()
    job_file.write_text(_block("readme-byo-job"))
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("daily_sales", job_file)
    assert spec and spec.loader
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)

    assert job.main("run-1") == 0
    table = str(tmp_path / "lake" / "store_sales")
    first = DeltaTable(table).to_pyarrow_table().sort_by("store_id").to_pylist()
    assert [(r["store_id"], r["day"], r["sales"]) for r in first] == [
        (1, date(2026, 11, 1), 20.0),
        (2, date(2026, 11, 2), 30.0),
    ]
    assert job.main("run-1") == 0  # a retry of the same run
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
