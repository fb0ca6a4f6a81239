"""read_snapshot reads the Delta log, so removed rows never come back."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake

from featurestore.services.offline import (
    FeatureColumnMissingError,
    NaiveTimestampError,
    Reason,
    TableNotFoundError,
    VersionNotFoundError,
    commit_metadata,
    read_snapshot,
)


def _ids(snapshot):
    return sorted(snapshot.table.column("id").to_pylist())


@pytest.fixture
def table(tmp_path):
    path = str(tmp_path / "t")
    meta = json.dumps({"contract": "t@1"})
    write_deltalake(
        path,
        pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}),
        commit_properties=CommitProperties(custom_metadata={"userMetadata": meta}),
    )  # v0
    DeltaTable(path).delete("id = 2")  # v1
    source = pa.table({"id": [3, 4], "v": ["C", "d"]})
    (
        DeltaTable(path)
        .merge(source, "t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )  # v2
    return path


def test_current_snapshot_excludes_deleted_and_updated_rows(table):
    snap = read_snapshot(table)
    assert snap.version == 2
    rows = sorted(
        zip(
            snap.table.column("id").to_pylist(),
            snap.table.column("v").to_pylist(),
            strict=True,
        )
    )
    assert rows == [(1, "a"), (3, "C"), (4, "d")]


def test_overwrite_hides_every_old_row(table):
    write_deltalake(table, pa.table({"id": [9], "v": ["z"]}), mode="overwrite")
    assert _ids(read_snapshot(table)) == [9]
    assert _ids(read_snapshot(table, version=2)) == [1, 3, 4]


def test_pinned_version_returns_old_rows(table):
    assert _ids(read_snapshot(table, version=0)) == [1, 2, 3]
    assert _ids(read_snapshot(table, version=1)) == [1, 3]


def test_pinned_timestamp(table):
    time.sleep(0.01)
    now = datetime.now(UTC)
    time.sleep(0.01)
    write_deltalake(table, pa.table({"id": [7], "v": ["x"]}), mode="append")
    snap = read_snapshot(table, timestamp=now)
    assert snap.version == 2 and _ids(snap) == [1, 3, 4]


def test_columns(table):
    snap = read_snapshot(table, columns=["id"])
    assert snap.table.column_names == ["id"]
    assert _ids(snap) == [1, 3, 4]


def test_a_missing_column_is_feature_column_missing_naming_table_and_column(table):
    # Not a bare KeyError: FEATURE_COLUMN_MISSING, a problem of the table.
    with pytest.raises(FeatureColumnMissingError) as err:
        read_snapshot(table, columns=["id", "created_at"])
    assert err.value.reason is Reason.FEATURE_COLUMN_MISSING
    assert err.value.metadata["column"] == "created_at"
    assert err.value.metadata["path"] == table
    assert table in str(err.value) and "'created_at'" in str(err.value)


@pytest.mark.parametrize("version", [3, -1])
def test_missing_version(table, version):
    with pytest.raises(VersionNotFoundError) as err:
        read_snapshot(table, version=version)
    assert err.value.reason is Reason.VERSION_NOT_FOUND
    assert err.value.metadata["path"] == table


def test_timestamp_before_table_existed(table):
    with pytest.raises(VersionNotFoundError):
        read_snapshot(table, timestamp=datetime(2000, 1, 1, tzinfo=UTC))


def test_naive_timestamp_pin(table):
    with pytest.raises(NaiveTimestampError) as err:
        read_snapshot(table, timestamp=datetime(2030, 1, 1))
    assert err.value.reason is Reason.NAIVE_TIMESTAMP


def test_missing_table(tmp_path):
    with pytest.raises(TableNotFoundError) as err:
        read_snapshot(str(tmp_path / "none"))
    assert err.value.reason is Reason.TABLE_NOT_FOUND
    assert isinstance(err.value, LookupError)


def test_commit_metadata(table):
    assert commit_metadata(table, 0) == {"contract": "t@1"}
    assert commit_metadata(table, 1) == {}
    with pytest.raises(VersionNotFoundError):
        commit_metadata(table, 9)


def _commit_times(path):
    return {h["version"]: h["timestamp"] for h in DeltaTable(path).history()}


@pytest.fixture
def four_versions(tmp_path):
    """Versions 0..3 one second apart, and their commit times (ms)."""
    path = str(tmp_path / "t")
    for i in range(4):
        if i:
            time.sleep(1)
        write_deltalake(path, pa.table({"id": [i], "v": ["x"]}), mode="append")
    return path, _commit_times(path)


def _at_ms(ms):
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def test_a_time_pin_follows_the_commit_times_after_the_table_is_copied(
    four_versions, tmp_path
):
    path, committed = four_versions
    pin = _at_ms(committed[2] + 500)
    assert read_snapshot(path, timestamp=pin).version == 2
    time.sleep(1.5)
    copy = tmp_path / "copy"
    # As cp -r (not -p): every log file of the copy is newer than the pin.
    shutil.copytree(path, copy, copy_function=shutil.copy)
    snap = read_snapshot(str(copy), timestamp=pin)
    assert snap.version == 2 and _ids(snap) == [0, 1, 2]
    # At a commit's own millisecond: that version; one ms before: the one before.
    assert read_snapshot(str(copy), timestamp=_at_ms(committed[3])).version == 3
    assert read_snapshot(str(copy), timestamp=_at_ms(committed[3] - 1)).version == 2
    with pytest.raises(VersionNotFoundError):
        read_snapshot(str(copy), timestamp=_at_ms(committed[0] - 1))


def test_a_commit_time_behind_its_predecessors_counts_as_just_after_it(
    four_versions,
):
    # Clock skew: version 2's writer clock was behind version 1's. Like Delta
    # on Spark, version 2 then counts as 1 ms after version 1, so a pin
    # between the two times reads version 0 (it must not show version 1's
    # rows, committed after the pin), and at version 1's time version 2.
    path, committed = four_versions
    log = Path(path) / "_delta_log" / f"{2:020d}.json"
    skewed = committed[0] + 100
    lines = []
    for line in log.read_text().splitlines():
        action = json.loads(line)
        if "commitInfo" in action:
            action["commitInfo"]["timestamp"] = skewed
        lines.append(json.dumps(action))
    log.write_text("\n".join(lines) + "\n")
    assert _commit_times(path)[2] == skewed
    assert read_snapshot(path, timestamp=_at_ms(skewed)).version == 0
    assert read_snapshot(path, timestamp=_at_ms(committed[1])).version == 1
    assert read_snapshot(path, timestamp=_at_ms(committed[1] + 1)).version == 2
