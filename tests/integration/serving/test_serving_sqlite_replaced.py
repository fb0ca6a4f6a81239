"""A SQLite online store replaced or deleted under a running server."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from feast.protos.feast.types.Value_pb2 import Value
from grpc_health.v1 import health_pb2

from featurestore.services.online._sqlite import FILE_CHECK_S
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import (
    Served,
    health_status,
    online_request,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
CALLS = 48  # concurrent, so that many of the server's threads hold a connection


def _spends(stub: FeatureStoreServiceStub) -> set[float | str]:
    """Customer 3's spend in CALLS concurrent reads; a failed read's status code."""

    def one(_: int) -> float | str:
        try:
            reply = stub.GetOnlineFeatures(online_request(), timeout=10)
        except grpc.RpcError as err:
            return str(err.code())
        return float(reply.columns[1].values[0].double_value)

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(one, range(CALLS)))


def _with_spend(online: Path, project: str, spend: float, copy: Path) -> Path:
    """A copy of the store in which every customer's spend is ``spend``."""
    shutil.copyfile(online, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute(
            f'UPDATE "{project}_customer_stats" SET value = ? '
            "WHERE feature_name = 'spend'",
            (Value(double_val=spend).SerializeToString(),),
        )
    conn.close()
    return copy


def _after_one_check() -> None:
    """Wait until every server thread's next read checks the file again."""
    deadline = time.monotonic() + FILE_CHECK_S
    while time.monotonic() < deadline:
        time.sleep(0.05)


def _close_feasts_connection(served: Served) -> None:
    """Feast's store that filled the file (in this process) keeps it open."""
    store = served.store._get_provider().online_store
    if store._conn is not None:
        store._conn.close()
        store._conn = None


def _descriptors_on_deleted(online: Path) -> int:
    """This process's (the server's) open descriptors on a deleted store file."""
    held = 0
    for fd in Path(f"/proc/{os.getpid()}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed meanwhile
            continue
        held += target == f"{online} (deleted)"
    return held


def test_a_replaced_store_is_read_from_the_new_file(sqlite_served, tmp_path):
    online = tmp_path / "online.db"
    _close_feasts_connection(sqlite_served)
    project = sqlite_served.store.project
    stub = FeatureStoreServiceStub(sqlite_served.channel)
    assert _spends(stub) == {30.5}

    held = []
    for spend in (111.0, 222.0, 333.0):
        # Atomic, as a deploy copies a new store in: rename over the old one.
        os.replace(_with_spend(online, project, spend, tmp_path / "new.db"), online)
        _after_one_check()
        assert _spends(stub) == {spend}
        held.append(_descriptors_on_deleted(online))
    # The thread noticing the new file closes every idle thread's old one.
    assert held == [0, 0, 0]


def test_a_deleted_store_is_unavailable_then_recovers(sqlite_served, tmp_path):
    online = tmp_path / "online.db"
    _close_feasts_connection(sqlite_served)
    stub = FeatureStoreServiceStub(sqlite_served.channel)
    assert _spends(stub) == {30.5}
    kept = shutil.copyfile(online, tmp_path / "kept.db")

    online.unlink()  # as `feast teardown` does
    wait_for(lambda: health_status(sqlite_served.channel) == NOT_SERVING)
    _after_one_check()
    assert _spends(stub) == {str(grpc.StatusCode.UNAVAILABLE)}
    assert not online.exists()  # reads do not create an empty store
    assert _descriptors_on_deleted(online) == 0

    os.replace(kept, online)
    wait_for(lambda: health_status(sqlite_served.channel) == SERVING)
    _after_one_check()
    assert _spends(stub) == {30.5}
