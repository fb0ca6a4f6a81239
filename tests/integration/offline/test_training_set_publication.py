"""A training set is published whole, never over another one without
overwrite, and a writer that died leaves nothing in the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from featurestore.services.offline._publication import STALE_STAGING_SECONDS
from featurestore.services.offline.training_sets import (
    DELTA,
    MARKER,
    PARQUET,
    OutputRefusedError,
    check_output,
    stored_manifest,
    training_set_kind,
    write_training_set,
)

pytestmark = pytest.mark.integration

SCHEMA = pa.schema([("customer_id", pa.int64()), ("spend", pa.float64())])
FORMATS = [PARQUET, DELTA]


def _rows(
    first: int, batches: int = 3, before_last: threading.Barrier | None = None
) -> pa.RecordBatchReader:
    """``batches`` batches of 100 rows from id ``first``; with ``before_last``,
    the reader waits there before its last batch (both writers staged)."""

    def generate() -> Iterator[pa.RecordBatch]:
        for n in range(batches):
            if before_last is not None and n == batches - 1:
                before_last.wait(timeout=60)
            ids = list(range(first + n * 100, first + (n + 1) * 100))
            yield pa.record_batch(
                [pa.array(ids), pa.array([i / 2 for i in ids])], SCHEMA
            )

    return pa.RecordBatchReader.from_batches(SCHEMA, generate())


def _manifest(name: str) -> str:
    return json.dumps({"set": name})


def _read(path: Path, fmt: str) -> pa.Table:
    table = (
        pq.read_table(path) if fmt == PARQUET else DeltaTable(path).to_pyarrow_table()
    )
    return table.sort_by("customer_id")


def _ids(first: int, batches: int = 3) -> list[int]:
    return list(range(first, first + batches * 100))


def _output(tmp_path: Path, fmt: str) -> Path:
    return tmp_path / "sets" / ("ts.parquet" if fmt == PARQUET else "ts")


def _staging(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".fs-")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_of_two_calls_past_the_check_only_the_first_publishes(
    tmp_path: Path, fmt: str
) -> None:
    # Both calls checked the new path before either wrote (the race window:
    # the check comes before the join). The second to publish is refused as
    # the early check would refuse it, and leaves nothing; it used to replace
    # the first's file (Parquet) or append to its table (Delta: both sets).
    out = _output(tmp_path, fmt)
    check_output(str(out), fmt, False, None)
    check_output(str(out), fmt, False, None)
    write_training_set(str(out), fmt, _rows(0), _manifest("a"), None)
    with pytest.raises(OutputRefusedError) as refused:
        write_training_set(str(out), fmt, _rows(10_000), _manifest("b"), None)
    assert refused.value.reason == "OUTPUT_EXISTS"
    assert _read(out, fmt)["customer_id"].to_pylist() == _ids(0)
    assert stored_manifest(out, fmt) == _manifest("a")
    assert _staging(out.parent) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_concurrent_writers_to_one_new_path_publish_exactly_one_set(
    tmp_path: Path, fmt: str
) -> None:
    out = _output(tmp_path, fmt)
    staged = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def write(name: str, first: int) -> None:
        try:
            check_output(str(out), fmt, False, None)
            rows = _rows(first, before_last=staged)
            write_training_set(str(out), fmt, rows, _manifest(name), None)
            outcomes[name] = "OK"
        except OutputRefusedError as exc:
            outcomes[name] = exc.reason

    threads = [
        threading.Thread(target=write, args=args) for args in (("a", 0), ("b", 10_000))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["OK", "OUTPUT_EXISTS"]
    winner = next(name for name, outcome in outcomes.items() if outcome == "OK")
    first = 0 if winner == "a" else 10_000
    assert _read(out, fmt)["customer_id"].to_pylist() == _ids(first)
    assert stored_manifest(out, fmt) == _manifest(winner)
    assert _staging(out.parent) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_overwrite_replaces_a_training_set_published_meanwhile(
    tmp_path: Path, fmt: str
) -> None:
    # Both found the path new and staged their rows; whichever publishes
    # first, the call that asked to overwrite leaves its set there.
    out = _output(tmp_path, fmt)
    staged = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def write(name: str, first: int, overwrite: bool) -> None:
        try:
            rows = _rows(first, before_last=staged)
            write_training_set(
                str(out), fmt, rows, _manifest(name), None, overwrite=overwrite
            )
            outcomes[name] = "OK"
        except OutputRefusedError as exc:
            outcomes[name] = exc.reason

    threads = [
        threading.Thread(target=write, args=("a", 0, False)),
        threading.Thread(target=write, args=("b", 10_000, True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["b"] == "OK"
    assert outcomes["a"] in {"OK", "OUTPUT_EXISTS"}
    assert _read(out, fmt)["customer_id"].to_pylist() == _ids(10_000)
    assert stored_manifest(out, fmt) == _manifest("b")
    assert _staging(out.parent) == []


def test_a_delta_manifest_matches_the_data_when_the_marker_lags(
    tmp_path: Path,
) -> None:
    # An overwrite whose writer died after the commit but before rewriting
    # the marker file: the manifest read back is still the data's.
    out = _output(tmp_path, DELTA)
    write_training_set(str(out), DELTA, _rows(0), _manifest("a"), None)
    write_training_set(
        str(out), DELTA, _rows(10_000), _manifest("b"), None, overwrite=True
    )
    (out / MARKER).write_text(_manifest("a"), encoding="utf-8")  # as it was
    assert stored_manifest(out, DELTA) == _manifest("b")


_KILLED_WRITER = textwrap.dedent(
    """
    import sys
    import pyarrow as pa
    from featurestore.services.offline.training_sets import write_training_set

    out, fmt = sys.argv[1], sys.argv[2]
    schema = pa.schema([("customer_id", pa.int64()), ("spend", pa.float64())])

    def rows():
        # Enough rows that delta-rs has begun a data file.
        for n in range(64):
            ids = pa.array(range(n * 65_536, (n + 1) * 65_536), pa.int64())
            yield pa.record_batch([ids, pa.array([0.5] * 65_536)], schema)
        print("written", flush=True)
        sys.stdin.read()  # until killed

    reader = pa.RecordBatchReader.from_batches(schema, rows())
    write_training_set(out, fmt, reader, "{}", None)
    """
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_writer_killed_midway_leaves_the_path_free(tmp_path: Path, fmt: str) -> None:
    out = _output(tmp_path, fmt)
    out.parent.mkdir()
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(out), fmt],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "written"
    finally:
        writer.kill()
        writer.wait(timeout=60)
    # A killed Delta writer used to leave a partial table at the path, which
    # every later call was refused as "not a training set".
    assert not os.path.lexists(out)
    check_output(str(out), fmt, False, None)
    write_training_set(str(out), fmt, _rows(0), _manifest("a"), None)
    assert training_set_kind(out) == fmt
    assert _read(out, fmt)["customer_id"].to_pylist() == _ids(0)


def test_stale_staging_is_removed_and_a_live_writers_kept(tmp_path: Path) -> None:
    # What killed writers leave: a staging folder with a partial data file,
    # a staging file; untouched for longer than a live writer ever is.
    folder = tmp_path / "sets"
    dead_table = folder / ".fs-0d1e.tmp"
    dead_table.mkdir(parents=True)
    (dead_table / "part-00000.snappy.parquet").write_bytes(b"PAR1 partial")
    dead_file = folder / ".fs-0d1f.tmp"
    dead_file.write_bytes(b"PAR1 partial")
    live = folder / ".fs-11fe.tmp"
    live.mkdir()
    then = time.time() - STALE_STAGING_SECONDS - 60
    for path in (dead_table / "part-00000.snappy.parquet", dead_table, dead_file):
        os.utime(path, (then, then))
    out = folder / "ts"
    check_output(str(out), DELTA, False, None)
    write_training_set(str(out), DELTA, _rows(0), _manifest("a"), None)
    assert _staging(folder) == [live.name]
    assert stored_manifest(out, DELTA) == _manifest("a")


def test_a_staged_table_is_no_training_set_until_published(tmp_path: Path) -> None:
    # A writer killed between its marker and the rename leaves a complete
    # looking table under its staging name; the console listed it as a set.
    staged = tmp_path / "sets" / ".fs-5a9e.tmp"
    write_training_set(str(staged), DELTA, _rows(0), _manifest("a"), None)
    assert (staged / MARKER).is_file()
    assert training_set_kind(staged) is None
