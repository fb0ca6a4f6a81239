"""read_delta: delta-rs's scan gives pyarrow's rows, order and types; exits clean."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from featurestore.services.offline import read_snapshot
from featurestore.services.offline.errors import StorageUnavailableError
from featurestore.services.storage import read_delta

TS = pa.timestamp("us", tz="UTC")
REASON = pa.struct([("column", pa.string()), ("check", pa.string())])
ROOT = Path(__file__).resolve().parents[3]


def _rows(start: int, n: int) -> pa.Table:
    """Every type the serving side reads: text, times, NaN, nulls, lists of structs."""
    ids = range(start, start + n)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [None if i % 7 == 0 else f"n{i % 5}" for i in ids],
            "day": [f"2026-11-0{1 + i % 3}" for i in ids],
            "at": pa.array(
                [datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=i) for i in ids],
                TS,
            ),
            "score": [float("nan") if i % 11 == 0 else i / 3 for i in ids],
            "ok": [i % 2 == 0 for i in ids],
            "reasons": pa.array(
                [[{"column": "name", "check": f"c{i % 4}"}] * (i % 3) for i in ids],
                pa.list_(REASON),
            ),
        }
    )


def _oracle(table: DeltaTable, columns: list[str] | None = None) -> pa.Table:
    """pyarrow's own Parquet reader over the version's live files, in log order.

    Partition values come from the files' hive-style folders, as Delta writes
    them; the result takes the Delta schema's Arrow types.
    """
    schema = pa.schema(table.schema().to_arrow())
    parts = []
    for file in table.file_uris():  # a local table: plain paths
        path = Path(file)
        # The file alone: pq.read_table would also take partition columns
        # from the folder names (pyarrow 20 does, for a single file too).
        rows = pq.ParquetFile(path).read()
        for folder in path.relative_to(table.table_uri.removeprefix("file://")).parts:
            if "=" in folder:
                key, value = folder.split("=", 1)
                rows = rows.append_column(key, pa.array([unquote(value)] * len(rows)))
        parts.append(rows.select(schema.names).cast(schema))
    every = pa.concat_tables(parts) if parts else schema.empty_table()
    return every if columns is None else every.select(columns)


def _same(got: pa.Table, want: pa.Table) -> bool:
    """Equal schemas and values in the same order; NaN equals NaN."""
    if not got.schema.equals(want.schema, check_metadata=True):
        return False
    for name in want.column_names:
        a, b = got[name], want[name]
        if pa.types.is_floating(a.type):
            if not pc.is_nan(a).equals(pc.is_nan(b)):
                return False
            a, b = (pc.if_else(pc.is_nan(x), 0.0, x) for x in (a, b))
        if not a.equals(b):
            return False
    return got.num_rows == want.num_rows


@pytest.fixture
def edited(tmp_path: Path) -> str:
    """Appends, a delete, a merge and an overwrite: versions 0 to 5."""
    path = str(tmp_path / "edited")
    write_deltalake(path, _rows(0, 40))
    write_deltalake(path, _rows(40, 40), mode="append")
    DeltaTable(path).delete("id % 3 = 0")
    (
        DeltaTable(path)
        .merge(_rows(70, 20), "t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    write_deltalake(path, _rows(200, 15), mode="append")
    write_deltalake(path, _rows(500, 9), mode="overwrite")
    return path


def test_every_version_equals_pyarrow_reading_the_files(edited: str) -> None:
    for version in range(6):
        table = DeltaTable(edited, version=version)
        assert _same(read_delta(table), _oracle(table)), version


def test_partitioned_table(tmp_path: Path) -> None:
    path = str(tmp_path / "parted")
    for start in (0, 30, 60):
        write_deltalake(path, _rows(start, 30), partition_by=["day"], mode="append")
    table = DeltaTable(path)
    assert len(table.file_uris()) == 9
    assert _same(read_delta(table), _oracle(table))


def test_file_order_is_kept_across_batches(tmp_path: Path) -> None:
    # Files larger than a DataFusion batch (8192 rows): with several
    # partitions the batches of different files interleaved.
    path = str(tmp_path / "large")
    for start in (0, 100_000, 200_000):
        ids = pa.array(range(start, start + 20_000), pa.int64())
        write_deltalake(path, pa.table({"id": ids}), mode="append")
    table = DeltaTable(path)
    for _ in range(3):
        assert _same(read_delta(table), _oracle(table))


def test_columns_where_and_no_columns(edited: str) -> None:
    table = DeltaTable(edited, version=4)
    every = _oracle(table)
    assert _same(read_delta(table, ["score", "id"]), every.select(["score", "id"]))
    kept = every.filter(pc.greater(every["id"], 75))
    assert kept.num_rows > 0
    assert _same(read_delta(table, where="id > 75"), kept)
    assert _same(read_delta(table, ["name"], where="id > 75"), kept.select(["name"]))
    none = read_delta(table, [])
    assert none.num_columns == 0 and none.num_rows == every.num_rows


def test_a_column_not_in_the_schema_names_the_column_and_table(edited: str) -> None:
    # It was pyarrow's bare KeyError ("Column x does not exist in schema"),
    # which callers took for their own KeyErrors (an unknown view name).
    from featurestore.services.storage.delta import ColumnNotFoundError

    table = DeltaTable(edited)
    with pytest.raises(ColumnNotFoundError) as caught:
        read_delta(table, ["id", "created_at"])
    assert caught.value.column == "created_at"
    assert caught.value.location == table.table_uri
    assert str(caught.value) == (
        f"Delta table {table.table_uri} has no column 'created_at'"
    )
    assert isinstance(caught.value, KeyError)  # what read_delta raised before


def test_empty_table_keeps_the_schema(tmp_path: Path) -> None:
    path = str(tmp_path / "empty")
    # A row's types, none of its values: built from no values (or row 0, whose
    # name is None), pyarrow 20 infers null types, which Delta refuses.
    write_deltalake(path, _rows(1, 1).slice(0, 0))
    table = DeltaTable(path)
    got = read_delta(table)
    assert got.num_rows == 0
    assert got.schema.equals(pa.schema(table.schema().to_arrow()))


def test_a_file_that_cannot_be_read_is_an_os_error(edited: str) -> None:
    table = DeltaTable(edited)
    Path(table.file_uris()[0]).unlink()  # a local table: plain paths
    with pytest.raises(OSError, match="cannot scan the Delta table"):
        read_delta(table)
    with pytest.raises(StorageUnavailableError) as caught:  # as pyarrow reads it
        read_snapshot(edited)
    # A local table: no object store to blame.
    assert "a file of the table is missing" in str(caught.value)
    assert "object store" not in str(caught.value)


READ = """
import sys
from deltalake import DeltaTable
from featurestore.services.storage import read_delta
print(read_delta(DeltaTable(sys.argv[1])).num_rows)
"""


@pytest.mark.slow
def test_a_short_process_exits_clean_after_reading(tmp_path: Path) -> None:
    # Read with to_pyarrow_table() instead, this table aborted the process at
    # exit (std::terminate, exit 134) in 3 of 12 runs.
    path = str(tmp_path / "log")
    for start in (0, 30, 60):
        write_deltalake(path, _rows(start, 30), partition_by=["day"], mode="append")
    for _ in range(12):
        proc = subprocess.run(
            [sys.executable, "-c", READ, path], capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert (proc.returncode, proc.stdout) == (0, "90\n"), proc.stderr[-2000:]


def test_the_serving_side_reads_delta_rows_only_through_read_delta() -> None:
    # to_pyarrow_table/to_pyarrow_dataset read through pyarrow's I/O threads,
    # which abort short-lived commands at exit (see read_delta).
    calls = []
    for folder in ("services", "spark_jobs"):
        for module in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(module.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in {
                    "to_pyarrow_table",
                    "to_pyarrow_dataset",
                }:
                    calls.append(f"{module.relative_to(ROOT)}:{node.lineno}")
    assert calls == []
