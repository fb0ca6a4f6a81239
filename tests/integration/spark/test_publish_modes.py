"""The public publish API: its four modes, conflicts, quarantine re-runs, URIs.

Real Spark and Delta on the shared local[2] session; tables are read back with
delta-rs (no JVM), as the serving side reads them. Frames are a few rows each.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.services.contracts import Contract, parse_contract
from featurestore.services.contracts._partitions import directory_name, escape_path_name
from featurestore.spark_jobs import (
    ConfigError,
    ContractViolationError,
    PublishReport,
    Reason,
    publish,
)

pytestmark = [pytest.mark.spark, pytest.mark.integration]

CONTRACT_YAML = """\
name: store_sales
version: 1.0.0
owner: sales@example.com
entity_keys: [store_id]
event_timestamp: event_timestamp
created_timestamp: created_timestamp
freshness: 1d
max_failure_ratio: 0.25
partition_by: [day]
columns:
  - {name: store_id, type: int64, nullable: false,
     checks: [{greater_than_or_equal_to: 1}]}
  - {name: day, type: date, nullable: false}
  - {name: event_timestamp, type: timestamp, nullable: false}
  - {name: created_timestamp, type: timestamp, nullable: false}
  - {name: sales, type: float64, nullable: false,
     checks: [{greater_than_or_equal_to: 0}]}
