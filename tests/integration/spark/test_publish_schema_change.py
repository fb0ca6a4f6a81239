"""Contract changes meeting an existing table: what a non-overwrite publish accepts.

A column the contract adds joins the table (nullable, null in older rows) on
either engine; a required added column or a changed type is refused before
anything is written, and ``overwrite`` still takes any contract. Each test
runs on Spark's Delta writer and on delta-rs (selected by making
``spark_can_open`` say no, as it says for an object store Spark has no file
system for).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from featurestore.services.contracts import Contract, parse_contract
from featurestore.spark_jobs import ContractViolationError, Reason, publish
from featurestore.spark_jobs.io import _uri, write_delta
from tests.integration.spark.test_publish_modes import (
    CONTRACT_YAML,
    DAY1,
    DAY2,
    _frame,
    _row,
)

pytestmark = [pytest.mark.spark, pytest.mark.integration]

NON_OVERWRITE = ["append", "merge", "replace_partitions"]


@pytest.fixture(params=["spark", "delta-rs"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which engine commits (local tables: Spark unless told it cannot open them)."""
    if request.param == "delta-rs":
        # The one place every io module asks (as _uri.spark_can_open).
        monkeypatch.setattr(_uri, "spark_can_open", lambda spark, location: False)
    return str(request.param)


def _contract(version: str, *columns: str, sales: str = "float64") -> Contract:
    text = CONTRACT_YAML.replace("version: 1.0.0", f"version: {version}")
    if sales != "float64":
        text = text.replace(
            "{name: sales, type: float64, nullable: false,\n"
            "     checks: [{greater_than_or_equal_to: 0}]}",
            f"{{name: sales, type: {sales}, nullable: false}}",
        )
    text += "".join(f"  - {c}\n" for c in columns)
    return parse_contract(text, f"store_sales/{version}.yaml")


BASE = _contract("1.0.0")
BASE_YAML = CONTRACT_YAML
WITH_UNITS = _contract("1.1.0", "{name: units, type: int64, nullable: true}")


def _rows(day, *stores: int, bad: bool = True) -> list[dict[str, Any]]:
    """Rows for ``stores`` on ``day``; with ``bad`` one more fails the contract."""
    return [_row(s, day) for s in stores] + ([_row(99, day, -1.0)] if bad else [])


def _with_units(spark, rows):
    # coalesce(..., 0) makes Spark mark the column NOT NULL, as count() does.
    frame = _frame(spark, rows)
    return frame.withColumn("units", F.coalesce(F.col("sales").cast("long"), F.lit(0)))


def _publish(spark, frame, contract, location, mode, run_id):
    return publish(
        frame, contract, location, mode=mode, job="j", run_id=run_id, profile=False
    )


@pytest.mark.parametrize("mode", NON_OVERWRITE)
def test_an_added_nullable_column_joins_the_table_and_later_merges_work(
    spark, tmp_path: Path, engine, mode
):
    location = str(tmp_path / "store_sales")
    _publish(
        spark, _frame(spark, _rows(DAY1, 1, 2, 6)), BASE, location, "overwrite", "r0"
    )
    frame = _with_units(spark, _rows(DAY2, 3, 4, 7))
    assert not frame.schema["units"].nullable
    report = _publish(spark, frame, WITH_UNITS, location, mode, "r1")
    assert report.version == 1
    # The next merge (and quarantine merge) finds no NOT NULL column missing
    # from the older files.
    frame = _with_units(spark, _rows(DAY1, 1, 5, 8))
    report = _publish(spark, frame, WITH_UNITS, location, "merge", "r2")
    assert report.version == 2
    for table in (location, report.quarantine):
        units = DeltaTable(table).schema().to_arrow()
        assert units.field("units").nullable, table
    rows = DeltaTable(location).to_pyarrow_table().to_pylist()
    units = {r["store_id"]: r["units"] for r in rows}
    assert units[1] == 10 and units[5] == 10 and units[3] == 10
    assert units.get(2, "gone") is None  # older row, never rewritten: null
    quarantined = DeltaTable(report.quarantine).to_pyarrow_table()
    assert sorted(quarantined.column("run_id").to_pylist()) == ["r0", "r1", "r2"]


BREAKING = {
    "required_added": (
        _contract("2.0.0", "{name: units, type: int64, nullable: false}"),
        "required_added",
    ),
    "double_to_string": (_contract("2.0.0", sales="string"), "wrong_types"),
    "unpartitioned": (
        parse_contract(
            BASE_YAML.replace("version: 1.0.0", "version: 2.0.0").replace(
                "partition_by: [day]\n", ""
            ),
            "store_sales/2.0.0.yaml",
        ),
        "partitioning",
    ),
}


def _breaking_frame(spark, case: str, rows):
    if case == "required_added":
        return _with_units(spark, rows)
    if case == "unpartitioned":
        return _frame(spark, rows)
    # "7" fits a double column only by a cast delta-rs would do silently.
    return _frame(spark, rows).withColumn("sales", F.lit("7"))


