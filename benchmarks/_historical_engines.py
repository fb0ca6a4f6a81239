"""One engine run per process for bench_historical: time, peak memory, rows."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
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


class PeakRss:
    """Samples the RSS of this process and its children (JVMs) every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a child may just exit
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _feast(data: Path, repo: str) -> pa.Table:
    from feast import FeatureStore

    entity = pq.read_table(data / "entity.parquet").to_pandas()
    store = FeatureStore(repo_path=str(data / repo))
    job = store.get_historical_features(entity_df=entity, features=REFS)
    return pa.Table.from_pandas(job.to_df(), preserve_index=False)


def _views(data: Path) -> dict[str, pa.Table]:
    from deltalake import DeltaTable

    return {v: DeltaTable(str(data / "tables" / v)).to_pyarrow_table() for v in KEYS}


def _polars(data: Path) -> pa.Table:
    import polars as pl

    out = (
        pl.read_parquet(data / "entity.parquet")
        .with_columns(pl.col("event_timestamp").dt.cast_time_unit("us"))
        .sort("event_timestamp")
    )
    for view, table in _views(data).items():
        keys, feats, c = KEYS[view], FEATURES[view], CREATED[view]
        f = pl.from_arrow(table)
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


def _duckdb(data: Path) -> pa.Table:
    import duckdb

    con = duckdb.connect()
    con.register("entity", pq.read_table(data / "entity.parquet"))
    sql = "SELECT entity.request_id"
    joins = ""
    for i, (view, table) in enumerate(_views(data).items()):
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

    from spark_jobs.pit.training_set import build_training_set_spark
    from spark_jobs.session import build_spark_session

    spark = build_spark_session("bench", "local[2]", shuffle_partitions=8)
    entity = spark.read.parquet(str(data / "entity.parquet"))
    store = FeatureStore(repo_path=str(data / "repo_ours"))
    result = build_training_set_spark(spark, store, entity, REFS).df.toArrow()
    spark.stop()
    return result


ENGINES = {
    "ours": lambda d: _feast(d, "repo_ours"),
    "ours_spark": _ours_spark,
    "feast_file": lambda d: _feast(d, "repo_file"),
    "feast_spark": lambda d: _feast(d, "repo_spark"),
    "polars_asof": _polars,
    "duckdb_asof": _duckdb,
}


def main(engine: str, data: Path, out: Path | None) -> None:
    """Run ``engine`` on ``data``; print seconds, peak RSS and rows as JSON."""
    with PeakRss() as rss:
        started = time.perf_counter()
        table = ENGINES[engine](data)
        seconds = time.perf_counter() - started
    if out is not None:
        pq.write_table(table.select(OUT_COLUMNS), out)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": rss.peak / 2**20,
                "rows": table.num_rows,
            }
        )
    )


if __name__ == "__main__":
    main(
        sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None
    )
