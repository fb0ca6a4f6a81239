"""Built-in jobs on bad input: one line naming what is wrong, no JVM stack."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.spark_jobs.paths import DataPaths

pytestmark = [pytest.mark.integration, pytest.mark.spark]

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO / "feature_repo" / "contracts"


def _args(data_dir: Path) -> list[str]:
    return ["--data-dir", str(data_dir), "--contracts-dir", str(CONTRACTS),
            "--master", "local[2]"]  # fmt: skip


def test_raw_input_lacking_columns_names_them_in_one_line(
    spark: object, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was Spark's AnalysisException (UNRESOLVED_COLUMN ingest_time) and
    # ~100 lines of JVM stack.
    from featurestore.spark_jobs.jobs import build_customer_spend

    raw = Path(DataPaths.from_root(data_dir).raw_transactions)
    raw.mkdir(parents=True)
    table = pa.table({"transaction_id": ["t1"], "customer_id": [1], "amount": [2.5]})
    pq.write_table(table, raw / "part-0.parquet")
    assert build_customer_spend.main(_args(data_dir)) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert "[SCHEMA_MISMATCH]" in line
    assert "status, event_time, ingest_time" in line and str(raw) in line


@pytest.mark.parametrize("folder", [False, True])
def test_a_local_input_that_is_not_parquet_says_so(
    spark: object, tmp_path: Path, folder: bool
) -> None:
    # `featurestore run build_training_set --entity-path ents.csv` said
    # STORAGE_UNAVAILABLE: "the storage did not answer or refused ...;
    # check storage_options".
    from featurestore.spark_jobs.errors import ConfigError, Reason
    from featurestore.spark_jobs.io import read_parquet

    where = tmp_path / "ents"
    if folder:
        where.mkdir()
        (where / "part-0.parquet").write_text("customer_id,event_timestamp\n1,x\n")
    else:
        where.write_text("customer_id,event_timestamp\n1,2026-01-01\n")
    with pytest.raises(ConfigError) as info:
        read_parquet(spark, where)  # type: ignore[arg-type]
    assert info.value.reason == Reason.CONFIG_INVALID
    assert info.value.metadata["path"] == str(where)
    assert "as Parquet" in str(info.value)