"""
T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY1, DAY2, DAY3 = (date(2026, 11, d) for d in (1, 2, 3))
SORT = ["day", "store_id", "event_timestamp"]
MODES = ["overwrite", "append", "merge", "replace_partitions"]


@pytest.fixture(scope="module")
def contract() -> Contract:
    return parse_contract(CONTRACT_YAML, "store_sales/1.0.0.yaml")


def _row(
    store: int, day: date, sales: float = 10.0, created_s: int = 0
) -> dict[str, Any]:
    event = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return {
        "store_id": store,
        "day": day,
        "event_timestamp": event,
        "created_timestamp": event + timedelta(hours=1, seconds=created_s),
        "sales": sales,
    }


def _frame(spark: Any, rows: list[dict[str, Any]]) -> Any:
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("store_id", T.LongType()),
            T.StructField("day", T.DateType()),
            T.StructField("event_timestamp", T.TimestampType()),
            T.StructField("created_timestamp", T.TimestampType()),
            T.StructField("sales", T.DoubleType()),
        ]
    )
    return spark.createDataFrame([tuple(r.values()) for r in rows], schema)


def _read(location: str) -> list[dict[str, Any]]:
    table = DeltaTable(location).to_pyarrow_table()
    return table.sort_by([(c, "ascending") for c in SORT]).to_pylist()


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in SORT)


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=_key)


def _stamp(location: str, version: int) -> dict[str, Any]:
    commits = DeltaTable(location).history()
    (commit,) = [c for c in commits if c["version"] == version]
    return dict(json.loads(commit["userMetadata"]))


def _publish(spark, contract, table, rows, mode, run_id, **kw) -> PublishReport:
    return publish(
        _frame(spark, rows), contract, table, mode=mode, job="sales_job",
        run_id=run_id, **kw,
    )  # fmt: skip


def _table(data_dir: Path) -> str:
    return str(data_dir / "features" / "store_sales")


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_stamps_its_commit_and_a_failing_batch_publishes_nothing(
    spark, data_dir, contract, mode
):
    rows = [_row(s, DAY1) for s in (1, 2, 3)]
    report = _publish(spark, contract, "store_sales", rows, mode, "run-1",
                      data_root=data_dir)  # fmt: skip

    table = _table(data_dir)
    assert report.table == table
    assert report.version == DeltaTable(table).version() == 0
    assert _read(table) == _sorted(rows)
    stamp = _stamp(table, 0)
    assert {k: stamp[k] for k in ("job", "run_id", "mode", "contract")} == {
        "job": "sales_job",
        "run_id": "run-1",
        "mode": mode,
        "contract": "store_sales@1.0.0",
    }
    assert stamp["validation"]["published"] == 3
    # Partitioned as the contract says, whatever mode created the table.
    assert DeltaTable(table).metadata().partition_columns == ["day"]

    # 2 of 4 rows fail: over the 25% limit, so the table keeps version 0.
    bad = [_row(4, DAY2), _row(5, DAY2), _row(0, DAY2), _row(6, DAY2, sales=-1.0)]
    with pytest.raises(ContractViolationError) as info:
        _publish(spark, contract, "store_sales", bad, mode, "run-2",
                 data_root=data_dir)  # fmt: skip
    assert info.value.reason is Reason.FAILURE_RATIO_EXCEEDED
    assert DeltaTable(table).version() == 0
    assert _read(table) == _sorted(rows)


def test_append_adds_the_batch(spark, data_dir, contract):
    first, second = [_row(1, DAY1)], [_row(2, DAY1), _row(1, DAY2)]
    _publish(spark, contract, "store_sales", first, "append", "a", data_root=data_dir)
    report = _publish(
        spark, contract, "store_sales", second, "append", "b", data_root=data_dir
    )
    assert report.version == 1
    assert _read(_table(data_dir)) == _sorted(first + second)


def test_merge_upserts_on_keys_and_event_time_and_a_rerun_changes_nothing(
    spark, data_dir, contract
):
    table = _table(data_dir)
    base = [_row(1, DAY1, 1.0), _row(2, DAY1, 2.0), _row(1, DAY2, 3.0)]
    _publish(spark, contract, table, base, "merge", "m0")
    batch = [
        _row(1, DAY1, 10.0, created_s=60),  # newer computation: updates
        _row(2, DAY1, 99.0, created_s=-60),  # older computation: ignored
        _row(3, DAY2, 30.0),  # new key: inserted
    ]

    first = _publish(spark, contract, table, batch, "merge", "m1")
    expected = _sorted([batch[0], base[1], base[2], batch[2]])
    assert _read(table) == expected
    assert first.version == 1
    assert _stamp(table, 1)["mode"] == "merge"

    # The same batch again updates and inserts nothing. Delta still commits the
    # MERGE as a version (it rewrites the files holding matched rows, unchanged):
    # a re-run adds a version whose content equals the previous one.
    again = _publish(spark, contract, table, batch, "merge", "m1")
    assert _read(table) == expected
    assert again.version == 2
    stats = DeltaTable(table).history(1)[0]["operationMetrics"]
    assert int(stats["numTargetRowsUpdated"]) == 0
    assert int(stats["numTargetRowsInserted"]) == 0


def test_replace_partitions_replaces_only_the_batch_days_and_reruns_agree(
    spark, data_dir, contract
):
    table = _table(data_dir)
    day1 = [_row(1, DAY1), _row(2, DAY1)]
    day2 = [_row(1, DAY2), _row(2, DAY2), _row(3, DAY2)]
    _publish(spark, contract, table, day1 + day2, "replace_partitions", "r0")

    new_day2 = [_row(1, DAY2, 5.0), _row(4, DAY2, 6.0)]
    day3 = [_row(1, DAY3)]
    _publish(spark, contract, table, new_day2 + day3, "replace_partitions", "r1")
    expected = _sorted(day1 + new_day2 + day3)
    assert _read(table) == expected

    report = _publish(spark, contract, table, new_day2 + day3, "replace_partitions",
                      "r1")  # fmt: skip
    assert _read(table) == expected
    assert report.version == 2
    operation = DeltaTable(table).history(1)[0]["operationParameters"]
    assert "day" in str(operation)


def test_replace_partitions_needs_partition_by(spark, data_dir):
    no_partitions = parse_contract(
        CONTRACT_YAML.replace("partition_by: [day]\n", ""), "x.yaml"
    )
    with pytest.raises(ConfigError):
        _publish(spark, no_partitions, "store_sales", [_row(1, DAY1)],
                 "replace_partitions", "x", data_root=data_dir)  # fmt: skip
    assert not (data_dir / "features" / "store_sales").exists()


def test_two_publishers_at_once_on_disjoint_partitions_both_land(
    spark, data_dir, contract
):
    """Two threads on one session race to create and fill one table.

    Each batch has a quarantined row too, so both also race on the quarantine
    table; a conflicting commit is retried, none is lost.
    """
    table = _table(data_dir)
    batches = {
        "run-a": [*(_row(s, DAY1) for s in range(1, 9)), _row(0, DAY1)],
        "run-b": [*(_row(s, DAY2) for s in range(1, 9)), _row(0, DAY2)],
    }
    barrier = threading.Barrier(len(batches))
    reports: dict[str, PublishReport] = {}
    errors: list[BaseException] = []

    def run(run_id: str) -> None:
        df = _frame(spark, batches[run_id])
        barrier.wait()
        try:
            reports[run_id] = publish(
                df, contract, table, mode="replace_partitions", job="sales_job",
                run_id=run_id,
            )  # fmt: skip
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    good = [r for rows in batches.values() for r in rows if r["store_id"]]
    assert _read(table) == _sorted(good)
    # Each report names its own commit, stamped with its own run id.
    assert {r.version for r in reports.values()} == {0, 1}
    for run_id, report in reports.items():
        assert report.version is not None
        assert _stamp(table, report.version)["run_id"] == run_id
    quarantined = DeltaTable(f"{table}_quarantine").to_pyarrow_table().to_pylist()
    assert sorted((r["run_id"], r["day"]) for r in quarantined) == [
        ("run-a", DAY1),
        ("run-b", DAY2),
    ]


def test_quarantine_is_not_duplicated_when_a_run_id_is_retried(
    spark, data_dir, contract
):
    table = _table(data_dir)
    rows = [*(_row(s, DAY1) for s in range(1, 9)), _row(0, DAY1), _row(9, DAY1, -1.0)]
    for _ in range(3):
        _publish(spark, contract, table, rows, "merge", "same-run")

    quarantine = f"{table}_quarantine"
    first = DeltaTable(quarantine).to_pyarrow_table().to_pylist()
    assert sorted(r["store_id"] for r in first) == [0, 9]
    assert {r["run_id"] for r in first} == {"same-run"}

    _publish(spark, contract, table, rows, "merge", "new-run")
    after = DeltaTable(quarantine).to_pyarrow_table().to_pylist()
    assert sorted((r["run_id"], r["store_id"]) for r in after) == [
        ("new-run", 0),
        ("new-run", 9),
        ("same-run", 0),
        ("same-run", 9),
    ]
    assert len(_read(table)) == 8


def test_a_file_uri_and_a_path_object_are_tables_too(spark, tmp_path, contract):
    uri = f"file://{tmp_path}/lake/sales"
    report = _publish(spark, contract, uri, [_row(1, DAY1)], "append", "u1")
    assert report.table == uri
    assert report.quarantine == f"{uri}_quarantine"
    assert report.version == 0
    assert _read(str(tmp_path / "lake" / "sales")) == [_row(1, DAY1)]

    path_report = _publish(
        spark, contract, tmp_path / "lake" / "other", [_row(2, DAY1)], "overwrite", "p"
    )
    assert path_report.table == str(tmp_path / "lake" / "other")
    assert _read(path_report.table) == [_row(2, DAY1)]


REGION_YAML = (
    CONTRACT_YAML.replace("partition_by: [day]", "partition_by: [region]").replace(
        "entity_keys: [store_id]\n",
        "entity_keys: [store_id]\nkeys: [store_id, region]\n",
    )
    + "  - {name: region, type: string, nullable: false}\n"
)
REGION_CONTRACT = parse_contract(REGION_YAML, "store_sales/1.0.0.yaml")


def _publish_regions(spark, regions, table, mode, run):
    """Publish one row per store on DAY1, in ``regions[store]``, to REGION_CONTRACT."""
    from pyspark.sql import types as T

    schema = T.StructType(
        [*_frame(spark, [_row(1, DAY1)]).schema.fields,
         T.StructField("region", T.StringType())]
    )  # fmt: skip
    rows = [(*_row(s, DAY1).values(), r) for s, r in regions.items()]
    return publish(
        spark.createDataFrame(rows, schema), REGION_CONTRACT, table, mode=mode,
        job="sales_job", run_id=run,
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["replace_partitions", "merge"])
def test_an_empty_partition_string_is_quarantined_not_stored_as_null(
    spark, tmp_path, mode
):
    # Delta stores a partition value "" as null. Published, the row would change,
    # and a re-run would not find it again (replaceWhere region IN (''), a merge
    # on a key holding region) and add it a second time.
    regions = {1: "north", 2: "south", 3: "", 4: "east", 5: "west"}
    table = str(tmp_path / "sales")
    for run in ("r0", "r1"):
        report = _publish_regions(spark, regions, table, mode, run)
        assert report.validation.by_reason == {"region:partition_not_empty": 1}

    stored = DeltaTable(table).to_pyarrow_table().to_pylist()
    assert sorted((r["store_id"], r["region"]) for r in stored) == [
        (1, "north"), (2, "south"), (4, "east"), (5, "west"),
    ]  # fmt: skip
    quarantined = DeltaTable(f"{table}_quarantine").to_pyarrow_table().to_pylist()
    assert sorted((r["run_id"], r["store_id"], r["region"]) for r in quarantined) == [
        ("r0", 3, ""), ("r1", 3, ""),
    ]  # fmt: skip
    assert {"column": "region", "check": "partition_not_empty"} in quarantined[0][
        "reasons"
    ]


@pytest.mark.parametrize("mode", ["append", "replace_partitions"])
def test_a_partition_directory_too_long_is_quarantined_the_batch_published(
    spark, tmp_path, mode
):
    # "region=" + 300 bytes: no local file system creates that directory, and
    # the write used to fail the whole batch (TASK_WRITE_FAILED, Mkdirs failed).
    # Spark's directory name for null would read back as null.
    regions = {1: "north", 2: "é" * 150, 3: "a/b" * 60, 4: "east", 5: "west",
               6: "north", 7: "south", 8: "east", 9: "west",
               10: "__HIVE_DEFAULT_PARTITION__", 11: "south", 12: "east"}  # fmt: skip
    table = str(tmp_path / "sales")
    report = _publish_regions(spark, regions, table, mode, "r0")
    assert report.validation.by_reason == {"region:partition_path_valid": 3}
    assert report.version == 0
    stored = DeltaTable(table).to_pyarrow_table().to_pylist()
    assert sorted((r["store_id"], r["region"]) for r in stored) == [
        (s, r) for s, r in regions.items() if s not in (2, 3, 10)
    ]
    quarantined = DeltaTable(f"{table}_quarantine").to_pyarrow_table().to_pylist()
    assert sorted(r["store_id"] for r in quarantined) == [2, 3, 10]


@settings(max_examples=200, deadline=None)
@given(column=st.text(max_size=12), value=st.text())
def test_partition_directories_are_named_as_spark_names_them(spark, column, value):
    # The gate's escaping against Spark's own (ExternalCatalogUtils, which
    # Delta's writer calls for each partition directory).
    utils = spark._jvm.org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils
    assert escape_path_name(value) == utils.escapePathName(value)
    if value:  # "" is Hive's default partition (partition_not_empty refuses it)
        assert directory_name(column, value) == utils.getPartitionPathString(
            column, value
        )
