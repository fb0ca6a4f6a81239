"""A publish onto a full or read-only local disk: one TABLE_NOT_WRITABLE error.

It was an uncaught Py4JJavaError (~600 lines of JVM stack) in every mode. Real
Spark and Delta on a real 1 MiB tmpfs (tests/full_disk.py: needs root, else
skipped); the table is made first, then the disk filled or remounted read-only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from functools import reduce
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from py4j.protocol import Py4JJavaError

from featurestore.services.contracts import Contract, parse_contract
from featurestore.spark_jobs import Reason, TableNotWritableError, publish
from featurestore.spark_jobs.io import append_arrow
from featurestore.spark_jobs.io._quiet import WRITE_FAILURE_LOGGERS
from featurestore.spark_jobs.io._translate import table_written
from tests.full_disk import fill, full_tmpfs
from tests.integration.spark.test_publish_modes import (
    CONTRACT_YAML,
    DAY1,
    DAY2,
    MODES,
    _frame,
    _row,
)
from tests.integration.spark.test_write_conflicts import _jvm_log

pytestmark = [pytest.mark.spark, pytest.mark.integration]

CONTRACTS = Path(__file__).resolve().parents[3] / "feature_repo" / "contracts"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return parse_contract(CONTRACT_YAML, "store_sales/1.0.0.yaml")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, room made for a first publish (refilled by the test)."""
    with full_tmpfs(tmp_path / "small") as mount:
        (mount / "filler").unlink()
        yield mount


def _first_version(spark: Any, contract: Contract, table: Path) -> int:
    frame = _frame(spark, [_row(1, DAY1)])
    return publish(frame, contract, str(table), job="t", profile=False).version or 0


def _second_batch(spark: Any, failing: int = 0) -> Any:
    rows = [_row(2, DAY2), _row(1, DAY1, 5.0, 9), _row(3, DAY2), _row(4, DAY2)]
    rows += [_row(0, DAY2)] * failing  # store_id >= 1 fails
    return _frame(spark, rows)


def _assert_one_line(error: TableNotWritableError, table: Path, name: str) -> None:
    assert error.reason == Reason.TABLE_NOT_WRITABLE
    assert error.metadata == {"table": str(table), "errno": name}
    assert "\n" not in str(error) and name in str(error)


def _unchanged(table: Path, version: int) -> None:
    held = DeltaTable(str(table))
    assert held.version() == version
    assert held.to_pyarrow_table().column("store_id").to_pylist() == [1]


@pytest.mark.parametrize("mode", MODES)
def test_a_full_disk_is_table_not_writable_and_the_table_stays(
    spark: Any, contract: Contract, disk: Path, mode: str
) -> None:
    table = disk / "store_sales"
    version = _first_version(spark, contract, table)
    fill(disk)
    with pytest.raises(TableNotWritableError) as info:
        publish(_second_batch(spark), contract, str(table), mode=mode,  # type: ignore[arg-type]
                job="t", profile=False)  # fmt: skip
    _assert_one_line(info.value, table, "ENOSPC")
    _unchanged(table, version)


@pytest.mark.parametrize("mode", ["merge", "overwrite"])
def test_a_read_only_disk_is_table_not_writable_and_the_table_stays(
    spark: Any, contract: Contract, disk: Path, mode: str
) -> None:
    table = disk / "store_sales"
    version = _first_version(spark, contract, table)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    with pytest.raises(TableNotWritableError) as info:
        publish(_second_batch(spark), contract, str(table), mode=mode,  # type: ignore[arg-type]
                job="t", profile=False)  # fmt: skip
    _assert_one_line(info.value, table, "EROFS")
    _unchanged(table, version)


def test_a_quarantine_write_on_a_full_disk_names_the_quarantine_table(
    spark: Any, contract: Contract, disk: Path
) -> None:
    table = disk / "store_sales"
    version = _first_version(spark, contract, table)
    fill(disk)
    with pytest.raises(TableNotWritableError) as info:
        publish(_second_batch(spark, failing=1), contract, str(table), mode="merge",
                job="t", profile=False)  # fmt: skip
    _assert_one_line(info.value, disk / "store_sales_quarantine", "ENOSPC")
    _unchanged(table, version)


