"""write_latest into SQLite writes exactly what Feast's own path writes."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pyarrow as pa
from feast import FeatureView, Field
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from feast.types import Float64, Int64

from featurestore.services.online.writer import write_latest
from tests.unit.online import _world as w
from tests.unit.online._tables import driver_table, feast_write

FEATURES = ["conv_rate", "acc_rate", "trips", "label"]


def _store(tmp_path):
    config = w.sqlite_config(tmp_path)
    store = SqliteOnlineStore()
    store.update(config, [], w.VIEWS, [], [], partial=False)
    return config, store


def _dump(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT * FROM proj_driver_stats ORDER BY entity_key, feature_name"
        ).fetchall()


def test_same_rows_as_feast_and_idempotent(tmp_path) -> None:
    table = driver_table(300)
    feast_cfg, feast_store = _store(tmp_path / "feast")
    feast_write(feast_store, feast_cfg, w.driver_stats_view, table)
    ours_cfg, ours_store = _store(tmp_path / "ours")
    assert write_latest(ours_cfg, w.driver_stats_view, table) == 300

    expected = _dump(tmp_path / "feast" / "online.db")
    assert len(expected) == 300 * 4
    assert _dump(tmp_path / "ours" / "online.db") == expected
    write_latest(ours_cfg, w.driver_stats_view, table)
    assert _dump(tmp_path / "ours" / "online.db") == expected

    keys = [w.entity_key(w.driver_stats_view, [i]) for i in (0, 7, 150, 999)]
    assert ours_store.online_read(
        ours_cfg, w.driver_stats_view, keys, FEATURES
    ) == feast_store.online_read(feast_cfg, w.driver_stats_view, keys, FEATURES)


def test_keeps_latest_row_per_entity(tmp_path) -> None:
    older, newer = driver_table(10, minutes_ago=30), driver_table(10, minutes_ago=1)
    newer = newer.set_column(
        newer.column_names.index("trips"), "trips", pa.array(range(100, 110))
    )
    config, store = _store(tmp_path)
    # Newest rows first in the batch: order must not matter.
    assert (
        write_latest(config, w.driver_stats_view, pa.concat_tables([newer, older]))
        == 10
    )
    [(ts, values)] = store.online_read(
        config, w.driver_stats_view, [w.entity_key(w.driver_stats_view, [3])], ["trips"]
    )
    assert values["trips"].int64_val == 103
    assert ts.replace(microsecond=0) == (
        w.NOW - timedelta(minutes=1, microseconds=250_001)
    ).replace(microsecond=0)


def test_wide_view_spans_several_statements_per_entity(tmp_path) -> None:
    # More features than one statement carries (1000): two statements per entity.
    n = 1001
    view = FeatureView(
        name="wide",
        entities=[w.driver],
        ttl=timedelta(hours=1),
        schema=[Field(name="driver_id", dtype=Int64)]
        + [Field(name=f"x{j}", dtype=Int64 if j % 2 else Float64) for j in range(n)],
        source=w.driver_stats_view.batch_source,
    )
    ts = pa.array([w.NOW] * 3, pa.timestamp("us", tz="UTC"))
    columns = {"driver_id": pa.array([5, 1, 3], pa.int64()), "event_timestamp": ts}
    for j in range(n):
        values = [None if (i + j) % 4 == 0 else i * 1000 + j for i in range(3)]
        columns[f"x{j}"] = pa.array(
            values, pa.int64() if j % 2 else pa.float64(), from_pandas=True
        )
    table = pa.table(columns)
    dumps = []
    for side in ("feast", "ours"):
        config = w.sqlite_config(tmp_path / side)
        store = SqliteOnlineStore()
        store.update(config, [], [view], [], [], partial=False)
        if side == "feast":
            feast_write(store, config, view, table)
        else:
            assert write_latest(config, view, table) == 3
        with sqlite3.connect(tmp_path / side / "online.db") as conn:
            dumps.append(
                conn.execute("SELECT * FROM proj_wide ORDER BY 1, 2").fetchall()
            )
    assert len(dumps[0]) == 3 * n
    assert dumps[1] == dumps[0]
