"""point_in_time_join agrees with a brute-force oracle on random data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.offline.join import ViewInput, point_in_time_join

BASE = datetime(2024, 3, 10, 0, 0, tzinfo=UTC)  # a US DST switch day
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
# Whole minutes plus 0 or 1 second: TTLs in whole minutes then hit t - T
# exactly (included) and one second past it (excluded).
instants = st.builds(
    lambda m, s: BASE + timedelta(minutes=m, seconds=s),
    st.integers(0, 12),
    st.sampled_from([0, 0, 1]),
)


def maybe(strategy):
    """Mostly values, sometimes None."""
    return st.one_of(strategy, strategy, strategy, st.none())


key_values = st.sampled_from([1, 2, 11, 12])  # (1, 12) vs (11, 2) collide if glued
ttls = st.sampled_from([None, timedelta(0), timedelta(minutes=1), timedelta(minutes=4)])


def feature_rows():
    row = st.fixed_dictionaries(
        {
            "a": key_values,
            "b": key_values,
            "e": st.one_of(instants, instants, instants, st.none()),
            "c": st.one_of(instants, instants, instants, st.none()),
            "v": maybe(st.integers(0, 2)),
            "w": maybe(st.sampled_from(["x", "y"])),
        }
    )
    twin = st.fixed_dictionaries(
        {
            "c": st.one_of(instants, st.none()),
            "v": maybe(st.integers(0, 2)),
            "w": maybe(st.sampled_from(["x", "y"])),
        }
    )
    # Twins copy the keys and e of an earlier row, forcing ties on e (and,
    # when c also repeats, on c) that random rows rarely produce.
    return st.builds(
        _with_twins,
        st.lists(row, min_size=3, max_size=10),
        st.lists(twin, min_size=2, max_size=10),
    )


def _with_twins(rows, twins):
    out = list(rows)
    for i, twin in enumerate(twins):
        if rows:
            src = rows[i % len(rows)]
            c = twin["c"] if i % 3 else src["c"]  # every third twin also ties on c
            out.append({**src, **twin, "c": c})
    return out


@st.composite
def entity_rows(draw, feats):
    """Entity rows, mostly on keys and just after event times that exist."""
    seen = [(f["a"], f["b"], f["e"]) for f in feats if f["e"] is not None]
    rows = []
    for _ in range(draw(st.integers(2, 12))):
        if seen and draw(st.integers(0, 3)):
            a, b, e = draw(st.sampled_from(seen))
            lag = timedelta(
                minutes=draw(st.integers(0, 5)), seconds=draw(st.sampled_from([0, 1]))
            )
            rows.append({"k1": a, "k2": b, "t": e + lag})
        else:
            rows.append(
                draw(
                    st.fixed_dictionaries(
                        {
                            "k1": maybe(key_values),
                            "k2": key_values,
                            "t": maybe(instants),
                        }
                    )
                )
            )
    return rows


def _rank(x):
    return (0,) if x is None else (1, x)


def oracle(entity, feats, keys, ttl, created, as_known_at):
    """Plain loops over rows; keys are (entity col, feature col) pairs."""
    out = []
    for row in entity:
        t = row["t"]
        best = None
        for f in feats:
            if t is None or f["e"] is None:
                continue
            if any(row[ek] is None or row[ek] != f[fk] for ek, fk in keys):
                continue
            if f["e"] > t or (ttl and f["e"] < t - ttl):
                continue
            if as_known_at and created and (f["c"] is None or f["c"] > t):
                continue
            rank = (
                f["e"],
                _rank(f["c"] if created else None),
                _rank(f["v"]),
                _rank(f["w"]),
            )
            if best is None or rank > best[0]:
                best = (rank, f)
        out.append((best[1]["v"], best[1]["w"]) if best else (None, None))
    return out


def _feature_table(rows):
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "a": pa.array([r["a"] for r in rows], pa.int64()),
            "b": pa.array([r["b"] for r in rows], pa.int32()),
            "e": pa.array([r["e"] for r in rows], ts),
            "c": pa.array([r["c"] for r in rows], ts),
            "v": pa.array([r["v"] for r in rows], pa.int64()),
            "w": pa.array([r["w"] for r in rows], pa.string()),
        }
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    feats=feature_rows(),
    other=feature_rows(),
    ttl_a=ttls,
    ttl_b=ttls,
    zone=st.sampled_from(ZONES),
    as_known_at=st.booleans(),
    duplicate_first=st.booleans(),
)
def test_join_matches_oracle(
    data, feats, other, ttl_a, ttl_b, zone, as_known_at, duplicate_first
):
    entity = data.draw(entity_rows(feats))
    if duplicate_first and entity:
        entity = [entity[0], *entity, entity[0]]
    tz = ZoneInfo(zone)
    local = [{**r, "t": r["t"].astimezone(tz) if r["t"] else None} for r in entity]
    entity_table = pa.table(
        {
            "k1": pa.array([r["k1"] for r in local], pa.int64()),
            "k2": pa.array([r["k2"] for r in local], pa.int64()),
            "t": pa.array([r["t"] for r in local], pa.timestamp("ns", tz=zone)),
            "payload": pa.array(range(len(local)), pa.int64()),
        }
    )
    view_a = ViewInput(
        name="pair",
        table=_feature_table(feats),
        join_keys=["k1", "k2"],
        entity_key_map={"k1": "a", "k2": "b"},
        event_timestamp_column="e",
        created_timestamp_column="c",
        ttl=ttl_a,
        features=["v", "w"],
        output_names=["pair__v", "pair__w"],
    )
    # Single key, no created column: as_known_at must not affect it.
    view_b = ViewInput(
        name="single",
        table=_feature_table(other).rename_columns(["k2", "b", "e", "c", "v", "w"]),
        join_keys=["k2"],
        event_timestamp_column="e",
        ttl=ttl_b,
        features=["v", "w"],
        output_names=["single__v", "single__w"],
    )

    result = point_in_time_join(
        entity_table, "t", [view_a, view_b], as_known_at=as_known_at
    )

    assert result.num_rows == len(entity)
    assert result.select(entity_table.column_names).equals(entity_table)
    got_a = (
        list(
            zip(
                *(result.column(c).to_pylist() for c in ["pair__v", "pair__w"]),
                strict=True,
            )
        )
        if entity
        else []
    )
    got_b = (
        list(
            zip(
                *(result.column(c).to_pylist() for c in ["single__v", "single__w"]),
                strict=True,
            )
        )
        if entity
        else []
    )
    other_rows = [{**r, "k2": r["a"]} for r in other]
    assert got_a == oracle(
        entity, feats, [("k1", "a"), ("k2", "b")], ttl_a, True, as_known_at
    )
    assert got_b == oracle(
        entity, other_rows, [("k2", "k2")], ttl_b, False, as_known_at
    )
