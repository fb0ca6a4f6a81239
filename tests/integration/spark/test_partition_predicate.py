"""The replace-partitions predicate means the same to Spark and to delta-rs.

Spark SQL reads ``\\`` in a string literal as an escape, DataFusion (delta-rs)
as a backslash; a partition value holding a quote or a backslash must still
select exactly its own partition under both writers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable, QueryBuilder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.services.storage import StorageOptions
from featurestore.spark_jobs import _delta_rs
from featurestore.spark_jobs.io import write_delta
from featurestore.spark_jobs.publish import partition_predicate
from featurestore.spark_jobs.publish._partitions import _string_literal

pytestmark = [pytest.mark.spark, pytest.mark.integration]

# Not "": Hive-style partitions store an empty string as NULL.
AWKWARD = ["it's", "a\\b", "a\\\\b", "\\'", "''", "plain", "x'\\'y"]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=st.text(alphabet=st.sampled_from("ab'\\\"%_ é\n"), max_size=8))
def test_a_string_literal_reads_back_as_itself_in_both_engines(
    spark: Any, value: str
) -> None:
    literal = _string_literal(value)
    assert spark.sql(f"SELECT {literal} AS v").first()["v"] == value
    assert _datafusion_value(literal) == value


def _datafusion_value(literal: str) -> str:
    import pyarrow as pa

    table = pa.table(QueryBuilder().execute(f"SELECT {literal} AS v").read_all())
    return str(table.column("v")[0].as_py())


def _rows(pairs: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"r": r, "n": n} for r, n in pairs]


@pytest.mark.parametrize("writer", ["spark", "delta-rs"])
def test_replacing_awkward_partitions_touches_only_them(
    spark: Any, tmp_path: Path, writer: str
) -> None:
    location = str(tmp_path / "t")
    before = [(v, 1) for v in AWKWARD]
    spark_rows = spark.createDataFrame(_rows(before), "r string, n int")
    write_delta(spark_rows, location, mode="overwrite", metadata={}, partition_by=["r"])
    replaced = ["it's", "a\\b", "x'\\'y"]
    batch = spark.createDataFrame(_rows([(v, 2) for v in replaced]), "r string, n int")
    predicate = partition_predicate(["r"], [(v,) for v in replaced])
    if writer == "spark":
        write_delta(
            batch, location, mode="overwrite", metadata={}, partition_by=["r"],
            replace_where=predicate,
        )  # fmt: skip
    else:
        _delta_rs.write(
            batch, location, StorageOptions(), mode="overwrite", stamp="{}",
            partition_by=["r"], replace_where=predicate,
        )  # fmt: skip
    # Brute force: a row keeps its value unless its partition was replaced.
    expected = sorted(
        [(v, 2) for v in replaced] + [(v, 1) for v in AWKWARD if v not in replaced]
    )
    table = DeltaTable(location).to_pyarrow_table()
    rows = zip(table["r"].to_pylist(), table["n"].to_pylist(), strict=True)
    assert sorted(rows) == expected
