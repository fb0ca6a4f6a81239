"""Latest row per key: the DuckDB and the Arrow (online write) versions agree.

Both must pick the row the point-in-time join would pick last: the greatest
event time, then the greatest created time (null lowest), then the greatest
tuple of feature values (nulls lowest, NaN highest), whatever the input order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.services.offline.join import latest_per_key
from featurestore.services.online._keys import encode_entity_keys
from featurestore.services.online._latest import latest_rows
from featurestore.services.online.model import JoinKeyType

T0 = datetime(2024, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
FEATURES = ["v", "w", "x"]


def _rank(x):
    if x is None:
        return (0,)
    return (2,) if x != x else (1, x)


def _same(value):
    return "NaN" if isinstance(value, float) and value != value else value


@st.composite
def latest_rows_input(draw):
    """Rows with few keys, times and values, so ties on (k, e, c) are common."""
    row = st.fixed_dictionaries(
        {
            "k": st.integers(0, 3),
            "e": st.integers(0, 2),
            "c": st.one_of(st.none(), st.integers(0, 2)),
            "v": st.one_of(st.none(), st.integers(-2, 2)),
            "w": st.one_of(st.none(), st.sampled_from(["a", "b"])),
            "x": st.one_of(st.none(), st.sampled_from([0.0, 1.5, float("nan")])),
        }
    )
    rows = draw(st.lists(row, max_size=25))
    # Exact twins and rows differing in one feature only: the hard ties.
    for base in draw(st.lists(st.sampled_from(rows), max_size=4)) if rows else []:
        rows.append({**base, "v": draw(st.one_of(st.none(), st.integers(-2, 2)))})
        rows.append(dict(base))
    return draw(st.permutations(rows))


def table_of(rows) -> pa.Table:
    def stamp(minutes):
        return None if minutes is None else T0 + timedelta(minutes=minutes)

    return pa.table(
        {
            "k": pa.array([r["k"] for r in rows], pa.int64()),
            "e": pa.array([stamp(r["e"]) for r in rows], TS),
            "c": pa.array([stamp(r["c"]) for r in rows], TS),
            "v": pa.array([r["v"] for r in rows], pa.int64()),
            "w": pa.array([r["w"] for r in rows], pa.string()),
            "x": pa.array([r["x"] for r in rows], pa.float64()),
        }
    )


def oracle(rows) -> dict[int, tuple]:
    """Per key, the winner's features, by plain loops."""
    best: dict[int, tuple] = {}
    for r in rows:
        rank = (r["e"], _rank(r["c"]), *(_rank(r[f]) for f in FEATURES))
        if r["k"] not in best or rank > best[r["k"]][0]:
            best[r["k"]] = (rank, tuple(_same(r[f]) for f in FEATURES))
    return {k: v for k, (_, v) in best.items()}


def by_key(table: pa.Table, keys: list) -> dict:
    columns = [table.column(f).to_pylist() for f in FEATURES]
    values = [tuple(_same(v) for v in row) for row in zip(*columns, strict=True)]
    return dict(zip(keys, values, strict=True))


@cache
def _view():
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    return FeatureView(
        name="v",
        entities=[Entity(name="k", join_keys=["k"], value_type=ValueType.INT64)],
        schema=[
            Field(name="k", dtype=Int64),
            Field(name="v", dtype=Int64),
            Field(name="w", dtype=String),
            Field(name="x", dtype=Float64),
        ],
        source=FileSource(
            path="unused", timestamp_field="e", created_timestamp_column="c"
        ),
        ttl=timedelta(0),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=latest_rows_input())
def test_duckdb_and_arrow_pick_the_oracles_rows(rows):
    table = table_of(rows)
    want = oracle(rows)

    duck = latest_per_key(table, ["k"], "e", "c", FEATURES)
    assert by_key(duck, duck.column("k").to_pylist()) == want

    online = latest_rows(_view(), table, 3)
    encoded = encode_entity_keys(("k",), (JoinKeyType.INT64,), {"k": list(want)}, 3)
    names = dict(zip(encoded, want, strict=True))
    assert by_key(online.table, [names[k] for k in online.keys]) == want
