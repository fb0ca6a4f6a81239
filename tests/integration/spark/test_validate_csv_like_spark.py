"""`contracts validate` reads CSV cells as the jobs' Spark does: Spark is the oracle.

The Spark read is the one the README documents for a job's CSV input:
``spark.read.csv(path, header=True, schema=<the contract's columns>)``, every
other option at its default, in the project's UTC session. The local read runs
in another process time zone, which must not matter.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.services.cli._rows import read_rows
from featurestore.services.contracts.model import Contract
from featurestore.services.storage import StorageOptions

pytestmark = pytest.mark.spark

COLUMNS = {
    "k": "int64",
    "ts": "timestamp",
    "cts": "timestamp",
    "n": "int64",
    "x": "float64",
    "b": "bool",
    "d": "date",
    "s": "string",
}
CONTRACT = Contract.model_validate(
    {
        "name": "cells",
        "version": "1.0.0",
        "owner": "tests@example.com",
        "entity_keys": ["k"],
        "event_timestamp": "ts",
        "created_timestamp": "cts",
        "freshness": "2d",
        "max_failure_ratio": 1,
        "columns": [
            {"name": n, "type": t, "nullable": n in ("s", "n", "x", "b", "d")}
            for n, t in COLUMNS.items()
        ],
    }
)

# Cells a tester tried, and their neighbours; each is one CSV cell as written.
# fmt: off
TRICKY = {
    "string": [
        "", '""', " a ", '" a "', "NA", "null", "NULL", "N/A", "NaN", '"x,y"',
        "a\\b", '"a\\b"', "'q'", "\\N", 'a"b', "  ", '"0"', "é", "None", "\ufeffa",
    ],
    "int64": [
        "", '""', "5", " 5", "5 ", "+5", "-0", "007", "1e3", "5.0", "0x10", "1_000",
        "\ufeff1", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "99999999999999999999", '" 5"', "NaN", "١٢", "+-1",
        "--1", "+", "-", "\uff10",
    ],
    "float64": [
        "", '""', "NaN", "nan", "NAN", "+NaN", "-NaN", "Infinity", "-Infinity",
        "+Infinity", "infinity", "Inf", "-Inf", "+Inf", "inf", "1e3", "1E-3", "-0",
        "+1.5", " 1.5 ", "1.5d", "1.5F", "0x1p3", "0x1.8P1", ".5", "5.", ".", "1e400",
        "-1e400", "1e-400", "007", "1_0", '"1,5"', "1.5.5", "e3", "1e", "٣",
        "4.9e-324", "0x1p2000", "NaNd",
    ],
    "bool": [
        "", '""', "true", "True", "TRUE", "tRuE", "false", "FALSE", "1", "0", "yes",
        "no", "t", "f", " true", "true ", "on", "fal\u017fe",
    ],
    "date": [
        "", '""', "2026-11-01", "2026-1-5", "2026/11/01", "01/11/2026", "20261101",
        "2026-11-01T10:00:00", "2026-11-01 10:00", " 2026-11-01", "2026-11-01 ",
        "2026-11", "2026", "+2026-11-01", "-0001-01-01", "2026-02-30", "2024-02-29",
        "2026-11-01Z", "0001-01-01", "9999-12-31", "10000-01-01", "9999999-12-31",
        "2026-11-01x", "2026-13-01", "2026-00-10", "26-11-01", "2026-011-01",
        "2026GMT-11-01", "2026-11-01GMT", "T", "2026-",
    ],
    "timestamp": [
        "", '""', "2026-11-01T00:00:00Z", "2026-11-01T00:00:00", "2026-11-01 00:00:00",
        "2026-11-01", "2026-11", "2026", "2026-11-01T01:00:00+01:00",
        "2026-11-01T01:00:00+0100", "2026-11-01T01:00:00+01", "2026-11-01T01:00:00+1",
        "2026-11-01T01:00:00+1:00", "2026-11-01T01:00:00+01:0",
        "2026-11-01T00:00:00.123456Z", "2026-11-01T00:00:00.1234567Z",
        "2026-11-01T00:00:00.1Z", "2026-11-01T00:00Z", "2026-11-01T00:00",
        "2026-11-01T00", "2026-11-01T00:00:00 UTC", "2026-11-01T00:00:00UTC+01:00",
        "2026-11-01T00:00:00America/New_York", "2026-11-01 00:00:00 +01:00",
        " 2026-11-01T00:00:00Z", "2026-11-01T00:00:00z", "1700000000",
        "2026-11-01T24:00:00", "2026-11-01T00:00:60Z", "11/01/2026 00:00",
        "2026-11-01T00:00:00GMT+01:00", "2026-11-01T00:00:00GMT",
        "2026-11-01T00:00:00-00:00", "2026-11-01T00:00:00+18:00",
        "2026-11-01T00:00:00+19:00", "2026-11-01T00:00:00+01:00:30",
        "2026-11-01T1:2:3", "2026-11-01T00:00:00.Z", "2026-11-01T00:00:00EST",
        "2026-11-01T00:00:00PST", "2026-11-01T00:00:00Mars/Olympus",
        "2026-03-08T02:30:00America/New_York", "2026-11-01T01:30:00America/New_York",
        "+2026-11-01T00:00:00Z", "-2026-11-01T00:00:00Z", "123456-01-01T00:00:00Z",
        "1234567-01-01T00:00:00Z", "2026-11-01T00:00:00.000000001Z", "2026-11-01X",
    ],
}
# fmt: on
DIGITS = st.text("0123456789", min_size=1, max_size=3)


@st.composite
def _number(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "", "-", "+", " "]))
    whole = draw(st.one_of(DIGITS, st.text("0123456789", min_size=15, max_size=21)))
    tail = draw(
        st.sampled_from(["", "", ".", ".5", "e3", "E-2", ".25e+1", "d", "f", " "])
    )
    return sign + whole + tail


@st.composite
def _date(draw: st.DrawFn) -> str:
    year = draw(st.sampled_from(["2026", "1970", "0001", "9999", "12026", "26"]))
    month = draw(st.sampled_from(["01", "1", "12", "13", "02", "001"]))
    day = draw(st.sampled_from(["01", "9", "28", "29", "30", "31", "32"]))
    return draw(st.sampled_from(["", "", "+", "-", " "])) + f"{year}-{month}-{day}"


@st.composite
def _timestamp(draw: st.DrawFn) -> str:
    clock = draw(
        st.sampled_from(["00:00:00", "23:59:59", "9:5:1", "12:30", "24:00:00"])
    )
    fraction = draw(st.sampled_from(["", "", ".", ".5", ".123456", ".1234567890"]))
    zone = draw(
        st.sampled_from(
            ["", "", "Z", "+01:00", "-0530", "+14", " UTC", "Europe/Berlin", "+18:01"]
        )
    )
    sep = draw(st.sampled_from(["T", " ", "t"]))
    return draw(_date()) + sep + clock + fraction + zone


@st.composite
def _string(draw: st.DrawFn) -> str:
    # One cell in twenty may hold what Spark splits or unquotes otherwise
    # (a file holding one is refused, so more would hide the other columns).
    risky = draw(st.integers(0, 19)) == 0
    alphabet = 'ab ,"\\\n\r\ufeffé0' if risky else "ab ,\\é0"
    text = draw(st.text(st.sampled_from(alphabet), max_size=6))
    if draw(st.booleans()):  # quoted as a CSV writer quotes (RFC 4180)
        return '"' + text.replace('"', '""') + '"'
    return text.replace(",", "").replace("\n", "").replace("\r", "")


CELLS = {
    "string": _string(),
    "int64": _number(),
    "float64": _number(),
    "bool": st.sampled_from(TRICKY["bool"]),
    "date": _date(),
    "timestamp": _timestamp(),
}


def _cells(kind: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(TRICKY[kind]), CELLS[kind])


ROWS = st.lists(
    st.tuples(*(_cells(kind) for kind in COLUMNS.values())), min_size=1, max_size=12
)


def _may_be_refused(cell: str) -> bool:
    """What ``contracts validate`` may refuse (README): Spark reads it otherwise."""
    inner = cell[1:-1] if len(cell) >= 2 and cell.endswith('"') else None
    return (
        '\\"' in cell
        or (cell.startswith('"') and "\\\\" in cell)
        or "\n" in cell
        or "\r" in cell
        or (cell.startswith('"') and (inner is None or '"' in inner))
    )


def _write(folder: Path, rows: list[tuple[str, ...]], bom: bool, eol: str) -> Path:
    path = folder / "cells.csv"
    lines = [",".join(COLUMNS), *(",".join(row) for row in rows)]
    path.write_bytes(
        ("\ufeff" if bom else "").encode() + (eol.join(lines) + eol).encode()
    )
    return path


def _spark_rows(spark: Any, path: Path) -> list[dict[str, Any]]:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    kinds = {
        "string": T.StringType(),
        "int64": T.LongType(),
        "float64": T.DoubleType(),
        "bool": T.BooleanType(),
        "date": T.DateType(),
        "timestamp": T.TimestampType(),
    }
    schema = T.StructType([T.StructField(n, kinds[t]) for n, t in COLUMNS.items()])
    frame = spark.read.csv(str(path), header=True, schema=schema)
    # As numbers: Spark holds dates and times Python's datetime cannot.
    numbers = {
        n: (F.unix_date(n) if t == "date" else F.unix_micros(n)).alias(n)
        for n, t in COLUMNS.items()
        if t in ("date", "timestamp")
    }
    frame = frame.select(*(numbers.get(n, F.col(n)) for n in COLUMNS))
    return frame.toArrow().to_pylist()  # one file, one partition: rows in order


@contextmanager
def _process_time_zone(name: str) -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


class _RefusedError(Exception):
    """``contracts validate`` refused the file (exit 2); args: its stderr."""


def _our_rows(path: Path) -> list[dict[str, Any]]:
    # Through the reader `contracts validate` uses.
    errors = io.StringIO()
    with _process_time_zone("America/Los_Angeles"), redirect_stderr(errors):
        try:  # Spark's session is UTC; this process's zone must not matter
            table = read_rows(
                str(path), StorageOptions(), named=str(path), contract=CONTRACT
            )
        except click.exceptions.Exit:
            raise _RefusedError(errors.getvalue()) from None
    for name, kind in COLUMNS.items():
        if kind in ("date", "timestamp"):
            index = table.schema.get_field_index(name)
            storage = pa.int32() if kind == "date" else pa.int64()
            table = table.set_column(index, name, table.column(name).cast(storage))
    return table.select(list(COLUMNS)).to_pylist()


def _same(spark_value: Any, ours: Any) -> bool:
    if isinstance(spark_value, float) and isinstance(ours, float):
        if math.isnan(spark_value) or math.isnan(ours):
            return math.isnan(spark_value) and math.isnan(ours)
        return spark_value == ours and math.copysign(1, spark_value) == math.copysign(
            1, ours
        )
    return type(spark_value) is type(ours) and spark_value == ours


def _compare(spark: Any, rows: list[tuple[str, ...]], bom: bool, eol: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), rows, bom, eol)
        try:
            ours = _our_rows(path)
        except _RefusedError as refused:
            assert "CSV_NOT_LIKE_SPARK" in str(refused), (refused, rows)
            assert any(_may_be_refused(cell) for row in rows for cell in row), rows
            return
        expected = _spark_rows(spark, path)
    assert len(ours) == len(expected), (rows, expected, ours)
    differences = [
        (row[i], name, want[name], got[name])
        for row, want, got in zip(rows, expected, ours, strict=True)
        for i, name in enumerate(COLUMNS)
        if not _same(want[name], got[name])
    ]
    assert not differences, differences  # (cell, column, Spark, ours)


def test_tricky_cells_read_as_spark_reads_them(spark) -> None:
    # One file holding every tricky cell of every type: one Spark read.
    depth = max(len(cells) for cells in TRICKY.values())
    rows = [
        tuple(
            TRICKY[kind][(i + offset) % len(TRICKY[kind])]
            for offset, kind in enumerate(COLUMNS.values())
        )
        for i in range(depth)
    ]
    _compare(spark, rows, bom=True, eol="\r\n")


@settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=ROWS, bom=st.booleans(), eol=st.sampled_from(["\n", "\r\n"]))
def test_generated_files_read_as_spark_reads_them(spark, rows, bom, eol) -> None:
    _compare(spark, rows, bom, eol)


# What the local reader refuses: Arrow (RFC 4180) and Spark read these apart.
REFUSED = {
    "doubled quote": ('"a""b"', 'a"b'),
    "escaped quote": ('"a\\"b"', 'a\\b"'),
    "text after the closing quote": ('"a"b', "ab"),
    "line break in quotes": ('"multi\nline"', "multi\nline"),
    "escaped backslash": ('"a\\\\b"', "a\\\\b"),
}


@pytest.mark.parametrize(
    "cell", [cell for cell, _ in REFUSED.values()], ids=list(REFUSED)
)
def test_cells_spark_reads_unlike_arrow_are_refused(spark, tmp_path, cell) -> None:
    from featurestore.services.cli._spark_csv import CsvUnlikeSparkError, read_csv

    row = ("1", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", "", "", "", "", cell)
    path = _write(tmp_path, [row], bom=False, eol="\n")
    with pytest.raises(CsvUnlikeSparkError) as caught:
        read_csv(path, CONTRACT)
    assert caught.value.reason == "CSV_NOT_LIKE_SPARK"
    assert caught.value.metadata["line"] == "2"
    rfc = dict(REFUSED.values())[cell]
    assert [r["s"] for r in _spark_rows(spark, path)][:1] != [rfc]


def test_columns_out_of_the_contracts_order_are_refused(spark, tmp_path) -> None:
    # Spark, given a schema, takes the file's columns by position: with n and
    # x swapped in the file, its n is the file's x column (1.5: no long, null)
    # and its x the file's n (5). Read by name, the file would look fine.
    header = ["k", "ts", "cts", "x", "n", "b", "d", "s"]
    row = ["1", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", "1.5", "5", "", "", ""]
    path = tmp_path / "swapped.csv"
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n")
    (spark_row,) = _spark_rows(spark, path)
    assert (spark_row["n"], spark_row["x"]) == (None, 5.0)
    with pytest.raises(_RefusedError) as refused:
        _our_rows(path)
    message = str(refused.value)
    assert "CSV_NOT_LIKE_SPARK" in message and "line 1" in message
    assert "column 4 'x' where the contract's column 4 is 'n'" in message
    assert "contract's order" in message
