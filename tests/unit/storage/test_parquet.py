"""User Parquet read as Spark wrote it: INT96 times are UTC instants, whole."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurestore.services.storage import read_parquet

UTC_US = pa.timestamp("us", tz="UTC")


def _rows(times: list[datetime]) -> pa.Table:
    return pa.table({"id": list(range(len(times))), "ts": pa.array(times, UTC_US)})


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
            timezones=st.just(UTC),
        ),
        min_size=1, max_size=20,
    )
)  # fmt: skip
def test_int96_times_read_back_as_the_same_utc_instants(
    tmp_path_factory: pytest.TempPathFactory, times: list[datetime]
) -> None:
    # Spark writes INT96 by default; Arrow alone reads them naive, in
    # nanoseconds, and a date past 2262 (a 9999-12-31 sentinel) wraps.
    file = tmp_path_factory.mktemp("int96") / "rows.parquet"
    pq.write_table(_rows(times), file, use_deprecated_int96_timestamps=True)
    read = read_parquet(str(file))
    assert read.schema.field("ts").type == UTC_US
    assert read.column("ts").to_pylist() == times


def test_a_spark_folder_keeps_its_partition_columns_and_plain_times(
    tmp_path: Path,
) -> None:
    when = [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)]
    for day in ("1", "2"):
        part = tmp_path / "rows" / f"day={day}"
        part.mkdir(parents=True)
        pq.write_table(_rows(when), part / "part-0.parquet")  # INT64 times
    read = read_parquet(str(tmp_path / "rows"))
    assert sorted(read.column("day").to_pylist()) == [1, 2]
    assert read.schema.field("ts").type == UTC_US
    assert read.column("ts").to_pylist() == when * 2
