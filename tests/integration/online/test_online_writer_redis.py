"""write_latest into Redis writes exactly what Feast's own path writes."""

from __future__ import annotations

import pyarrow as pa
import pytest
import redis
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from feast.repo_config import RepoConfig

from featurestore.services.online.writer import write_latest
from tests.redis_harness import start_redis_process
from tests.unit.online import _world as w
from tests.unit.online._tables import driver_table, feast_write

pytestmark = pytest.mark.integration

FEATURES = ["conv_rate", "acc_rate", "trips", "label"]


def _dump(port: int) -> dict[bytes, dict[bytes, bytes]]:
    client = redis.Redis(port=port)
    try:
        return {k: client.hgetall(k) for k in client.scan_iter(count=1000)}
    finally:
        client.close()


@pytest.fixture
def two_servers(tmp_path):
    a = start_redis_process(tmp_path / "a")
    b = start_redis_process(tmp_path / "b")
    yield a, b
    a.stop()
    b.stop()


def test_same_hashes_as_feast_and_idempotent(tmp_path, two_servers) -> None:
    feast_srv, ours_srv = two_servers
    table = driver_table(300)
    feast_cfg = w.redis_config(tmp_path, feast_srv.host, feast_srv.port)
    feast_store = RedisOnlineStore()
    feast_write(feast_store, feast_cfg, w.driver_stats_view, table)
    ours_cfg = w.redis_config(tmp_path, ours_srv.host, ours_srv.port)
    assert write_latest(ours_cfg, w.driver_stats_view, table) == 300

    expected = _dump(feast_srv.port)
    assert len(expected) == 300
    assert _dump(ours_srv.port) == expected
    write_latest(ours_cfg, w.driver_stats_view, table)
    assert _dump(ours_srv.port) == expected

    keys = [w.entity_key(w.driver_stats_view, [i]) for i in (0, 7, 150, 999)]
    ours_read = RedisOnlineStore().online_read(
        ours_cfg, w.driver_stats_view, keys, FEATURES
    )
    assert ours_read == feast_store.online_read(
        feast_cfg, w.driver_stats_view, keys, FEATURES
    )


def test_never_overwrites_newer_event_time(tmp_path, two_servers) -> None:
    server, _ = two_servers
    config = w.redis_config(tmp_path, server.host, server.port)
    newer = driver_table(5, minutes_ago=1)
    older = driver_table(5, minutes_ago=30)
    older = older.set_column(
        older.column_names.index("trips"), "trips", pa.array([7] * 5, pa.int64())
    )
    assert write_latest(config, w.driver_stats_view, newer) == 5
    # None written (all skipped: a newer time is stored), and it says so.
    assert write_latest(config, w.driver_stats_view, older) == 0
    [(_, values)] = RedisOnlineStore().online_read(
        config, w.driver_stats_view, [w.entity_key(w.driver_stats_view, [3])], ["trips"]
    )
    assert values["trips"].int64_val == -3


def test_a_correction_under_the_same_event_time_is_written(
    tmp_path, two_servers
) -> None:
    # A merge that corrects a row keeps its event time; the online value must
    # follow (SQLite's upsert does). Feast's Redis writer skips it.
    server, _ = two_servers
    config = w.redis_config(tmp_path, server.host, server.port)
    first = driver_table(5, minutes_ago=10)
    corrected = first.set_column(
        first.column_names.index("trips"), "trips", pa.array([70] * 5, pa.int64())
    )
    assert write_latest(config, w.driver_stats_view, first) == 5
    assert write_latest(config, w.driver_stats_view, corrected) == 5
    keys = [w.entity_key(w.driver_stats_view, [i]) for i in range(5)]
    read = RedisOnlineStore().online_read(config, w.driver_stats_view, keys, ["trips"])
    assert [values["trips"].int64_val for _, values in read] == [70] * 5


@pytest.mark.parametrize(
    "options", [{"key_ttl_seconds": 3600}, {"skip_dedup": True}], ids=str
)
def test_store_options_match_feast(tmp_path, two_servers, options) -> None:
    feast_srv, ours_srv = two_servers
    table = driver_table(2500)  # several pipelined chunks
    configs = [
        RepoConfig(
            project=w.PROJECT,
            provider="local",
            registry=str(tmp_path / "registry.db"),
            online_store=RedisOnlineStoreConfig(
                connection_string=f"{srv.host}:{srv.port}", **options
            ),
            repo_path=tmp_path,
            entity_key_serialization_version=3,
        )
        for srv in (feast_srv, ours_srv)
    ]
    assert all(
        getattr(c.online_store, k) == v for c in configs for k, v in options.items()
    )
    feast_write(RedisOnlineStore(), configs[0], w.driver_stats_view, table)
    assert write_latest(configs[1], w.driver_stats_view, table) == 2500
    assert _dump(ours_srv.port) == _dump(feast_srv.port)
    ttls = []
    for srv in (feast_srv, ours_srv):
        client = redis.Redis(port=srv.port)
        ttls.append({client.ttl(k) > 0 for k in client.scan_iter(count=1000)})
        client.close()
    assert ttls[1] == ttls[0] == {"key_ttl_seconds" in options}
