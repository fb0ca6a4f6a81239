"""Materialisation rows/s into SQLite and Redis: services.online.materialize vs Feast."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake
from feast import FeatureStore

RESULTS = Path(__file__).parent / "results"
NOW = datetime.now(UTC).replace(microsecond=0)

YAML = """project: {project}
registry: {root}/registry.db
provider: local
online_store:
{online}
offline_store:
  type: services.offline.DeltaOfflineStore
entity_key_serialization_version: 3
materialization:
  pull_latest_features: true
"""


def definitions(features: int) -> str:
    """Feast definitions: one Int64-keyed view ``bench`` of Float64 features."""
    fields = ", ".join(f'Field(name="f{i}", dtype=Float64)' for i in range(features))
    return f"""
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64
customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
bench_view = FeatureView(
    name="bench", entities=[customer], ttl=timedelta(days=30),
    schema=[{fields}],
    source=FileSource(name="bench", path="data/bench", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
"""


def build_repo(root: Path, online: str, entities: int, features: int,
               project: str = "bench") -> FeatureStore:  # fmt: skip
    """A Feast repo at ``root/repo`` with one Delta table, applied; online empty."""
    repo = root / "repo"
    (repo / "data").mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        YAML.format(project=project, root=root, online=online)
    )
    source = definitions(features)
    (repo / "definitions.py").write_text(source)
    ts = pa.array([NOW - timedelta(minutes=i % 600) for i in range(entities)],
                  pa.timestamp("us", tz="UTC"))  # fmt: skip
    columns = {"customer_id": pa.array(range(entities), pa.int64())}
    columns |= {f"f{j}": pa.array([i * 0.5 + j for i in range(entities)])
                for j in range(features)}  # fmt: skip
    columns |= {"event_timestamp": ts, "created_timestamp": ts}
    write_deltalake(str(repo / "data" / "bench"), pa.table(columns), mode="overwrite")
    ns: dict[str, object] = {}
    exec(compile(source, str(repo / "definitions.py"), "exec"), ns)
    store = FeatureStore(repo_path=str(repo))
    store.apply([ns["customer"], ns["bench_view"]])
    return store


def _time_case(root: Path, online: str, entities: int, features: int) -> dict[str, float]:
    from services.online.materialize import materialize

    start, end = NOW - timedelta(days=1), NOW + timedelta(minutes=1)
    ours = build_repo(root / "ours", online, entities, features, "ours")
    theirs = build_repo(root / "feast", online, entities, features, "feast")
    t0 = time.perf_counter()
    materialize(ours.repo_path, start, end)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs.materialize(start, end)
    feast_s = time.perf_counter() - t0
    return {
        "ours_seconds": ours_s,
        "feast_seconds": feast_s,
        "ours_rows_per_s": entities / ours_s,
        "feast_rows_per_s": entities / feast_s,
        "speedup": feast_s / ours_s,
    }


def main(argv: list[str] | None = None) -> int:
    """Time both paths into SQLite and Redis; print and write results JSON."""
    parser = argparse.ArgumentParser(prog="bench_materialize")
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS / "materialize.json")
    args = parser.parse_args(argv)
    from tests.redis_harness import start_redis_process

    results: dict[str, object] = {"entities": args.entities, "features": args.features}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results["sqlite"] = _time_case(
            root / "sqlite", f"  type: sqlite\n  path: {root}/online.db",
            args.entities, args.features,
        )  # fmt: skip
        redis = start_redis_process(root / "redis")
        try:
            online = f"  type: redis\n  connection_string: {redis.host}:{redis.port}"
            results["redis"] = _time_case(
                root / "redis_repo", online, args.entities, args.features
            )
        finally:
            redis.stop()
    for store in ("sqlite", "redis"):
        r = results[store]
        assert isinstance(r, dict)
        print(f"{store:6s} ours {r['ours_rows_per_s']:>9.0f} rows/s  feast "
              f"{r['feast_rows_per_s']:>9.0f} rows/s  ratio {r['speedup']:.1f}x")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
