"""materialize --incremental writes late rows: published after a run, event
time inside an already materialised window."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake
from feast import FeatureStore

from featurestore.services.cli import cli
from featurestore.services.online.materialize import (
    materialize,
    materialize_incremental,
)
from tests.delta_repo import delta_repo
from tests.redis_harness import start_redis_process

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
KEYS = 6

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Int64
customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
stats_view = FeatureView(
    name="stats", entities=[customer], ttl=timedelta(days=30),
    schema=[Field(name="visits", dtype=Int64)],
    source=FileSource(name="stats", path="data/stats", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp"),
)
"""


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    """A repo with the stats view (no table yet) on either online store."""
    if request.param == "sqlite":
        yield delta_repo(tmp_path / "repo", "late", DEFINITIONS)
        return
    server = start_redis_process(tmp_path / "redis")
    try:
        online = f"  type: redis\n  connection_string: {server.host}:{server.port}"
        yield delta_repo(tmp_path / "repo", "late", DEFINITIONS, online=online)
    finally:
        server.stop()


def _publish(store: FeatureStore, rows: list[tuple[int, datetime, int]], mode="append"):
    """Rows (customer_id, event time, visits) as one Delta version."""
    write_deltalake(
        _table_path(store),
        pa.table(
            {
                "customer_id": pa.array([r[0] for r in rows], pa.int64()),
                "event_timestamp": pa.array(
                    [r[1] for r in rows], pa.timestamp("us", tz="UTC")
                ),
                "visits": pa.array([r[2] for r in rows], pa.int64()),
            }
        ),
        mode=mode,
    )


def _table_path(store: FeatureStore) -> str:
    return f"{store.repo_path}/data/stats"


def _online(store: FeatureStore) -> dict[int, int | None]:
    """visits per customer as Feast's own reader reads the online store."""
    got = store.get_online_features(
        features=["stats:visits"],
        entity_rows=[{"customer_id": k} for k in range(KEYS)],
    ).to_dict()
    return dict(zip(got["customer_id"], got["visits"], strict=True))


def _expected(published: list[tuple[int, datetime, int]], end: datetime) -> dict:
    """The latest row per customer with event time < end, by brute force."""
    latest: dict[int, tuple[datetime, int]] = {}
    for key, event, visits in published:
        if event < end and (key not in latest or event > latest[key][0]):
            latest[key] = (event, visits)
    return {k: latest[k][1] if k in latest else None for k in range(KEYS)}


def test_a_late_row_reaches_the_online_store(store):
    # Feast's rule continued from the last end only: customer 1's late row
    # (3 h old, published after the run up to 1 h ago) was never written,
    # so its 5 h old value was served until it got a newer row.
    rows = [(k, NOW - timedelta(hours=5), 10 + k) for k in range(3)]
    _publish(store, rows)
    assert materialize_incremental(store.repo_path, NOW - timedelta(hours=1)) == {
        "stats": 3
    }
    late = (1, NOW - timedelta(hours=3), 999)
    _publish(store, [late])
    done = materialize_incremental(store.repo_path, NOW)
    assert _online(store) == _expected([*rows, late], NOW)
    assert done == {"stats": 1} and done.late == {"stats": 1}
    # Nothing new: nothing late.
    again = materialize_incremental(store.repo_path, NOW)
    assert again == {"stats": 0} and again.late == {"stats": 0}


def test_an_incremental_end_before_the_last_one_never_goes_back(store):
    # Customers 1 and 2 online from a run up to now; then late rows 6 h old
    # (older than customer 1's online value) and 4 h old (newer than customer
    # 2's), and a run to 3 h ago, before where the view stopped: it ranked
    # the late entities' rows before that END and wrote customer 1's 5 h old
    # value over its 2 h old one (SQLite keeps no newer row). The store holds
    # rows up to where the view stopped: late rows are ranked up to there.
    rows = [
        (1, NOW - timedelta(hours=5), 1),
        (1, NOW - timedelta(hours=2), 2),
        (2, NOW - timedelta(hours=5), 3),
    ]
    _publish(store, rows)
    materialize_incremental(store.repo_path, NOW)
    late = [(1, NOW - timedelta(hours=6), 4), (2, NOW - timedelta(hours=4), 5)]
    _publish(store, late)
    done = materialize_incremental(store.repo_path, NOW - timedelta(hours=3))
    assert _online(store) == _expected([*rows, *late], NOW)
    assert done.late == {"stats": 2}


OTHER_VIEWS = """
glob_view = FeatureView(
    name="glob", entities=[], ttl=timedelta(days=30),
    schema=[Field(name="visits", dtype=Int64)],
    source=FileSource(name="glob", path="data/stats", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp"),
)
renamed_view = FeatureView(
    name="renamed", entities=[customer], ttl=timedelta(days=30),
    schema=[Field(name="n", dtype=Int64)],
    source=FileSource(name="renamed", path="data/stats", file_format=DeltaFormat(),
                      timestamp_field="at",
                      field_mapping={"visits": "n", "event_timestamp": "at"}),
)
"""


def test_late_rows_of_an_entityless_and_a_renaming_view(tmp_path):
    store = delta_repo(tmp_path / "repo", "late", DEFINITIONS + OTHER_VIEWS)
    rows = [(k, NOW - timedelta(hours=5 + k), 10 + k) for k in range(3)]
    _publish(store, rows)
    materialize_incremental(store.repo_path, NOW - timedelta(hours=1))
    late = (2, NOW - timedelta(hours=3), 999)  # the newest row of all, too
    _publish(store, [late])
    done = materialize_incremental(store.repo_path, NOW)
    expected = _expected([*rows, late], NOW)
    got = store.get_online_features(
        features=["renamed:n", "glob:visits"],
        entity_rows=[{"customer_id": k} for k in range(KEYS)],
    ).to_dict()
    assert dict(zip(got["customer_id"], got["n"], strict=True)) == expected
    assert set(got["visits"]) == {999}
    assert done.late == {"stats": 1, "glob": 1, "renamed": 1}


