"""Time our online readers and writer against Feast's own paths (SQLite, Redis).

Run from the repo root: ``.venv/bin/python benchmarks/bench_online_reader.py``.
Needs ``redis-server`` on PATH. Feast's reads get pre-built EntityKey protos,
so they exclude Python-value-to-proto conversion (favours Feast). On SQLite it
also times the in-process GetOnlineFeatures servicer functions (ours and Feast's
API: resolve, read, build and serialise the response; no transport). Writes compare
``write_latest`` with what ``feast materialize`` runs after the offline pull:
``_convert_arrow_to_proto`` + ``online_write_batch``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
from feast import Entity, FeatureStore, FeatureView, Field, FileSource
from feast.infra.online_stores.redis import (
    RedisOnlineStore,
    RedisOnlineStoreConfig,
)
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore,
    SqliteOnlineStoreConfig,
)
from feast.protos.feast.serving import ServingService_pb2 as serving_pb
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.repo_config import RepoConfig
from feast.types import Float64, Int64
from feast.utils import _convert_arrow_to_proto
from feast.value_type import ValueType

from featurestore.services.online import ViewRequest, build_online_reader
from featurestore.services.online.writer import write_latest
from featurestore.services.server import feast_serving, online_features
from featurestore.services.server.catalog import Catalog
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from tests.redis_harness import start_redis_process

N_FEATURES = 50
N_ENTITIES = 1000
NOW = datetime(2024, 6, 1, tzinfo=UTC)
FEATURES = [f"f{i}" for i in range(N_FEATURES)]

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
view = FeatureView(
    name="wide",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[Field(name="driver_id", dtype=Int64)]
    + [Field(name=f, dtype=Float64) for f in FEATURES],
    source=FileSource(name="s", path="unused.parquet", timestamp_field="ts"),
)


def _key(i: int) -> EntityKey:
    return EntityKey(join_keys=["driver_id"], entity_values=[Value(int64_val=i)])


def _rows() -> list[tuple[EntityKey, dict[str, Value], datetime, None]]:
    ts = NOW - timedelta(minutes=1)
    return [
        (
            _key(i),
            {f: Value(double_val=i + j) for j, f in enumerate(FEATURES)},
            ts,
            None,
        )
        for i in range(N_ENTITIES)
    ]


def _time(fn: Callable[[], object], iterations: int) -> tuple[float, float]:
    for _ in range(min(50, iterations)):
        fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def _bench(
    name: str, config: RepoConfig, store: SqliteOnlineStore | RedisOnlineStore
) -> None:
    reader = build_online_reader(config, timeout_s=2.0)
    request = [ViewRequest.from_feature_view(view)]
    for n, iters in ((1, 2000), (100, 300)):
        ids = list(range(0, n * 7, 7))
        keys = [_key(i) for i in ids]
        ours = _time(
            lambda ids=ids: reader.read("bench", request, {"driver_id": ids}, NOW),
            iters,
        )
        feast = _time(
            lambda keys=keys: store.online_read(config, view, keys, FEATURES), iters
        )
        print(
            f"{name:6} {n:>3} ent x {N_FEATURES} feat | "
            f"ours p50 {ours[0] * 1e3:7.3f} ms p99 {ours[1] * 1e3:7.3f} ms | "
            f"feast p50 {feast[0] * 1e3:7.3f} ms p99 {feast[1] * 1e3:7.3f} ms | "
            f"p50 speed-up x{feast[0] / ours[0]:.1f}"
        )


def _bench_rpc(config: RepoConfig) -> None:
    store = FeatureStore(config=config)
    store.apply([driver, view])
    catalog = Catalog(store)
    reader = build_online_reader(config, timeout_s=2.0)
    refs = [f"{view.name}:{f}" for f in FEATURES]
    kwargs = {"project": "bench", "max_rows": 1000}
    for n, iters in ((1, 2000), (100, 300)):
        ids = list(range(0, n * 7, 7))
        ours_req = pb.GetOnlineFeaturesRequest(features=refs)
        ours_req.entities["driver_id"].values.extend(
            common_pb2.Value(int64_value=i) for i in ids
        )
        feast_req = serving_pb.GetOnlineFeaturesRequest()
        feast_req.features.val.extend(refs)
        feast_req.entities["driver_id"].val.extend(Value(int64_val=i) for i in ids)
        ours = _time(
            lambda r=ours_req: online_features.online_features_wire(
                r, catalog, reader, **kwargs
            ),
            iters,
        )
        feast_api = _time(
            lambda r=feast_req: feast_serving.online_features_wire(
                r, catalog, reader, **kwargs
            ),
            iters,
        )
        print(
            f"rpc    {n:>3} ent x {N_FEATURES} feat | "
            f"featurestore.v1 p50 {ours[0] * 1e3:7.3f} ms p99 {ours[1] * 1e3:7.3f} ms"
            f" | feast.serving p50 {feast_api[0] * 1e3:7.3f} ms "
            f"p99 {feast_api[1] * 1e3:7.3f} ms"
        )


N_WRITE = 10_000


def _write_table() -> pa.Table:
    ts = NOW - timedelta(minutes=1)
    cols: dict[str, pa.Array] = {"driver_id": pa.array(range(N_WRITE), pa.int64())}
    for j, f in enumerate(FEATURES):
        cols[f] = pa.array([i * 0.5 + j for i in range(N_WRITE)], pa.float64())
    cols["ts"] = pa.array([ts] * N_WRITE, pa.timestamp("us", tz="UTC"))
    return pa.table(cols)


def _bench_write(
    name: str,
    config: RepoConfig,
    store: SqliteOnlineStore | RedisOnlineStore,
    reset: Callable[[], None],
) -> None:
    table = _write_table()
    join_keys = {"driver_id": ValueType.INT64}
    reset()
    start = time.perf_counter()
    store.online_write_batch(
        config, view, _convert_arrow_to_proto(table, view, join_keys), None
    )
    feast_s = time.perf_counter() - start
    reset()
    start = time.perf_counter()
    write_latest(config, view, table)
    ours_s = time.perf_counter() - start
    print(
        f"{name:6} write {N_WRITE} rows x {N_FEATURES} feat | "
        f"ours {N_WRITE / ours_s:9.0f} rows/s | feast {N_WRITE / feast_s:9.0f} rows/s"
        f" | speed-up x{feast_s / ours_s:.1f}"
    )


def main() -> int:
    """Populate both stores through Feast, then time both readers."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sqlite_cfg = RepoConfig(
            project="bench",
            provider="local",
            registry=str(tmp_path / "r.db"),
            online_store=SqliteOnlineStoreConfig(path=str(tmp_path / "online.db")),
        )
        sqlite_store = SqliteOnlineStore()
        sqlite_store.update(sqlite_cfg, [], [view], [], [], partial=False)
        sqlite_store.online_write_batch(sqlite_cfg, view, _rows(), None)
        _bench("sqlite", sqlite_cfg, sqlite_store)
        _bench_rpc(sqlite_cfg)

        def reset_sqlite() -> None:
            sqlite_store.update(sqlite_cfg, [view], [], [], [], partial=False)
            sqlite_store.update(sqlite_cfg, [], [view], [], [], partial=False)

        _bench_write("sqlite", sqlite_cfg, sqlite_store, reset_sqlite)

        server = start_redis_process(tmp_path / "redis")
        try:
            redis_cfg = RepoConfig(
                project="bench",
                provider="local",
                registry=str(tmp_path / "r.db"),
                online_store=RedisOnlineStoreConfig(
                    connection_string=f"{server.host}:{server.port}"
                ),
            )
            redis_store = RedisOnlineStore()
            redis_store.online_write_batch(redis_cfg, view, _rows(), None)
            _bench("redis", redis_cfg, redis_store)
            flush = redis_store._get_client(redis_cfg.online_store).flushall
            _bench_write("redis", redis_cfg, redis_store, flush)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
