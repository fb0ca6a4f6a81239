"""write_latest into Redis writes exactly what Feast's own path writes."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest
import redis
from feast import FeatureView, Field
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import Float64, Int64
from google.protobuf.timestamp_pb2 import Timestamp

from featurestore.services.online._redis import feature_field
from featurestore.services.online.writer import write_latest
from tests.redis_harness import dump_hashes, start_redis_process
from tests.unit.online import _world as w
from tests.unit.online._tables import driver_table, feast_write

pytestmark = pytest.mark.integration

FEATURES = ["conv_rate", "acc_rate", "trips", "label"]


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

    expected = dump_hashes(feast_srv.port)
    assert len(expected) == 300
    assert dump_hashes(ours_srv.port) == expected
    write_latest(ours_cfg, w.driver_stats_view, table)
    assert dump_hashes(ours_srv.port) == expected

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
    assert dump_hashes(ours_srv.port) == dump_hashes(feast_srv.port)
    ttls = []
    for srv in (feast_srv, ours_srv):
        client = redis.Redis(port=srv.port)
        ttls.append({client.ttl(k) > 0 for k in client.scan_iter(count=1000)})
        client.close()
    assert ttls[1] == ttls[0] == {"key_ttl_seconds" in options}


def _stored_times(event_ns: int) -> list[Timestamp]:
    """Stored event times around ``event_ns``, including odd encodings."""
    s, n = divmod(event_ns, 1_000_000_000)
    with_unknown_field = Timestamp(seconds=s + 1, nanos=n)
    return [
        Timestamp(seconds=s, nanos=n),  # equal: written again
        Timestamp(seconds=s, nanos=n + 1),  # one nanosecond later: kept
        Timestamp(seconds=s, nanos=n - 1),  # one nanosecond earlier
        Timestamp(seconds=s - 1, nanos=n + 1),
        Timestamp(seconds=s + 1, nanos=n - 1_000_000_000),  # equal, not normalised
        Timestamp(seconds=s + 1, nanos=n - 999_999_999),  # later, not normalised
        Timestamp(),  # the epoch: nothing stored, as Feast has it
        Timestamp(seconds=-5, nanos=3),  # before 1970: written over
        Timestamp(seconds=-1, nanos=999_999_999),
        Timestamp(seconds=253_402_300_799),  # year 9999: kept
        Timestamp(seconds=0, nanos=1),
        with_unknown_field,
    ]


def test_a_stored_time_is_overwritten_exactly_when_it_is_not_later(
    tmp_path, two_servers
) -> None:
    # The comparison runs in a Lua script on the server: it must keep the
    # rule the Python check had (stored ns > incoming ns keeps the stored row;
    # a stored 0 counts as nothing stored), for every encoding of a stored
    # time, including negative varints and nanos outside 0..1e9.
    server, _ = two_servers
    config = w.redis_config(tmp_path, server.host, server.port)
    first = driver_table(12, minutes_ago=10)
    event_ns = first.column("event_timestamp")[0].value * 1000
    stored = _stored_times(event_ns)
    stored_raw = [ts.SerializeToString() for ts in stored]
    stored_raw[-1] += b"\x18\x05"  # field 3 = 5: unknown, skipped by a parser
    assert write_latest(config, w.driver_stats_view, first) == 12
    client = redis.Redis(port=server.port)
    try:
        ts_field = b"_ts:" + w.driver_stats_view.name.encode()
        keys = sorted(client.scan_iter(count=1000))
        for key, raw in zip(keys, stored_raw, strict=True):
            client.hset(key, ts_field, raw)
        trips = pa.array([70] * 12, pa.int64())
        second = first.set_column(first.column_names.index("trips"), "trips", trips)
        written = write_latest(config, w.driver_stats_view, second)
        after = {key: client.hget(key, ts_field) for key in keys}
        trips_field = feature_field(w.driver_stats_view.name, "trips")
        seventy = ValueProto(int64_val=70).SerializeToString()
        rewritten = [client.hget(key, trips_field) == seventy for key in keys]
    finally:
        client.close()
    incoming = Timestamp(seconds=event_ns // 10**9, nanos=event_ns % 10**9)
    # The Python rule the writer had before the script: skip a later time.
    writes = [
        not ((old := ts.seconds * 1_000_000_000 + ts.nanos) and event_ns < old)
        for ts in stored
    ]
    assert after == {
        key: incoming.SerializeToString() if write else raw
        for key, raw, write in zip(keys, stored_raw, writes, strict=True)
    }
    assert rewritten == writes
    assert written == sum(writes)
    assert 0 < written < 12


def test_a_view_of_thousands_of_features_is_written_as_feast_writes_it(
    tmp_path, two_servers
) -> None:
    # 4,500 features: 9,002 HSET arguments per entity, past what one Lua
    # unpack() takes (Redis's Lua stack holds ~8,000); the compare-and-write
    # script writes such a hash in slices.
    feast_srv, ours_srv = two_servers
    names = [f"f{i}" for i in range(4_500)]
    view = FeatureView(
        name="wide",
        entities=[w.driver],
        ttl=timedelta(hours=2),
        schema=[Field(name="driver_id", dtype=Int64)]
        + [Field(name=n, dtype=Float64) for n in names],
        source=w.driver_stats_view.batch_source,
    )
    ids = [1, 2, 3]
    table = pa.table(
        {
            "driver_id": pa.array(ids, pa.int64()),
            **{n: pa.array([i * 0.5 + k for k in ids]) for i, n in enumerate(names)},
            "event_timestamp": pa.array(
                [w.NOW] * len(ids), pa.timestamp("us", tz="UTC")
            ),
        }
    )
    feast_write(
        RedisOnlineStore(),
        w.redis_config(tmp_path, feast_srv.host, feast_srv.port),
        view,
        table,
    )
    ours_cfg = w.redis_config(tmp_path, ours_srv.host, ours_srv.port)
    assert write_latest(ours_cfg, view, table) == len(ids)

    expected = dump_hashes(feast_srv.port)
    assert len(expected) == len(ids)
    assert all(len(fields) == len(names) + 1 for fields in expected.values())
    assert dump_hashes(ours_srv.port) == expected
