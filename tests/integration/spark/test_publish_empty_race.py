"""A publish that commits nothing, racing one that commits, claims no version.

Two real publishes on the shared session, in two threads: an empty
``replace_partitions`` batch (its transform holds it after the publish read the
table) and an ``append`` that commits and profiles meanwhile. The empty one
took the appended version for its own and wrote a 0-row profile for it, which
hid the append's profile and drift (readers keep a version's newest write).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from featurestore.services.monitoring import read_drift, read_profiles
from featurestore.services.monitoring._schema import profile_location
from featurestore.spark_jobs import PublishReport, publish
from tests.unit.monitoring._support import contract, project, rows

pytestmark = [pytest.mark.spark, pytest.mark.integration]

PARTITIONED = "partition_by: [visits]\n"


def _held_then_emptied(spark, started: Path, release: Path):
    """A batch whose rows all vanish in a transform that first says it started,
    then waits for ``release`` (files: the transform runs in a Python worker)."""
    frame = spark.createDataFrame(rows(50, seed=2)).repartition(1)
    started_at, release_at = str(started), str(release)

    def hold_then_drop(batches):
        import os
        import time

        open(started_at, "a").close()
        deadline = time.monotonic() + 600
        while not os.path.exists(release_at) and time.monotonic() < deadline:
            time.sleep(0.05)
        for batch in batches:
            yield batch.iloc[0:0]

    return frame.mapInPandas(hold_then_drop, frame.schema)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 600
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_an_empty_publish_racing_an_append_claims_no_version(spark, tmp_path):
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    shop = contract(PARTITIONED)
    publish(spark.createDataFrame(rows(200, seed=1)), shop, location, job="t",
            run_id="a0")  # fmt: skip
    started, release = tmp_path / "started", tmp_path / "release"
    empty = _held_then_emptied(spark, started, release)
    reports: dict[str, PublishReport] = {}
    errors: list[BaseException] = []

    def run_empty() -> None:
        try:
            reports["e1"] = publish(
                empty, shop, location, mode="replace_partitions", job="t",
                run_id="e1",
            )  # fmt: skip
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    thread = threading.Thread(target=run_empty)
    thread.start()
    try:
        _wait_for(started)  # e1 has read the table (version 0) and is computing
        appended = publish(
            spark.createDataFrame(rows(200, shift=2.0, seed=3)), shop, location,
            mode="append", job="t", run_id="e2",
        )  # fmt: skip
    finally:
        release.touch()
        thread.join(600)
    assert errors == []
    assert appended.version == 1 and appended.drift
    # e1 committed nothing: it names no version and profiles none.
    assert reports["e1"].version is None
    assert reports["e1"].drift == ()
    assert DeltaTable(location).version() == 1
    written = DeltaTable(profile_location(location)).to_pyarrow_table()
    assert "e1" not in written.column("run_id").to_pylist()
    (v1,) = read_profiles(proj, "shop", 1)
    assert (v1.run_id, v1.row_count) == ("e2", 200)
    assert {s.feature for s in read_drift(proj, "shop", 1)} == {
        s.feature for s in appended.drift
    }