def test_a_job_on_a_full_disk_exits_1_with_one_line(
    spark: Any, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # r08: `featurestore run` ended in a Py4JJavaError traceback through click.
    from featurestore.spark_jobs.jobs import build_customer_spend, generate_raw_events

    raw = ["--transactions", "300", "--customers", "30", "--merchants", "5",
           "--days", "3", "--data-dir", str(data_dir)]  # fmt: skip
    assert generate_raw_events.main(raw) == 0
    args = ["--data-dir", str(data_dir), "--contracts-dir", str(CONTRACTS),
            "--master", "local[2]"]  # fmt: skip
    with full_tmpfs(data_dir / "features") as features:
        (features / "filler").unlink()
        assert build_customer_spend.main(args) == 0
        table = features / "customer_spend"
        version = DeltaTable(str(table)).version()
        fill(features)
        capsys.readouterr()
        assert build_customer_spend.main(args) == 1
        [line] = capsys.readouterr().err.splitlines()
        assert "[TABLE_NOT_WRITABLE]" in line and "ENOSPC" in line
        assert DeltaTable(str(table)).version() == version


@pytest.mark.parametrize("mode", ["merge", "overwrite"])
def test_a_failed_write_task_logs_no_java_stack(
    spark: Any, contract: Contract, disk: Path, mode: str
) -> None:
    # Spark's executor, scheduler and writer logged the failed task at ERROR
    # with its whole Java stack (~300 lines) before the one-line error.
    table = disk / "store_sales"
    _first_version(spark, contract, table)
    fill(disk)
    with _jvm_log(spark) as logged, pytest.raises(TableNotWritableError):
        publish(_second_batch(spark), contract, str(table), mode=mode,  # type: ignore[arg-type]
                job="t", profile=False)  # fmt: skip
    assert "No space left on device" not in str(logged.toString())
    # ... and only while writing: they follow the session's level again.
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j
    root = log4j.LogManager.getRootLogger().getLevel()
    for name in WRITE_FAILURE_LOGGERS:
        assert log4j.LogManager.getLogger(name).getLevel().equals(root), name


@pytest.mark.parametrize(
    ("java_class", "message", "name"),
    [
        # What Hadoop's local file system raises, as seen on Linux:
        ("java.io.FileNotFoundException", "/t/part-0.parquet (Permission denied)",
         "EACCES"),
        ("java.io.FileNotFoundException", "/t/part-0.parquet (Read-only file system)",
         "EROFS"),
        ("java.io.IOException", "No space left on device", "ENOSPC"),
        # A folder it could not create (a table folder mode 555): no errno.
        ("java.io.IOException", "Mkdirs failed to create file:/t/day=1 (exists=false, "
         "cwd=file:/w)", ""),
    ],
)  # fmt: skip
def test_a_local_refusal_in_the_java_cause_chain_is_table_not_writable(
    spark: Any, java_class: str, message: str, name: str
) -> None:
    jvm = spark.sparkContext._jvm
    inner = reduce(getattr, java_class.split("."), jvm)(message)
    outer = jvm.org.apache.spark.SparkException("Task failed while writing", inner)
    with pytest.raises(TableNotWritableError) as info, table_written("/t"):
        raise Py4JJavaError("calling o1.save", outer)
    assert info.value.metadata == {"table": "/t", **({"errno": name} if name else {})}


def test_another_java_io_failure_is_not_table_not_writable(spark: Any) -> None:
    jvm = spark.sparkContext._jvm
    inner = jvm.java.io.IOException("Stream closed")
    outer = jvm.org.apache.spark.SparkException("Task failed while writing", inner)
    with pytest.raises(Py4JJavaError), table_written("/t"):
        raise Py4JJavaError("calling o1.save", outer)


def test_a_delta_rs_append_on_a_full_disk_is_table_not_writable(disk: Path) -> None:
    # Profiles are appended with delta-rs, whose DeltaError only quotes the
    # OS error: "... No space left on device (os error 28)".
    table = disk / "store_sales_profile"
    append_arrow(pa.table({"v": [1, 2]}), str(table), metadata={"n": 1})
    fill(disk)
    with pytest.raises(TableNotWritableError) as info:
        append_arrow(pa.table({"v": list(range(10_000))}), str(table),
                     metadata={"n": 2})  # fmt: skip
    _assert_one_line(info.value, table, "ENOSPC")
    assert DeltaTable(str(table)).version() == 0


def test_a_new_table_on_a_read_only_disk_is_table_not_writable(
    spark: Any, contract: Contract, disk: Path
) -> None:
    # The first thing written is the commit lock, by Python: an OSError.
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    table = disk / "store_sales"
    with pytest.raises(TableNotWritableError) as info:
        publish(_second_batch(spark), contract, str(table), job="t", profile=False)
    _assert_one_line(info.value, table, "EROFS")
    assert not table.exists()
