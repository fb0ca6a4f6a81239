"""Fixtures: a served temporary Feast repo on SQLite, and one on a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.serving._repo import (
    Served,
    make_repo,
    redis_online,
    serve,
    sqlite_online,
    write_online,
)
from tests.redis_harness import RedisProcess, start_redis_process


# Every serving test runs against the gRPC server itself and through the
# compiled front (fs-front), which must answer the same way.
@pytest.fixture(params=["grpc-python", "fs-front"])
def transport(request: pytest.FixtureRequest) -> bool:
    """True when clients go through fs-front."""
    return bool(request.param == "fs-front")


@pytest.fixture
def sqlite_served(tmp_path: Path, transport: bool) -> Iterator[Served]:
    """Our server over a SQLite online store filled by Feast's write path."""
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    served = serve(
        store, transport, registry_refresh_seconds=0.2, max_online_entity_rows=50
    )
    yield served
    served.stop()


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """A real redis-server for one test."""
    server = start_redis_process(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def redis_served(
    tmp_path: Path, redis_process: RedisProcess, transport: bool
) -> Iterator[Served]:
    """Our server over Redis, short store timeout, fast health checks."""
    store = make_repo(tmp_path, redis_online(redis_process.host, redis_process.port))
    write_online(store)
    served = serve(
        store, transport, registry_refresh_seconds=0.2, online_timeout_seconds=0.5
    )
    yield served
    served.stop()
