"""A training set written to an object store appears whole or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from featurestore.services.offline import training_sets
from featurestore.services.offline.training_sets import (
    DELTA,
    PARQUET,
    OutputRefusedError,
    check_output,
    write_training_set,
)
from featurestore.services.storage import StorageOptions
from tests.s3_harness import S3Server

pytestmark = [pytest.mark.integration]

SCHEMA = pa.schema([("customer_id", pa.int64()), ("spend", pa.float64())])


def _batch(first: int) -> pa.RecordBatch:
    ids = list(range(first, first + 100))
    return pa.record_batch([pa.array(ids), pa.array([i / 2 for i in ids])], SCHEMA)


def _rows(batches: int, fail_after: int | None = None) -> pa.RecordBatchReader:
    """``batches`` batches of 100 rows; with ``fail_after``, the reader fails
    after that many (as a join or a stream that breaks midway)."""

    def generate() -> Iterator[pa.RecordBatch]:
        for n in range(batches):
            if n == fail_after:
                raise RuntimeError("the rows stopped coming")
            yield _batch(n * 100)

    return pa.RecordBatchReader.from_batches(SCHEMA, generate())


def _read(storage: StorageOptions, uri: str) -> pa.Table:
    fs, key = storage.filesystem(uri)
    with fs.open_input_file(key) as handle:
        return pq.read_table(handle)


def test_a_write_that_fails_midway_leaves_nothing_or_the_previous_set(
    s3_server: S3Server, tmp_path: Path
) -> None:
    storage = StorageOptions(s3_server.options())
    root = s3_server.prefix("ts")
    uri = f"{root}/training.parquet"
    prefix = root.removeprefix(f"s3://{s3_server.bucket}/")
    # A new training set whose rows break after two batches: no object at all.
    # (It was a short but valid Parquet file, its manifest inside, because
    # the writer closed and the upload completed on the way out.)
    with pytest.raises(RuntimeError, match="stopped coming"):
        write_training_set(uri, PARQUET, _rows(5, fail_after=2), "{}", root, storage)
    assert s3_server.keys(prefix) == []
    # A whole one, then a replacement that breaks: the whole one stays.
    write_training_set(uri, PARQUET, _rows(3), '{"n": 1}', root, storage)
    whole = _read(storage, uri)
    assert whole.num_rows == 300
    check_output(uri, PARQUET, overwrite=True, root=root, storage=storage)
    with pytest.raises(RuntimeError, match="stopped coming"):
        write_training_set(uri, PARQUET, _rows(5, fail_after=4), "{}", root, storage)
    assert _read(storage, uri).equals(whole)
    assert s3_server.keys(prefix) == [f"{prefix}/training.parquet"]


def test_a_local_write_that_fails_midway_leaves_no_file_and_no_folder(
    tmp_path: Path,
) -> None:
    # Only OS errors removed the folders the write had made; rows that broke
    # midway (or a cancelled call) left them behind.
    root = tmp_path / "training_sets"
    root.mkdir()
    uri = str(root / "new" / "deeper" / "training.parquet")
    with pytest.raises(RuntimeError, match="stopped coming"):
        write_training_set(uri, PARQUET, _rows(5, fail_after=2), "{}", str(root))
    assert list(root.iterdir()) == []


def test_an_object_past_the_server_side_copy_limit_is_moved_whole(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3 copies at most 5 GiB in one request: a larger training set is
    # streamed into place. The limit is lowered here to take that path.
    monkeypatch.setattr(training_sets, "SERVER_COPY_LIMIT", 0)
    storage = StorageOptions(s3_server.options())
    root = s3_server.prefix("big")
    uri = f"{root}/training.parquet"
    write_training_set(uri, PARQUET, _rows(3), '{"n": 1}', root, storage)
    assert _read(storage, uri).equals(_rows(3).read_all())
    prefix = root.removeprefix(f"s3://{s3_server.bucket}/")
    assert s3_server.keys(prefix) == [f"{prefix}/training.parquet"]


def test_of_two_delta_writers_past_the_check_only_the_first_commits(
    s3_server: S3Server,
) -> None:
    # Both checked the new prefix before either wrote. The second used to
    # overwrite the first (or, racing, append to it: both sets in one
    # table); delta-rs's conditional version-0 commit, not retried, now
    # refuses it, and the first's table stays whole.
    storage = StorageOptions(s3_server.options())
    root = s3_server.prefix("race")
    uri = f"{root}/ts"
    check_output(uri, DELTA, overwrite=False, root=root, storage=storage)
    check_output(uri, DELTA, overwrite=False, root=root, storage=storage)
    write_training_set(uri, DELTA, _rows(3), '{"n": 1}', root, storage)
    with pytest.raises(OutputRefusedError) as refused:
        write_training_set(uri, DELTA, _rows(5), '{"n": 2}', root, storage)
    assert refused.value.reason == "OUTPUT_EXISTS"
    table = DeltaTable(uri, storage_options=storage.for_location(uri))
    assert table.version() == 0
    assert table.to_pyarrow_table().sort_by("customer_id").equals(_rows(3).read_all())


def test_an_output_named_as_a_staging_entry_is_refused(tmp_path: Path) -> None:
    # It was written, then hidden from listings as a staging entry, refused
    # for overwrite as "not a training set" and removed an hour later.
    root = tmp_path / "training_sets"
    root.mkdir()
    for name in (".fs-0123.tmp", ".fs-x.tmp/"):
        with pytest.raises(OutputRefusedError) as refused:
            check_output(str(root / name), PARQUET, overwrite=False, root=str(root))
        assert refused.value.reason == "OUTPUT_NAME_RESERVED"
    check_output(str(root / ".fs-x.parquet"), PARQUET, overwrite=False, root=str(root))
