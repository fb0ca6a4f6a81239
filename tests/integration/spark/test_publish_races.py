"""Two publishes racing on one table: each names and profiles only its own commit.

Two real publishes on the shared session, in two threads: one is held in its
transform (after it read the table) while the other commits and profiles, then
released. An empty ``replace_partitions`` batch took the other's version for
its own and wrote a 0-row profile for it, hiding that run's profile and drift
(readers keep a version's newest write); a drift warning named the version the
held run expected, which the other run had taken.
"""

from __future__ import annotations

import logging
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


def _held(spark, tmp_path: Path, batch, *, drop: bool):
    """``batch`` behind a transform that says it started (file ``started``),
    waits for file ``release`` (it runs in a Python worker), then passes the
    rows on, or none with ``drop``."""
    frame = spark.createDataFrame(batch).repartition(1)
    started_at, release_at = str(tmp_path / "started"), str(tmp_path / "release")

    def hold(batches):
        import os
        import time

        open(started_at, "a").close()
        deadline = time.monotonic() + 600
        while not os.path.exists(release_at) and time.monotonic() < deadline:
            time.sleep(0.05)
        for part in batches:
            yield part.iloc[0:0] if drop else part

    return frame.mapInPandas(hold, frame.schema)


def _race(spark, tmp_path: Path, location: str, shop, held, held_mode: str, other):
    """Publish ``held`` (run e1) in a thread; once its transform started,
    publish ``other`` (append, run e2) here; then release e1. Both reports."""
    reports: dict[str, PublishReport] = {}
    errors: list[BaseException] = []

    def run_held() -> None:
        try:
            reports["e1"] = publish(
                held, shop, location, mode=held_mode, job="t", run_id="e1"
            )
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    thread = threading.Thread(target=run_held, name="held-publish")
    thread.start()
    try:
        _wait_for(tmp_path / "started")  # e1 has read the table and computes
        reports["e2"] = publish(
            spark.createDataFrame(other), shop, location, mode="append", job="t",
            run_id="e2",
        )  # fmt: skip
    finally:
        (tmp_path / "release").touch()
        thread.join(600)
    assert errors == []
    return reports["e1"], reports["e2"]


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
    empty = _held(spark, tmp_path, rows(50, seed=2), drop=True)
    held, appended = _race(
        spark, tmp_path, location, shop, empty, "replace_partitions",
        rows(200, shift=2.0, seed=3),
    )  # fmt: skip
    assert appended.version == 1 and appended.drift
    # e1 committed nothing: it names no version and profiles none.
    assert held.version is None
    assert held.drift == ()
    assert DeltaTable(location).version() == 1
    written = DeltaTable(profile_location(location)).to_pyarrow_table()
    assert "e1" not in written.column("run_id").to_pylist()
    (v1,) = read_profiles(proj, "shop", 1)
    assert (v1.run_id, v1.row_count) == ("e2", 200)
    assert {s.feature for s in read_drift(proj, "shop", 1)} == {
        s.feature for s in appended.drift
    }


def test_a_drift_warning_names_the_version_the_run_committed(spark, tmp_path, caplog):
    # It said "version 1 published" when judging the batch, before any commit
    # (also for runs then interrupted); the racing append took version 1.
    proj = project(tmp_path)
    location = proj.table_uri("shop")
    shop = contract()
    publish(spark.createDataFrame(rows(200, seed=1)), shop, location, job="t",
            run_id="a0")  # fmt: skip
    drifted = _held(spark, tmp_path, rows(200, shift=2.0, seed=2), drop=False)
    with caplog.at_level(logging.INFO):
        held, appended = _race(
            spark, tmp_path, location, shop, drifted, "append",
            rows(200, seed=3),
        )  # fmt: skip
    assert (appended.version, held.version) == (1, 2)
    said = [r.getMessage() for r in caplog.records if r.threadName == "held-publish"]
    committed = said.index(f"committed {location} version 2; profiling it")
    warned = [i for i, m in enumerate(said) if m.startswith("[DRIFT fail]")]
    assert warned and min(warned) > committed
    assert all(said[i].endswith("(on_drift: warn, version 2 published)")
               for i in warned)  # fmt: skip
