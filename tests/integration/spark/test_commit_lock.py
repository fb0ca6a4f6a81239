"""Commits to a local table wait for each other, across processes: none is lost.

Spark's local Delta log store checks that the next commit file is absent, then
renames onto it, which replaces: two processes committing one version at once
could both succeed and one commit was silently lost. Every commit to a local
table now holds an flock on the table's lock file. Here another process holds
it: a real publish says it waits, commits nothing meanwhile, and lands after
the holder's commit once released.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from featurestore.spark_jobs import PublishReport, publish
from featurestore.spark_jobs._commit_lock import LOCK_FILE, lock_path
from tests.unit.monitoring._support import contract, project, rows

pytestmark = [pytest.mark.spark, pytest.mark.integration]

WAITING = "waiting for another writer's commit to "
# Another process: takes the lock, says so, holds it until its stdin closes.
_HOLD = """
import fcntl, sys
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def _batch(first_id: int, n: int, seed: int) -> pa.Table:
    """``n`` shop rows with ids from ``first_id``: each writer's are its own."""
    batch = rows(n, seed=seed)
    ids = pa.array(range(first_id, first_id + n), pa.int64())
    return batch.set_column(0, "shop_id", ids)


@contextmanager
def _held_elsewhere(location: str) -> Iterator[None]:
    """The table's commit lock, held by another process until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, lock_path(location)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits: the kernel releases its lock
        holder.wait(60)


class _Waits(logging.Handler):
    """Notes which threads said they wait for the lock and which publishes
    ended; ``changed`` is notified at each."""

    def __init__(self, location: str) -> None:
        super().__init__(logging.WARNING)
        self.location = location
        self.threads: list[str] = []
        self.ended: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == WAITING + self.location:
            with self.changed:
                self.threads.append(record.threadName)
                self.changed.notify_all()


@contextmanager
def _watching(location: str) -> Iterator[_Waits]:
    handler = _Waits(location)
    logger = logging.getLogger("featurestore.spark_jobs")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _publishing(spark, batches: dict[str, pa.Table], location: str, waits: _Waits):
    """Start one publish (append) per run id in its own thread; their reports
    and errors fill in as they end."""
    shop = contract()
    reports: dict[str, PublishReport] = {}
    errors: list[BaseException] = []

    def run(run_id: str) -> None:
        try:
            frame = spark.createDataFrame(batches[run_id])
            reports[run_id] = publish(
                frame, shop, location, mode="append", job="t", run_id=run_id
            )
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)
        finally:
            with waits.changed:
                waits.ended.append(run_id)
                waits.changed.notify_all()

    threads = [threading.Thread(target=run, args=(r,), name=r) for r in batches]
    for thread in threads:
        thread.start()
    return threads, reports, errors


def _wait_for_waiters(waits: _Waits, threads: list[threading.Thread]) -> None:
    """Until every thread said it waits, or one ended (then it did not wait)."""
    with waits.changed:
        waits.changed.wait_for(
            lambda: len(set(waits.threads)) == len(threads) or waits.ended,
            timeout=600,
        )


def _stamps(location: str) -> dict[int, str]:
    """Run id stamped on each version."""
    return {
        int(c["version"]): json.loads(c["userMetadata"])["run_id"]
        for c in DeltaTable(location).history()
        if "userMetadata" in c
    }


def _ids(location: str) -> list[int]:
    return sorted(DeltaTable(location).to_pyarrow_table().column("shop_id").to_pylist())


def test_a_publish_waits_for_the_lock_and_lands_after_the_holders_commit(
    spark, tmp_path: Path
):
    location = project(tmp_path).table_uri("shop")
    first = _batch(0, 30, seed=1)
    publish(spark.createDataFrame(first), contract(), location, mode="append",
            job="t", run_id="a0")  # fmt: skip
    before = DeltaTable(location).version()
    held_rows, run_rows = _batch(1000, 20, seed=2), _batch(2000, 25, seed=3)

    with _watching(location) as waits, _held_elsewhere(location):
        threads, reports, errors = _publishing(spark, {"b1": run_rows}, location, waits)
        _wait_for_waiters(waits, threads)
        waited, version_while_held = list(waits.threads), DeltaTable(location).version()
        # The holder's own commit, made while it holds the lock.
        write_deltalake(location, held_rows, mode="append")
    for thread in threads:
        thread.join(600)

    assert waited == ["b1"], errors
    assert version_while_held == before  # the waiting publish committed nothing
    assert errors == []
    assert reports["b1"].version == before + 2
    assert _stamps(location)[before + 2] == "b1"
    assert _ids(location) == sorted(
        first["shop_id"].to_pylist()
        + held_rows["shop_id"].to_pylist()
        + run_rows["shop_id"].to_pylist()
    )
    # The lock file lives in the table's folder and is no data of it.
    lock = Path(location) / LOCK_FILE
    assert lock.is_file()
    vacuumed = DeltaTable(location).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=True
    )
    assert not [f for f in vacuumed if LOCK_FILE in f]


def test_two_concurrent_publishes_both_land_one_after_the_other(spark, tmp_path: Path):
    # Both wait at the same lock; released, each commits on the other's.
    location = project(tmp_path).table_uri("shop")
    first = _batch(0, 30, seed=1)
    publish(spark.createDataFrame(first), contract(), location, mode="append",
            job="t", run_id="a0")  # fmt: skip
    before = DeltaTable(location).version()
    batches = {"c1": _batch(1000, 20, seed=2), "c2": _batch(2000, 25, seed=3)}

    with _watching(location) as waits:
        with _held_elsewhere(location):
            threads, reports, errors = _publishing(spark, batches, location, waits)
            _wait_for_waiters(waits, threads)
            waited = sorted(waits.threads)
        for thread in threads:
            thread.join(600)

    assert waited == ["c1", "c2"], errors
    assert errors == []
    versions = {run: report.version for run, report in reports.items()}
    assert sorted(versions.values()) == [before + 1, before + 2]
    stamps = _stamps(location)
    assert all(stamps[version] == run for run, version in versions.items())
    assert _ids(location) == sorted(
        first["shop_id"].to_pylist()
        + [i for batch in batches.values() for i in batch["shop_id"].to_pylist()]
    )
