"""SqliteOnlineReader against rows written by Feast's own SqliteOnlineStore."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import apsw
import pytest
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.services.online import (
    FeatureStatus,
    OnlineStoreUnavailableError,
    OnlineTableNotFoundError,
    PackedDoubles,
    Reason,
    SqliteOnlineReader,
    ViewRequest,
    build_online_reader,
)
from tests.unit.online import _world as w
from tests.unit.online._compare import assert_same_as_feast, request_for

DRIVER_FEATURES = ("conv_rate", "acc_rate", "trips", "label")


def test_builds_sqlite_reader_from_repo_config(sqlite_world) -> None:
    reader = build_online_reader(sqlite_world.config)
    assert isinstance(reader, SqliteOnlineReader)
    assert reader.ping()


def test_values_and_timestamps_match_feast(sqlite_world) -> None:
    reader = build_online_reader(sqlite_world.config)
    ids = [1, 2, 49, 999, 2]
    [result] = reader.read(
        w.PROJECT, [request_for(w.driver_stats_view)], {"driver_id": ids}, w.NOW
    )
    assert result.features == DRIVER_FEATURES
    assert_same_as_feast(
        result,
        sqlite_world.store,
        sqlite_world.config,
        w.driver_stats_view,
        [[i] for i in ids],
        DRIVER_FEATURES,
        w.NOW,
    )
    assert result.statuses[0] == [FeatureStatus.PRESENT] * 4
    assert result.values[0][2].int64_val == 10


def test_unknown_key_is_not_found(sqlite_world) -> None:
    reader = build_online_reader(sqlite_world.config)
    [result] = reader.read(
        w.PROJECT, [request_for(w.driver_stats_view)], {"driver_id": [12345]}, w.NOW
    )
    assert result.event_times == [None]
    assert result.values == [[None] * 4]
    assert result.statuses == [[FeatureStatus.NOT_FOUND] * 4]


def test_ttl_expired_is_outside_max_age_and_still_returned(sqlite_world) -> None:
    reader = build_online_reader(sqlite_world.config)
    [result] = reader.read(
        w.PROJECT,
        [request_for(w.driver_stats_view, ["trips"])],
        {"driver_id": [55, 5]},
        w.NOW,
    )
    assert result.statuses == [[FeatureStatus.OUTSIDE_MAX_AGE], [FeatureStatus.PRESENT]]
    assert result.values[0][0].int64_val == 550
    # The same row is fresh relative to an earlier `now`.
    [earlier] = reader.read(
        w.PROJECT,
        [request_for(w.driver_stats_view, ["trips"])],
        {"driver_id": [55]},
        w.NOW - timedelta(hours=2),
    )
    assert earlier.statuses == [[FeatureStatus.PRESENT]]


def test_no_ttl_never_expires(sqlite_world) -> None:
    reader = build_online_reader(sqlite_world.config)
    [result] = reader.read(
        w.PROJECT,
        [request_for(w.user_item_view)],
        {"user_id": ["u1"], "item_id": [2]},
        w.NOW + timedelta(days=3650),
    )
    assert result.statuses == [[FeatureStatus.PRESENT] * 2]


def test_multi_column_keys_match_feast(sqlite_world) -> None:
    reader = build_online_reader(sqlite_world.config)
    rows = [("u1", 0), ("u9", 2), ("u1", 7), ("zz", 1)]
    [result] = reader.read(
        w.PROJECT,
        [request_for(w.user_item_view)],
        # Column order in the request does not matter; Feast sorts join keys.
        {"item_id": [r[1] for r in rows], "user_id": [r[0] for r in rows]},
        w.NOW,
    )
    assert_same_as_feast(
        result,
        sqlite_world.store,
        sqlite_world.config,
        w.user_item_view,
        rows,
        ("score", "clicked"),
        w.NOW,
    )
    assert result.statuses[2] == [FeatureStatus.NOT_FOUND] * 2


def test_several_views_in_one_call(sqlite_world) -> None:
    reader = build_online_reader(sqlite_world.config)
    rows = {
        "user_id": ["u1", "u8", "u3"],
        "item_id": [1, 1, 2],
        "driver_id": [3, 4, 58],
    }
    views = [
        request_for(w.user_profile_view),
        request_for(w.user_item_view, ["clicked"]),
        request_for(w.driver_stats_view, ["label", "trips"]),
    ]
    profile, user_item, drivers = reader.read(w.PROJECT, views, rows, w.NOW)
    cfg, store = sqlite_world.config, sqlite_world.store
    assert_same_as_feast(
        profile,
        store,
        cfg,
        w.user_profile_view,
        [[u] for u in rows["user_id"]],
        ("age", "country"),
        w.NOW,
    )
    assert_same_as_feast(
        user_item,
        store,
        cfg,
        w.user_item_view,
        list(zip(rows["user_id"], rows["item_id"], strict=True)),
        ("clicked",),
        w.NOW,
    )
    assert_same_as_feast(
        drivers,
        store,
        cfg,
        w.driver_stats_view,
        [[d] for d in rows["driver_id"]],
        ("label", "trips"),
        w.NOW,
    )
    assert drivers.statuses[2] == [FeatureStatus.OUTSIDE_MAX_AGE] * 2


def test_unknown_feature_is_not_found(sqlite_world) -> None:
    reader = build_online_reader(sqlite_world.config)
    view = ViewRequest("driver_stats", ("driver_id",), ("trips", "nope"))
    [result] = reader.read(w.PROJECT, [view], {"driver_id": [1]}, w.NOW)
    assert result.statuses == [[FeatureStatus.PRESENT, FeatureStatus.NOT_FOUND]]


def test_missing_table_raises_table_not_found(sqlite_world) -> None:
    reader = build_online_reader(sqlite_world.config)
    view = ViewRequest("ghost", ("driver_id",), ("x",))
    try:
        reader.read(w.PROJECT, [view], {"driver_id": [1]}, w.NOW)
    except OnlineTableNotFoundError as exc:
        assert exc.reason is Reason.ONLINE_TABLE_NOT_FOUND
        assert exc.metadata == {"table": "proj_ghost"}
    else:
        raise AssertionError("expected OnlineTableNotFoundError")


def test_missing_file_is_unavailable_then_recovers(
    tmp_path, sqlite_world, caplog
) -> None:
    path = tmp_path / "later.db"
    reader = SqliteOnlineReader(path, 3)
    assert not reader.ping()
    try:
        reader.read(
            w.PROJECT, [request_for(w.driver_stats_view)], {"driver_id": [1]}, w.NOW
        )
    except OnlineStoreUnavailableError as exc:
        assert exc.reason is Reason.ONLINE_STORE_UNAVAILABLE
        # What a client reads names the kind of store, not the server's file
        # (it said "online store sqlite:/srv/.../online.db is unavailable").
        assert str(exc).startswith("online store sqlite is unavailable: ")
        assert str(tmp_path) not in str(exc)
        assert not any(str(tmp_path) in v for v in exc.metadata.values())
        assert str(path) in caplog.text  # the operator's log has it
    else:
        raise AssertionError("expected OnlineStoreUnavailableError")
    with sqlite3.connect(sqlite_world.path) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    assert reader.ping()
    [result] = reader.read(
        w.PROJECT, [request_for(w.driver_stats_view)], {"driver_id": [1]}, w.NOW
    )
    assert result.statuses == [[FeatureStatus.PRESENT] * 4]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ids=st.lists(st.integers(min_value=-5, max_value=70), min_size=1, max_size=40),
    pairs=st.lists(
        st.tuples(st.sampled_from([f"u{i}" for i in range(12)]), st.integers(0, 4)),
        min_size=1,
        max_size=40,
    ),
    now_offset_min=st.integers(min_value=-300, max_value=300),
)
def test_random_key_sets_match_feast(
    shared_sqlite_world, ids, pairs, now_offset_min
) -> None:
    world = shared_sqlite_world
    now = w.NOW + timedelta(minutes=now_offset_min)
    n = min(len(ids), len(pairs))
    ids, pairs = ids[:n], pairs[:n]
    reader = build_online_reader(world.config)
    drivers, user_item = reader.read(
        w.PROJECT,
        [request_for(w.driver_stats_view), request_for(w.user_item_view)],
        {
            "driver_id": ids,
            "user_id": [p[0] for p in pairs],
            "item_id": [p[1] for p in pairs],
        },
        now,
    )
    assert_same_as_feast(
        drivers,
        world.store,
        world.config,
        w.driver_stats_view,
        [[i] for i in ids],
        DRIVER_FEATURES,
        now,
    )
    assert_same_as_feast(
        user_item,
        world.store,
        world.config,
        w.user_item_view,
        pairs,
        ("score", "clicked"),
        now,
    )


DOUBLES = ("speed", "rating", "distance")


@pytest.mark.parametrize(
    # Stored cells come back in an order of SQLite's choosing; one of these
    # two differs from it.
    "features",
    [("distance", "speed"), ("speed", "distance")],
)
def test_double_views_are_read_as_one_block(
    sqlite_world, features: tuple[str, ...]
) -> None:
    reader = build_online_reader(sqlite_world.config)
    ids = [3, 1, 999, 42, 3, 2]
    [result] = reader.read(
        w.PROJECT,
        [request_for(w.driver_doubles_view, features)],
        {"driver_id": ids},
        w.NOW,
    )
    assert isinstance(result.raw_values, PackedDoubles)
    assert_same_as_feast(
        result,
        sqlite_world.store,
        sqlite_world.config,
        w.driver_doubles_view,
        [[i] for i in ids],
        features,
        w.NOW,
    )
    assert result.values[1][features.index("distance")].double_val == 1 / 3
    assert result.statuses[2] == [FeatureStatus.NOT_FOUND] * 2
    assert result.statuses[3] == [FeatureStatus.OUTSIDE_MAX_AGE] * 2


@pytest.mark.parametrize(
    "odd_id",
    [
        7,  # a 9-byte int64 where a double is declared
        9,  # a 5-byte float
        13,  # a 13-byte string
        11,  # a stored row without one of the features
    ],
)
def test_block_read_cuts_values_that_are_not_all_doubles_out_of_one_query(
    sqlite_world, odd_id: int
) -> None:
    statements: list[str] = []

    def count(cursor: object, sql: str, bindings: object) -> bool:
        statements.append(sql)
        return True

    apsw.connection_hooks.append(lambda conn: setattr(conn, "exec_trace", count))
    try:
        reader = build_online_reader(sqlite_world.config)
        ids = [1, odd_id, 2, 999]
        reader.ping()  # opens the connection (its pragmas are statements too)
        statements.clear()
        [result] = reader.read(
            w.PROJECT, [request_for(w.driver_doubles_view)], {"driver_id": ids}, w.NOW
        )
    finally:
        apsw.connection_hooks.pop()
    assert len(statements) == 1, statements
    assert not isinstance(result.raw_values, PackedDoubles)
    assert_same_as_feast(
        result,
        sqlite_world.store,
        sqlite_world.config,
        w.driver_doubles_view,
        [[i] for i in ids],
        DOUBLES,
        w.NOW,
    )


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ids=st.lists(st.integers(min_value=-3, max_value=50), min_size=1, max_size=30),
    features=st.lists(st.sampled_from(DOUBLES), min_size=1, max_size=3, unique=True),
    now_offset_min=st.integers(min_value=-300, max_value=300),
)
def test_random_double_reads_match_feast(
    shared_sqlite_world, ids, features, now_offset_min
) -> None:
    world = shared_sqlite_world
    now = w.NOW + timedelta(minutes=now_offset_min)
    reader = build_online_reader(world.config)
    [result] = reader.read(
        w.PROJECT,
        [request_for(w.driver_doubles_view, features)],
        {"driver_id": ids},
        now,
    )
    assert_same_as_feast(
        result,
        world.store,
        world.config,
        w.driver_doubles_view,
        [[i] for i in ids],
        features,
        now,
    )


def test_block_read_is_skipped_in_a_utf16_database(tmp_path) -> None:
    # The block read passes blobs through text functions, which would
    # transcode them in a database whose text encoding is not UTF-8.
    config = w.sqlite_config(tmp_path)
    with sqlite3.connect(tmp_path / "online.db") as conn:
        conn.execute("PRAGMA encoding = 'UTF-16le'")
        conn.execute("CREATE TABLE first_table_fixes_the_encoding (x)")
    store = SqliteOnlineStore()
    store.update(config, [], [w.driver_doubles_view], [], [], partial=False)
    rows = w.driver_double_rows([1, 2, 3], w.NOW - timedelta(minutes=5))
    store.online_write_batch(config, w.driver_doubles_view, rows, None)
    reader = build_online_reader(config)
    ids = [1, 2, 3, 4]
    [result] = reader.read(
        w.PROJECT, [request_for(w.driver_doubles_view)], {"driver_id": ids}, w.NOW
    )
    assert not isinstance(result.raw_values, PackedDoubles)
    assert_same_as_feast(
        result,
        store,
        config,
        w.driver_doubles_view,
        [[i] for i in ids],
        DOUBLES,
        w.NOW,
    )


def test_a_server_outside_utc_is_warned_about_sqlites_local_times(
    tmp_path, monkeypatch, caplog
):
    # Feast's SQLite format keeps event times in the writer's local time zone:
    # a server in another one shifted every age (by 5 hours in New York).
    import logging
    import time

    from featurestore.services.online._sqlite import SqliteOnlineReader

    try:
        with caplog.at_level(logging.WARNING):
            monkeypatch.setenv("TZ", "UTC")
            time.tzset()
            SqliteOnlineReader(tmp_path / "online.db", 3)
            assert "is not UTC" not in caplog.text
            monkeypatch.setenv("TZ", "America/New_York")
            time.tzset()
            SqliteOnlineReader(tmp_path / "online.db", 3)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert "is not UTC (EST/EDT): materialise in the same time zone" in caplog.text
