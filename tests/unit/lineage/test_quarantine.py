"""Quarantine pages and CSV against a brute-force filter of the same rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.services.lineage import TableNotFoundError
from featurestore.services.lineage.quarantine import (
    LABELS,
    quarantine_csv,
    read_quarantine,
)

REASON = pa.struct([("column", pa.string()), ("check", pa.string())])
CHOICES = [("amount", "greater_than_or_equal_to"), ("customer_id", "not_nullable"),
           ("note", "str_length")]  # fmt: skip
T0 = datetime(2026, 11, 1, tzinfo=UTC)

rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["run-a", "run-b", "run-c"]),
        st.lists(st.sampled_from(CHOICES), min_size=1, max_size=3, unique=True),
        st.text(max_size=6),
    ),
    min_size=0,
    max_size=40,
)


def _write(path: Path, rows: list[tuple[str, list[tuple[str, str]], str]]) -> None:
    table = pa.table(
        {
            "customer_id": pa.array(range(len(rows)), pa.int64()),
            "note": pa.array([note for _, _, note in rows], pa.string()),
            "reasons": pa.array(
                [
                    [{"column": c, "check": k} for c, k in reasons]
                    for _, reasons, _ in rows
                ],
                pa.list_(REASON),
            ),
            "run_id": pa.array([run for run, _, _ in rows], pa.string()),
            "quarantined_at": pa.array(
                [T0 + timedelta(seconds=i) for i in range(len(rows))],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    write_deltalake(str(path), table, mode="overwrite")


def _expected(rows, run, reason) -> list[int]:
    """Row ids matching, newest (highest id) first: the oracle."""
    hits = [
        i
        for i, (r, reasons, _) in enumerate(rows)
        if (run is None or r == run)
        and (reason is None or reason in {f"{c}:{k}" for c, k in reasons})
    ]
    return sorted(hits, reverse=True)


@settings(max_examples=25, deadline=None)
@given(
    rows=rows_strategy,
    run=st.sampled_from([None, "run-a", "run-c"]),
    reason=st.sampled_from([None, *(f"{c}:{k}" for c, k in CHOICES)]),
    limit=st.integers(1, 7),
)
def test_pages_hold_exactly_the_matching_rows_once(
    tmp_path_factory, rows, run, reason, limit
):
    path = tmp_path_factory.mktemp("q") / "t_quarantine"
    _write(path, rows)
    want = _expected(rows, run, reason)
    seen: list[int] = []
    offset = 0
    while True:
        page = read_quarantine(
            path, run_id=run, reason=reason, offset=offset, limit=limit
        )
        assert page.total == len(want)
        got = page.rows.column("customer_id").to_pylist()
        seen += got
        for labels, i in zip(page.rows.column(LABELS).to_pylist(), got, strict=True):
            assert labels == [f"{c}:{k}" for c, k in rows[i][1]]
        offset += limit
        if offset >= page.total:
            break
    assert seen == want
    assert page.runs == sorted({r for r, _, _ in rows})
    assert page.reasons == sorted({f"{c}:{k}" for _, rs, _ in rows for c, k in rs})


def test_csv_has_every_matching_row_and_defuses_formulas(tmp_path):
    rows = [
        ("run-a", [CHOICES[0]], "=HYPERLINK(1)"),
        ("run-a", [CHOICES[1], CHOICES[2]], "+1"),
        ("run-b", [CHOICES[2]], "plain"),
    ]
    _write(tmp_path / "t", rows)
    text = b"".join(quarantine_csv(tmp_path / "t", run_id="run-a")).decode()
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["customer_id"] for r in parsed] == ["1", "0"]
    assert [r["note"] for r in parsed] == ["'+1", "'=HYPERLINK(1)"]
    assert parsed[0][LABELS] == "customer_id:not_nullable;note:str_length"


def test_no_quarantine_table_is_table_not_found(tmp_path):
    with pytest.raises(TableNotFoundError):
        read_quarantine(tmp_path / "missing_quarantine")
