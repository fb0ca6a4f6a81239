"""Fixtures for online-store integration tests: a real redis-server process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.repo_config import RepoConfig

from tests.redis_harness import RedisProcess, start_redis_process
from tests.unit.online import _world as w


@dataclass
class RedisWorld:
    """A Feast Redis online store with driver, user_item and user_profile rows."""

    server: RedisProcess
    config: RepoConfig
    store: RedisOnlineStore
    tmp_path: Path


def populate(config: RepoConfig, store: RedisOnlineStore) -> None:
    """Write the shared fixture rows through Feast's own online_write_batch."""
    fresh = w.NOW - timedelta(minutes=5, microseconds=123456)
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


def _world(tmp_path: Path) -> Iterator[RedisWorld]:
    server = start_redis_process(tmp_path / "redis")
    try:
        config = w.redis_config(tmp_path, server.host, server.port)
        store = RedisOnlineStore()
        populate(config, store)
        yield RedisWorld(server, config, store, tmp_path)
    finally:
        server.stop()


@pytest.fixture
def redis_world(tmp_path: Path) -> Iterator[RedisWorld]:
    """A fresh redis-server with Feast-written rows per test."""
    yield from _world(tmp_path)


@pytest.fixture(scope="module")
def shared_redis_world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisWorld]:
    """One redis-server with Feast-written rows per module (hypothesis tests)."""
    yield from _world(tmp_path_factory.mktemp("online_redis"))
