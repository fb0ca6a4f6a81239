"""One engine run per process for bench_historical: timings and rows.

Memory is sampled by the parent (bench_historical._run), so it is known
for engines that are killed too; at exit the engine reports its own VmHWM.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.parquet as pq

KEYS = {
    "card_merchant": ["card_id", "merchant_id"],
    "card": ["card_id"],
    "merchant": ["merchant_id"],
}
FEATURES = {
    "card_merchant": ["cm_amount"],
    "card": ["card_spend", "card_count"],
    "merchant": ["m_risk"],
}
TTL_S = {"card_merchant": 7 * 86400, "card": 86400, "merchant": None}
CREATED = {"card_merchant": "created_time", "card": "created_time", "merchant": None}
REFS = [f"{v}:{f}" for v, fs in FEATURES.items() for f in fs]
OUT_COLUMNS = ["request_id", *(f for fs in FEATURES.values() for f in fs)]


def vm_hwm(pid: int | str) -> int:
    """The kernel's peak RSS of a process since its exec (VmHWM), in bytes.

    Not ru_maxrss: that keeps the high-water mark of the memory the process
    had before exec, i.e. of the forking parent (a do-nothing child of a
    300 MB parent reports 300 MB).
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _entity(data: Path) -> pa.Table:
    return pq.read_table(data / "entity.parquet")


def _views(data: Path) -> dict[str, pa.Table]:
    from deltalake import DeltaTable

    return {v: DeltaTable(str(data / "tables" / v)).to_pyarrow_table() for v in KEYS}


def _feast(data: Path, repo: str) -> pa.Table:
    from feast import FeatureStore

    entity = _entity(data).to_pandas()
    store = FeatureStore(repo_path=str(data / repo))
    job = store.get_historical_features(entity_df=entity, features=REFS)
    return pa.Table.from_pandas(job.to_df(), preserve_index=False)


def _warm_feast(data: Path, repo: str) -> None:
    import feast

    if repo == "repo_ours":
        import featurestore.services.offline  # noqa: F401
    elif repo == "repo_file":
        import feast.infra.offline_stores.dask  # noqa: F401
    else:  # start the JVM now: Feast's store reuses the active session
        from feast import FeatureStore
        from feast.infra.offline_stores.contrib.spark_offline_store.spark import (
            get_spark_session_or_start_new_with_repoconfig,
        )

        config = FeatureStore(repo_path=str(data / repo)).config.offline_store
        get_spark_session_or_start_new_with_repoconfig(config)


def _ours_join(
    entity: pa.Table, views: dict[str, pa.Table], *, as_known_at: bool = False
) -> pa.Table:
    from datetime import timedelta

    from featurestore.services.offline.join import ViewInput, point_in_time_join

    inputs = [
        ViewInput(
            name=view,
            table=table,
            join_keys=KEYS[view],
            event_timestamp_column="event_time",
            created_timestamp_column=CREATED[view],
            ttl=timedelta(seconds=ttl) if (ttl := TTL_S[view]) else None,
            features=FEATURES[view],
        )
        for view, table in views.items()
    ]
    return point_in_time_join(
        entity, "event_timestamp", inputs, as_known_at=as_known_at
    )


def _ours_known_at(data: Path) -> pa.Table:
    # Feast's API has no as_known_at: our own training-set API, same store.
    from feast import FeatureStore

    from featurestore.services.offline import HistoricalRequest, get_historical_features

    store = FeatureStore(repo_path=str(data / "repo_ours"))
    request = HistoricalRequest(entity=_entity(data), features=REFS, as_known_at=True)
    return get_historical_features(store, request).table


def _polars_join(entity: pa.Table, views: dict[str, pa.Table]) -> pa.Table:
    import polars as pl

    out = (
        pl.DataFrame(entity)
        .with_columns(pl.col("event_timestamp").dt.cast_time_unit("us"))
        .sort("event_timestamp")
    )
    for view, table in views.items():
        keys, feats, c = KEYS[view], FEATURES[view], CREATED[view]
        f = pl.DataFrame(table)
        order = ["event_time", *([c] if c else []), *feats]
        # One row per (keys, e): the tie rule (greatest c, then features).
        f = (
            f.sort(order, descending=True, nulls_last=True)
            .unique([*keys, "event_time"], keep="first")
            .sort("event_time")
            .select([*keys, "event_time", *feats])
        )
        out = out.join_asof(
            f,
            left_on="event_timestamp",
            right_on="event_time",
            by=keys,
            strategy="backward",
            check_sortedness=False,
        )
        if TTL_S[view]:
            stale = (pl.col("event_timestamp") - pl.col("event_time")) > pl.duration(
                seconds=TTL_S[view]
            )
            out = out.with_columns(
                [pl.when(stale).then(None).otherwise(pl.col(x)).alias(x) for x in feats]
            )
        out = out.drop("event_time")
    return out.sort("request_id").to_arrow()