# The refusal comes before any mode's own work: each case in one mode (and
# every mode once) keeps the run short.
@pytest.mark.parametrize(
    ("mode", "case"),
    [
        ("append", "required_added"),
        ("merge", "double_to_string"),
        ("replace_partitions", "required_added"),
        ("append", "unpartitioned"),
    ],
)
def test_a_breaking_contract_change_is_refused_before_any_write(
    spark, tmp_path: Path, engine, mode, case
):
    location = str(tmp_path / "store_sales")
    _publish(spark, _frame(spark, _rows(DAY1, 1, 2, bad=False)), BASE, location,
             "overwrite", "r0")  # fmt: skip
    contract, problem = BREAKING[case]
    frame = _breaking_frame(spark, case, _rows(DAY1, 1, 3, 4))
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, frame, contract, location, mode, "r1")
    assert info.value.reason == Reason.SCHEMA_MISMATCH
    assert problem in info.value.metadata
    assert DeltaTable(location).version() == 0
    assert not DeltaTable.is_deltatable(f"{location}_quarantine")

    # overwrite rewrites every row, so it takes the new contract.
    report = _publish(spark, frame, contract, location, "overwrite", "r2")
    assert report.version == 1


@pytest.mark.parametrize("mode", ["merge"])
def test_int64_widened_to_float64_is_refused_too(spark, tmp_path: Path, engine, mode):
    location = str(tmp_path / "store_sales")
    frame = _with_units(spark, _rows(DAY1, 1, 2, bad=False))
    _publish(spark, frame, WITH_UNITS, location, "overwrite", "r0")
    widened = _contract("2.0.0", "{name: units, type: float64, nullable: true}")
    frame = _frame(spark, _rows(DAY1, 3)).withColumn("units", F.lit(1.5))
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, frame, widened, location, mode, "r1")
    assert info.value.reason == Reason.SCHEMA_MISMATCH
    assert "units" in info.value.metadata["wrong_types"]
    assert DeltaTable(location).version() == 0


def test_a_column_made_required_is_refused_while_published_rows_hold_null(
    spark, tmp_path: Path, engine
):
    location = str(tmp_path / "store_sales")
    frame = _frame(spark, _rows(DAY1, 1, 2, 3, bad=False)).withColumn(
        "units",
        F.when(F.col("store_id") == 2, F.lit(None)).otherwise(F.lit(4)).cast("long"),
    )
    _publish(spark, frame, WITH_UNITS, location, "overwrite", "r0")
    required = _contract("2.0.0", "{name: units, type: int64, nullable: false}")
    later = _with_units(spark, _rows(DAY2, 1, bad=False))
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, later, required, location, "append", "r1")
    assert info.value.reason == Reason.SCHEMA_MISMATCH
    assert info.value.metadata["nulls_in_required"] == "units=1"
    assert DeltaTable(location).version() == 0

    # Once the rows hold no null (here: the one row rewritten) it is taken.
    fixed = _with_units(spark, _rows(DAY1, 2, bad=False))
    _publish(spark, fixed, WITH_UNITS, location, "merge", "r2")
    report = _publish(spark, later, required, location, "append", "r3")
    assert report.version == 2


def test_the_generic_writer_does_not_evolve_a_schema(spark, tmp_path: Path, engine):
    """Only publish's writers add columns; write_delta (e.g. the profile table's
    append) refuses a frame with a column the table lacks."""
    location = str(tmp_path / "t")
    frame = _frame(spark, _rows(DAY1, 1, bad=False))
    write_delta(frame, location, mode="append", metadata={})
    with pytest.raises(Exception, match=r"(?i)schema"):
        write_delta(_with_units(spark, _rows(DAY1, 2, bad=False)), location,
                    mode="append", metadata={})  # fmt: skip
    assert DeltaTable(location).version() == 0
    assert "units" not in DeltaTable(location).schema().to_arrow().names


def test_failing_rows_of_a_changed_type_are_refused_not_cast_in_quarantine(
    spark, tmp_path: Path
):
    # The quarantine table keeps every contract version's failing rows. A new
    # major that changed units int64 -> float64 had its failing 1.5 merged in
    # as 1 (Delta's MERGE casts to the table's type), publish reporting success;
    # a change no cast covers failed inside Spark with a JVM trace.
    location = str(tmp_path / "store_sales")
    quarantine = tmp_path / "store_sales_quarantine"
    first = _with_units(spark, _rows(DAY1, 1, 2, 3, 4))  # 99 fails (sales < 0)
    _publish(spark, first, WITH_UNITS, location, "overwrite", "r0")
    assert DeltaTable(str(quarantine)).to_pyarrow_table()["units"].to_pylist() == [-1]
    widened = _contract("2.0.0", "{name: units, type: float64, nullable: true}")
    frame = _frame(spark, _rows(DAY1, 5, 6, 7, 8)).withColumn("units", F.lit(1.5))
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, frame, widened, location, "overwrite", "r1")
    assert info.value.reason == Reason.SCHEMA_MISMATCH
    assert info.value.metadata["wrong_types"].startswith("units=")
    assert "Move that quarantine table aside" in str(info.value)
    assert DeltaTable(location).version() == 0
    assert DeltaTable(str(quarantine)).version() == 0
    # Moved aside, the failing row is kept exactly as it came.
    quarantine.rename(tmp_path / "store_sales_quarantine_v1")
    report = _publish(spark, frame, widened, location, "overwrite", "r2")
    assert report.version == 1
    kept = DeltaTable(str(quarantine)).to_pyarrow_table()
    assert kept["units"].to_pylist() == [1.5]
