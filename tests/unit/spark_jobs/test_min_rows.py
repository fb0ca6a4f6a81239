"""A contract's min_rows on Spark: a smaller batch is refused whole, in every mode."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from deltalake import DeltaTable

from featurestore.services.contracts import Contract, parse_contract
from featurestore.spark_jobs import ContractViolationError, Reason, publish
from featurestore.spark_jobs.paths import DataPaths

pytestmark = [pytest.mark.spark, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[3]
SPEND = REPO / "feature_repo" / "contracts" / "customer_spend" / "1.0.0.yaml"
T0 = datetime(2026, 10, 1, tzinfo=UTC)
KEY = ["customer_id", "event_timestamp"]


def _contract(**fields: Any) -> Contract:
    data = yaml.safe_load(SPEND.read_text())
    data.update(fields)
    return parse_contract(yaml.safe_dump(data, sort_keys=False), "1.0.0.yaml")


def _frame(spark: Any, contract: Contract, customers: list[int], minute: int) -> Any:
    rows = []
    for i, customer in enumerate(customers):
        event = T0 + timedelta(minutes=minute + i)
        created = event + timedelta(seconds=30)
        rows.append((customer, event, created, 1.0, 1, 2.0, 2, 3.0, 3))
    types = {"int64": "long", "float64": "double", "timestamp": "timestamp"}
    schema = ", ".join(f"{c.name} {types[c.type]}" for c in contract.columns)
    return spark.createDataFrame(rows, schema)


def _rows(table: Path) -> list[dict[str, Any]]:
    arrow = DeltaTable(str(table)).to_pyarrow_table()
    return arrow.sort_by([(c, "ascending") for c in KEY]).to_pylist()


def test_a_batch_below_min_rows_is_refused_in_every_mode_and_quarantines_nothing(
    spark, data_dir
):
    contract = _contract(min_rows=3, partition_by=["customer_id"])
    table = data_dir / "features" / "customer_spend"
    quarantine = data_dir / "features" / "customer_spend_quarantine"

    def run(customers: list[int], minute: int, mode: Any) -> Any:
        df = _frame(spark, contract, customers, minute)
        return publish(
            df, contract, "customer_spend", mode=mode, job="t", data_root=data_dir
        )

    # Exactly min_rows publishes; so does the next batch of that size (min_rows
    # is per batch, not the table's total).
    assert run([1, 2, 3], 0, "overwrite").version == 0
    assert run([1, 2, 3], 10, "append").version == 1
    before = _rows(table)
    assert len(before) == 6

    for mode in ("overwrite", "append", "merge", "replace_partitions"):
        # Two rows, one failing (customer_id 0): the batch is refused whole.
        with pytest.raises(ContractViolationError) as info:
            run([4, 0], 100, mode)
        assert info.value.reason is Reason.TOO_FEW_ROWS, mode
        assert info.value.metadata == {
            "contract": "customer_spend@1.0.0",
            "rows_in": "2",
            "min_rows": "3",
        }
        assert "\n" not in str(info.value)
        assert DeltaTable(str(table)).version() == 1, mode
        assert _rows(table) == before, mode
        assert not quarantine.exists(), mode


def test_an_empty_upstream_with_min_rows_keeps_the_table_and_the_job_exits_1(
    spark, tmp_path, data_dir, capsys
):
    from featurestore.spark_jobs.jobs import build_customer_spend
    from featurestore.spark_jobs.jobs import generate_raw_events as generate

    contracts = tmp_path / "contracts"
    (contracts / "customer_spend").mkdir(parents=True)
    (contracts / "customer_spend" / "1.0.0.yaml").write_text(
        _contract(min_rows=1).to_yaml()
    )
    small = ["--transactions", "40", "--customers", "4", "--merchants", "2"]
    assert generate.main([*small, "--days", "2", "--data-dir", str(data_dir)]) == 0
    args = [
        "--data-dir",
        str(data_dir),
        "--contracts-dir",
        str(contracts),
        "--master",
        "local[2]",
    ]
    assert build_customer_spend.main([*args, "--run-id", "full"]) == 0
    paths = DataPaths.from_root(data_dir)
    table = Path(paths.feature_table("customer_spend"))
    before = _rows(table)
    assert before
    # The upstream input arrives empty: same schema, no rows.
    raw = Path(paths.raw_transactions)
    empty = tmp_path / "empty_transactions"
    spark.read.parquet(str(raw)).limit(0).write.parquet(str(empty))
    shutil.rmtree(raw)
    empty.rename(raw)
    capsys.readouterr()

    assert build_customer_spend.main([*args, "--run-id", "empty"]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "[TOO_FEW_ROWS]" in err[0]
    assert "customer_spend@1.0.0" in err[0]
    assert "0 rows" in err[0] and "min_rows 1" in err[0]
    assert DeltaTable(str(table)).version() == 0
    assert _rows(table) == before
    assert not Path(paths.quarantine_table("customer_spend")).exists()
