"""Fixtures for online-store unit tests: a real Feast SQLite online store."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from feast.repo_config import RepoConfig

from tests.unit.online import _world as w


@dataclass
class SqliteWorld:
    """A Feast SQLite online store with rows for every view of ``_world``."""

    config: RepoConfig
    store: SqliteOnlineStore
    path: Path


def _build(tmp_path: Path) -> SqliteWorld:
    config = w.sqlite_config(tmp_path)
    store = SqliteOnlineStore()
    store.update(config, [], w.VIEWS, [], [], partial=False)
    fresh = w.NOW - timedelta(minutes=5)
    stale = w.NOW - timedelta(hours=3)
    store.online_write_batch(
        config, w.driver_stats_view, w.driver_rows(range(1, 50), fresh), None
    )
    store.online_write_batch(
        config, w.driver_stats_view, w.driver_rows(range(50, 60), stale), None
    )
    pairs = [(f"u{i}", j) for i in range(10) for j in range(3)]
    store.online_write_batch(
        config, w.user_item_view, w.user_item_rows(pairs, stale), None
    )
    users = [f"u{i}" for i in range(8)]
    store.online_write_batch(
        config, w.user_profile_view, w.user_profile_rows(users, fresh), None
    )
    store.online_write_batch(
        config, w.driver_doubles_view, w.driver_double_rows(range(1, 41), fresh), None
    )
    store.online_write_batch(
        config, w.driver_doubles_view, w.driver_double_rows(range(41, 46), stale), None
    )
    path = tmp_path / "online.db"
    # Driver 11 lacks one feature (a row Feast would write for a narrower view).
    with sqlite3.connect(path) as conn:
        conn.execute(
            "DELETE FROM proj_driver_doubles WHERE feature_name = 'speed' "
            "AND entity_key = ?",
            (serialize_entity_key(w.entity_key(w.driver_doubles_view, [11]), 3),),
        )
    return SqliteWorld(config, store, path)


@pytest.fixture
def sqlite_world(tmp_path: Path) -> SqliteWorld:
    """A fresh populated SQLite online store per test."""
    return _build(tmp_path)


@pytest.fixture(scope="module")
def shared_sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> SqliteWorld:
    """One populated SQLite online store per module (for hypothesis tests)."""
    return _build(tmp_path_factory.mktemp("online_sqlite"))