def _duckdb_join(entity: pa.Table, views: dict[str, pa.Table]) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    con.register("entity", entity)
    sql = "SELECT entity.request_id"
    joins = ""
    for i, (view, table) in enumerate(views.items()):
        con.register(f"t{i}", table)
        keys, feats, c = KEYS[view], FEATURES[view], CREATED[view]
        order = ", ".join(f"{x} DESC NULLS LAST" for x in [*([c] if c else []), *feats])
        con.execute(f"""CREATE TEMP TABLE d{i} AS SELECT * FROM t{i}
            QUALIFY row_number() OVER (PARTITION BY {", ".join(keys)}, event_time
            ORDER BY {order}) = 1""")
        fresh = (
            "TRUE"
            if not TTL_S[view]
            else f"d{i}.event_time >= entity.event_timestamp - INTERVAL "
            f"{TTL_S[view]} SECOND"
        )
        sql += "".join(f", CASE WHEN {fresh} THEN d{i}.{x} END AS {x}" for x in feats)
        on = " AND ".join(f"entity.{k} = d{i}.{k}" for k in keys)
        joins += (
            f" ASOF LEFT JOIN d{i} ON {on} AND "
            f"entity.event_timestamp >= d{i}.event_time"
        )
    return con.sql(
        f"{sql} FROM entity{joins} ORDER BY entity.request_id"
    ).to_arrow_table()


def _ours_spark(data: Path) -> pa.Table:
    from feast import FeatureStore

    from featurestore.spark_jobs.pit.training_set import build_training_set_spark

    spark = _spark_session()
    entity = spark.read.parquet(str(data / "entity.parquet"))
    store = FeatureStore(repo_path=str(data / "repo_ours"))
    return build_training_set_spark(spark, store, entity, REFS).df.toArrow()


def _warm_ours_spark(data: Path) -> None:
    _imports("feast", "featurestore.spark_jobs.pit.training_set")(data)
    _spark_session()  # the JVM; build_spark_session reuses it later


def _spark_session() -> Any:
    from featurestore.spark_jobs.session import build_spark_session

    return build_spark_session("bench", "local[2]", shuffle_partitions=8)


def _imports(*modules: str) -> Callable[[Path], None]:
    def warm(data: Path) -> None:
        for module in modules:
            importlib.import_module(module)

    return warm


@dataclass(frozen=True)
class Engine:
    """How to warm an engine up, run it end to end, and run only its join."""

    warm: Callable[[Path], None]
    """Imports (and a JVM start): the same fixed cost for every call."""
    e2e: Callable[[Path], pa.Table]
    """From Delta tables and the entity parquet to the training set."""
    join: Callable[[pa.Table, dict[str, pa.Table]], pa.Table] | None = None
    """Only the point-in-time join, on Arrow tables already in memory."""


# Warmed for every engine, noop included: pq.read_table imports pandas on
# the first file with pandas metadata (4-5 s here), which would otherwise
# land in whichever engine reads the entity file first.
COMMON_IMPORTS = ("pandas", "pyarrow.parquet", "pyarrow.pandas_compat", "deltalake")
ENGINES = {
    "noop": Engine(
        _imports(), lambda d: pa.table({"request_id": pa.array([], pa.int64())})
    ),
    "ours": Engine(
        lambda d: _warm_feast(d, "repo_ours"),
        lambda d: _feast(d, "repo_ours"),
        _ours_join,
    ),
    "ours_known_at": Engine(
        lambda d: _warm_feast(d, "repo_ours"),
        _ours_known_at,
        lambda entity, views: _ours_join(entity, views, as_known_at=True),
    ),
    "ours_spark": Engine(
        _warm_ours_spark,
        _ours_spark,
    ),
    "feast_file": Engine(
        lambda d: _warm_feast(d, "repo_file"), lambda d: _feast(d, "repo_file")
    ),
    "feast_spark": Engine(
        lambda d: _warm_feast(d, "repo_spark"), lambda d: _feast(d, "repo_spark")
    ),
    "polars_asof": Engine(
        _imports("polars"),
        lambda d: _polars_join(_entity(d), _views(d)),
        _polars_join,
    ),
    "duckdb_asof": Engine(
        _imports("duckdb"),
        lambda d: _duckdb_join(_entity(d), _views(d)),
        _duckdb_join,
    ),
}


def main(engine: str, data: Path, out: Path | None) -> None:
    """Run ``engine`` on ``data``; print timings and rows as JSON.

    ``import_s`` is the warm-up (imports, JVM start), ``e2e_s`` the run from
    files to the training set, ``join_s`` the join alone on tables already
    read into Arrow (engines that have one).
    """
    chosen = ENGINES[engine]
    started = time.perf_counter()
    _imports(*COMMON_IMPORTS)(data)
    chosen.warm(data)
    warmed = time.perf_counter()
    table = chosen.e2e(data)
    done = time.perf_counter()
    timings = {"import_s": warmed - started, "e2e_s": done - warmed}
    if chosen.join is not None:
        entity, views = _entity(data), _views(data)
        began = time.perf_counter()
        chosen.join(entity, views)
        timings["join_s"] = time.perf_counter() - began
    if out is not None and table.num_rows:
        pq.write_table(table.select(OUT_COLUMNS), out)
    hwm = vm_hwm("self")
    print(json.dumps({**timings, "rows": table.num_rows, "hwm_bytes": hwm}))


if __name__ == "__main__":
    main(
        sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None
    )
