"""The commit lock of a local table: held while committing, released after,
re-entrant in one thread, nothing for object-store tables."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from featurestore.spark_jobs._commit_lock import committing, lock_path


def _free(path: str) -> bool:
    """Whether another open file description can take the lock now."""
    probe = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(probe)
    return True


def test_the_lock_is_held_while_committing_and_released_after(tmp_path: Path):
    location = str(tmp_path / "features" / "t")  # no folder yet: made for it
    with committing(location):
        assert not _free(lock_path(location))
    assert _free(lock_path(location))


def test_a_nested_commit_to_the_same_table_does_not_wait_for_itself(tmp_path: Path):
    location = str(tmp_path / "t")
    with committing(location), committing(f"file://{location}"):
        assert not _free(lock_path(location))
    assert _free(lock_path(location))


def test_object_store_tables_get_no_lock_file(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with committing("s3://bucket/features/t"):
        pass
    assert list(tmp_path.iterdir()) == []
