"""Values the online store cannot hold as the table does: their view is refused."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from feast import FeatureStore
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from featurestore.services.offline import FeatureColumnTypeError
from featurestore.services.online import (
    FeatureStatus,
    ViewRequest,
    ViewsNotMaterializedError,
    build_online_reader,
)
from featurestore.services.online.materialize import _pull_latest, materialize
from tests.integration.online.test_online_materialize import DEFINITIONS, NOW, T0, _repo
from tests.redis_harness import dump_hashes, start_redis_process

pytestmark = pytest.mark.integration

TS = pa.timestamp("us", tz="UTC")

# One table "fit" read by views declaring its columns narrower or wider.
VIEWS = """
from feast.types import Float32, Int32
slot = Entity(name="slot", join_keys=["slot"], value_type=ValueType.UNIX_TIMESTAMP)
small = Entity(name="small", join_keys=["small_id"], value_type=ValueType.INT32)
def fit_view(name, entities, dtype, column):
    return FeatureView(
        name=name, entities=entities, ttl=timedelta(0),
        schema=[Field(name=column, dtype=dtype)],
        source=FileSource(name=name, path="data/" + name, file_format=DeltaFormat(),
                          timestamp_field="event_timestamp"),
    )
n32_view = fit_view("n32", [customer], Int32, "n")
f32_view = fit_view("f32", [customer], Float32, "x")
key32_view = fit_view("key32", [small], Float64, "x")
slots_view = fit_view("slots", [slot], Float64, "x")
"""


def _table(**columns: pa.Array) -> pa.Table:
    rows = len(next(iter(columns.values())))
    events = pa.array([NOW - timedelta(hours=1)] * rows, TS)
    return pa.table({**columns, "event_timestamp": events})


def _repo_with(path, online: str, **tables: pa.Table) -> FeatureStore:
    """The stats repo (30 customers) plus each view named over its table."""
    store = _repo(path, online)
    ns: dict[str, object] = {}
    exec(DEFINITIONS + VIEWS, ns)
    for view, table in tables.items():
        write_deltalake(str(path / "data" / view), table)
    store.apply([ns["slot"], ns["small"], *(ns[f"{view}_view"] for view in tables)])
    return store


@pytest.fixture(params=["sqlite", "redis"])
def online(request, tmp_path):
    """(online_store yaml, names of the views with a row stored)."""
    if request.param == "sqlite":
        db = tmp_path / "online.db"

        def sqlite_views() -> set[str]:
            with sqlite3.connect(db) as conn:
                tables = [
                    t
                    for (t,) in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                    )
                    if t.startswith("incr_")  # not materialize's versions table
                ]
                return {
                    t.removeprefix("incr_")
                    for t in tables
                    if conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
                }

        yield f"  type: sqlite\n  path: {db}", sqlite_views
        return
    server = start_redis_process(tmp_path / "redis")
    try:

        def redis_views() -> set[str]:
            fields = {f for h in dump_hashes(server.port).values() for f in h}
            return {f.decode().removeprefix("_ts:") for f in fields if f[:4] == b"_ts:"}

        address = f"{server.host}:{server.port}"
        yield f"  type: redis\n  connection_string: {address}", redis_views
    finally:
        server.stop()


def _refused(store: FeatureStore, view: str) -> FeatureColumnTypeError:
    """Materialise everything: ``view`` alone fails; its error, as raised."""
    with pytest.raises(ViewsNotMaterializedError) as caught:
        materialize(store.repo_path, T0, NOW)
    assert caught.value.written == {"stats": 30}
    assert list(caught.value.failed) == [view]
    fv = store.get_feature_view(view)
    with pytest.raises(FeatureColumnTypeError) as error:
        _pull_latest(store, fv, T0, NOW)
    assert error.value.reason == "FEATURE_COLUMN_TYPE_MISMATCH"
    assert caught.value.failed[view] == str(error.value)
    return error.value


def test_an_int32_feature_beyond_int32_is_refused_not_wrapped(tmp_path, online):
    # It was written as int32_val -2147483648 (exit 0), while training sets
    # served 2147483648; Feast's own conversion raises "Value out of range".
    yaml, stored = online
    n = pa.array([7, 2**31, -5], pa.int64())
    ids = pa.array([1, 2, 3], pa.int64())
    store = _repo_with(tmp_path, yaml, n32=_table(customer_id=ids, n=n))
    error = _refused(store, "n32")
    assert error.metadata == {
        "column": "n", "type": "int64", "expected": "INT32", "view": "n32",
        "role": "feature", "min": "-5", "max": "2147483648",
    }  # fmt: skip
    assert stored() == {"stats"}  # nothing of n32, not even the rows that fit


def test_an_int32_join_key_beyond_int32_is_refused(tmp_path, online):
    # It failed as "unsupported join key type: argument out of range".
    yaml, stored = online
    keys = pa.array([1, -(2**31) - 1], pa.int64())
    table = _table(small_id=keys, x=pa.array([1.0, 2.0]))
    store = _repo_with(tmp_path, yaml, key32=table)
    error = _refused(store, "key32")
    assert (error.metadata["role"], error.metadata["min"]) == (
        "join_key",
        "-2147483649",
    )
    assert stored() == {"stats"}


def test_a_float_feature_beyond_float32_is_refused_not_made_infinite(tmp_path, online):
    # 1e39 under Float32 was written as inf.
    yaml, stored = online
    x = pa.array([0.1, 1e39, float("inf"), None], pa.float64())
    ids = pa.array([1, 2, 3, 4], pa.int64())
    store = _repo_with(tmp_path, yaml, f32=_table(customer_id=ids, x=x))
    error = _refused(store, "f32")
    assert (error.metadata["min"], error.metadata["max"]) == ("0.1", "1e+39")
    assert stored() == {"stats"}


def test_a_fractional_unix_timestamp_key_is_refused_not_cut(tmp_path, online):
    # 00:00:00 (x=1) and 00:00:00.5 (x=3) were both written under 00:00:00,
    # which served 3; 1969-12-31T23:59:59.5 was written under 1970-01-01
    # 00:00:00, a key not in the table.
    yaml, stored = online
    slots = [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    table = _table(slot=pa.array(slots, TS), x=pa.array([1.0, 3.0, 4.0, 5.0]))
    store = _repo_with(tmp_path, yaml, slots=table)
    error = _refused(store, "slots")
    assert error.metadata["role"] == "join_key"
    assert error.metadata["count"] == "2"
    assert error.metadata["example"] == "2026-01-01 00:00:00.500000Z"
    assert stored() == {"stats"}


def test_values_that_fit_are_written_and_read_back_as_the_table_holds_them(
    tmp_path, online
):
    # The edges: INT32's least and greatest; a whole-second key before 1970.
    yaml, stored = online
    edges = pa.array([-(2**31), 2**31 - 1], pa.int64())
    slots = [datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), NOW - timedelta(days=9)]
    store = _repo_with(
        tmp_path, yaml,
        n32=_table(customer_id=pa.array([1, 2], pa.int64()), n=edges),
        slots=_table(slot=pa.array(slots, TS), x=pa.array([5.0, 6.0])),
    )  # fmt: skip
    counts = materialize(store.repo_path, T0, NOW)
    assert counts == {"stats": 30, "n32": 2, "slots": 2}
    assert stored() == {"stats", "n32", "slots"}
    reader = build_online_reader(store.config)
    try:
        by_id, by_slot = reader.read(
            "incr",
            [ViewRequest.from_feature_view(store.get_feature_view(v))
             for v in ("n32", "slots")],
            {"customer_id": [1, 2], "slot": slots},
            datetime.now(UTC),
        )  # fmt: skip
    finally:
        reader.close()
    assert by_id.row_statuses == by_slot.row_statuses == [FeatureStatus.PRESENT] * 2
    assert [row[0] for row in by_id.values] == [
        ValueProto(int32_val=-(2**31)),
        ValueProto(int32_val=2**31 - 1),
    ]
    assert [row[0].double_val for row in by_slot.values] == [5.0, 6.0]