@pytest.mark.parametrize("seed", [20261208, 1, 2])
def test_random_appends_and_runs_equal_the_latest_row_per_key(store, seed):
    rng = random.Random(seed)
    published: list[tuple[int, datetime, int]] = []
    used: set[tuple[int, datetime]] = set()
    end = NOW - timedelta(hours=48)
    value = 0
    for step in range(14):
        batch = []
        for _ in range(rng.randint(1, 4)):
            key = rng.randrange(KEYS)
            event = NOW - timedelta(minutes=rng.randrange(72 * 60))
            if (key, event) in used:  # one row per key and time: no tie
                continue
            used.add((key, event))
            value += 1
            batch.append((key, event, value))
        published += batch
        if step % 5 == 4:  # the table rewritten whole: every file is new
            _publish(store, published, mode="overwrite")
        else:
            _publish(store, batch)
        end += timedelta(hours=rng.randint(0, 8))
        if step % 4 == 2:
            # Feast's own run in between moves the end, not our version.
            store.refresh_registry()  # our runs changed it
            store.materialize_incremental(end)
            continue
        materialize_incremental(store.repo_path, end)
        assert _online(store) == _expected(published, end), step


def test_a_vacuumed_version_re_derives_every_key(store):
    rows = [(k, NOW - timedelta(hours=5), k) for k in range(3)]
    _publish(store, rows)
    materialize_incremental(store.repo_path, NOW - timedelta(hours=1))
    late = (2, NOW - timedelta(hours=2), 77)
    # An overwrite removes version 0's file; VACUUM deletes it, so the rows
    # added since version 0 can no longer be told.
    _publish(store, [*rows, late], mode="overwrite")
    DeltaTable(_table_path(store)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )
    done = materialize_incremental(store.repo_path, NOW)
    assert _online(store) == _expected([*rows, late], NOW)
    assert done == {"stats": 3}
    assert "no longer be read" in done.rederived["stats"]


def test_a_table_created_again_re_derives_every_key(store):
    rows = [(k, NOW - timedelta(hours=5), k) for k in range(3)]
    _publish(store, rows)
    for n in range(3):  # the recorded version: 3
        _publish(store, [(0, NOW - timedelta(hours=6 + n), -n)])
    materialize_incremental(store.repo_path, NOW - timedelta(hours=1))
    shutil.rmtree(_table_path(store))
    late = [(1, NOW - timedelta(hours=4), 55)]
    _publish(store, [*rows, *late])  # version 0 of another table
    done = materialize_incremental(store.repo_path, NOW)
    assert _online(store) == _expected([*rows, *late], NOW)
    assert "created again" in done.rederived["stats"]


def test_a_view_without_a_recorded_version_is_re_derived_once(store):
    # Feast's run records no Delta version (as one before versions were).
    rows = [(k, NOW - timedelta(hours=5), k) for k in range(3)]
    _publish(store, rows)
    store.materialize_incremental(NOW - timedelta(hours=1), ["stats"])
    late = (0, NOW - timedelta(hours=2), 42)
    _publish(store, [late])
    done = materialize_incremental(store.repo_path, NOW)
    assert _online(store) == _expected([*rows, late], NOW)
    assert done == {"stats": 3} and "no Delta version" in done.rederived["stats"]
    again = materialize_incremental(store.repo_path, NOW)
    assert again == {"stats": 0} and not again.rederived


def test_a_window_leaving_a_gap_makes_the_next_run_re_derive(store):
    rows = [(k, NOW - timedelta(hours=9 - k), k) for k in range(3)]
    _publish(store, rows)
    assert materialize(store.repo_path, NOW - timedelta(hours=10), NOW - timedelta(
        hours=8, minutes=30)) == {"stats": 1}  # fmt: skip
    # Customer 1 (8 h old) is in the gap before this window.
    assert materialize(store.repo_path, NOW - timedelta(hours=7), NOW) == {"stats": 1}
    done = materialize_incremental(store.repo_path, NOW)
    assert _online(store) == _expected(rows, NOW)
    assert "gap" in done.rederived["stats"]


def test_a_window_going_back_makes_the_next_run_restore_the_latest_rows(store):
    rows = [(0, NOW - timedelta(hours=5), 1), (0, NOW - timedelta(hours=2), 2)]
    _publish(store, rows)
    materialize_incremental(store.repo_path, NOW)
    # An older window: SQLite takes its older row (Redis keeps the newer one).
    materialize(store.repo_path, NOW - timedelta(hours=6), NOW - timedelta(hours=3))
    done = materialize_incremental(store.repo_path, NOW)
    assert _online(store) == _expected(rows, NOW)
    assert "went back" in done.rederived["stats"]


def test_the_json_output_counts_the_late_entities(store):
    rows = [(k, NOW - timedelta(hours=5), k) for k in range(4)]
    _publish(store, rows)
    repo = ["--repo", str(store.repo_path)]
    first = (NOW - timedelta(hours=1)).isoformat()
    runner = CliRunner()
    done = runner.invoke(cli, ["materialize", "--incremental", first, *repo])
    assert done.exit_code == 0, done.output
    _publish(
        store, [(0, NOW - timedelta(hours=2), 50), (3, NOW - timedelta(hours=3), 53)]
    )
    done = runner.invoke(
        cli, ["materialize", "--incremental", NOW.isoformat(), *repo, "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "stats": 2, "@late_entities": {"stats": 2}, "@rederived": {}
    }  # fmt: skip
