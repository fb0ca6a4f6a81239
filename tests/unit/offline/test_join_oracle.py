"""point_in_time_join agrees with a brute-force oracle on random data."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.services.offline.join import ViewInput, point_in_time_join

# ORACLE_EXAMPLES=5000 for a longer local run; CI keeps the default.
EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", "150"))
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


# Created times: independent of e, a backfill delay after e (so max(e, c)
# orders rows differently from e, which as_known_at must get right), or null.
delays = st.sampled_from([0, 1, 3, 6, 10])
floats = st.sampled_from([0.5, 1.5, float("nan"), None])  # NaN ranks highest


@st.composite
def feature_row(draw):
    e = draw(st.one_of(instants, instants, instants, st.none()))
    how = draw(st.sampled_from(["free", "late", "late", "null"]))
    if how == "free" or e is None:
        c = draw(instants)
    elif how == "late":
        c = e + timedelta(minutes=draw(delays))
    else:
        c = None
    return {
        "a": draw(key_values),
        "b": draw(key_values),
        "e": e,
        "c": c,
        "v": draw(maybe(st.integers(0, 2))),
        "w": draw(maybe(st.sampled_from(["x", "y"]))),
        "x": draw(floats),
    }


def feature_rows():
    twin = st.fixed_dictionaries(
        {
            "c": st.one_of(instants, st.none()),
            "v": maybe(st.integers(0, 2)),
            "w": maybe(st.sampled_from(["x", "y"])),
            "x": floats,
        }
    )
    backfill = st.fixed_dictionaries(
        {
            "older": st.sampled_from([1, 3, 6]),
            "later": st.sampled_from([0, 1, 2]),
            "v": maybe(st.integers(0, 2)),
            "x": floats,
        }
    )
    # Twins copy the keys and e of an earlier row, forcing ties on e (and,
    # when c also repeats, on c) that random rows rarely produce. Backfills
    # copy its keys with an older e but a later c: under as_known_at the row
    # known last is then not the winner, and may be past the TTL when the
    # winner is not.
    return st.builds(
        _with_twins,
        st.lists(feature_row(), min_size=3, max_size=10),
        st.lists(twin, min_size=2, max_size=10),
        st.lists(backfill, max_size=4),
    )


def _with_twins(rows, twins, backfills):
    out = list(rows)
    for i, twin in enumerate(twins):
        src = rows[i % len(rows)]
        c = twin["c"] if i % 3 else src["c"]  # every third twin also ties on c
        out.append({**src, **twin, "c": c})
    for i, back in enumerate(backfills):
        src = rows[i % len(rows)]
        if src["e"] is not None:
            known = max(src["e"], src["c"] or src["e"])
            out.append(
                {
                    **src,
                    "e": src["e"] - timedelta(minutes=back["older"]),
                    "c": known + timedelta(minutes=back["later"]),
                    "v": back["v"],
                    "x": back["x"],
                }
            )
    return out


lags = st.sampled_from([0, 0, 1, 2, 4, 5])  # minutes; short lags hit the TTLs


@st.composite
def entity_rows(draw, feats, other):
    """Entity rows, mostly on keys and just after event or created times."""
    # `other` serves the single-key views, keyed on k2 = its column a.
    pairs = [(f["a"], f["b"], f) for f in feats]
    pairs += [(draw(key_values), f["a"], f) for f in other]
    seen = [(a, b, f["e"]) for a, b, f in pairs if f["e"] is not None]
    seen += [
        (a, b, max(f["e"], f["c"]))
        for a, b, f in pairs
        if f["e"] is not None and f["c"] is not None
    ]
    rows = []
    for _ in range(draw(st.integers(2, 12))):
        if seen and draw(st.integers(0, 3)):
            a, b, e = draw(st.sampled_from(seen))
            lag = timedelta(minutes=draw(lags), seconds=draw(st.sampled_from([0, 1])))
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
    """Nulls lowest, NaN highest (DuckDB's order)."""
    if x is None:
        return (0,)
    return (2,) if x != x else (1, x)


def _same(value):
    """NaN compares unequal to itself; make it comparable."""
    return "NaN" if isinstance(value, float) and value != value else value


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
                _rank(f["x"]),
            )
            if best is None or rank > best[0]:
                best = (rank, f)
        f = best[1] if best else {"v": None, "w": None, "x": None}
        out.append((f["v"], f["w"], _same(f["x"])))
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
            "x": pa.array([r["x"] for r in rows], pa.float64()),
        }
    )


def _got(result, prefix):
    columns = [result.column(f"{prefix}__{f}").to_pylist() for f in "vwx"]
    return [(v, w, _same(x)) for v, w, x in zip(*columns, strict=True)]


@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    data=st.data(),
    feats=feature_rows(),
    other=feature_rows(),
    ttl_a=ttls,
    ttl_b=ttls,
    ttl_c=ttls,
    zone=st.sampled_from(ZONES),
    as_known_at=st.booleans(),
    duplicate_first=st.booleans(),
)
def test_join_matches_oracle(
    data, feats, other, ttl_a, ttl_b, ttl_c, zone, as_known_at, duplicate_first
):
    entity = data.draw(entity_rows(feats, other))
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
        features=["v", "w", "x"],
        output_names=["pair__v", "pair__w", "pair__x"],
    )
    # Single key, no created column: as_known_at must not affect it.
    view_b = ViewInput(
        name="single",
        table=_feature_table(other).rename_columns(
            ["k2", "b", "e", "c", "v", "w", "x"]
        ),
        join_keys=["k2"],
        event_timestamp_column="e",
        ttl=ttl_b,
        features=["v", "w", "x"],
        output_names=["single__v", "single__w", "single__x"],
    )
    # The same rows with their created column: few keys, so as_known_at
    # meets many rows per key (late-created old rows, TTL on the winner).
    view_c = replace(
        view_b,
        name="known",
        created_timestamp_column="c",
        ttl=ttl_c,
        output_names=["known__v", "known__w", "known__x"],
    )

    # No join keys (an entity-less view): every row is every entity's.
    view_d = replace(
        view_c,
        name="global",
        join_keys=[],
        table=view_c.table.drop_columns(["k2"]),
        ttl=ttl_b,
        output_names=["global__v", "global__w", "global__x"],
    )

    result = point_in_time_join(
        entity_table, "t", [view_a, view_b, view_c, view_d], as_known_at=as_known_at
    )

    assert result.num_rows == len(entity)
    assert result.select(entity_table.column_names).equals(entity_table)
    got_a = _got(result, "pair")
    got_b = _got(result, "single")
    got_c = _got(result, "known")
    other_rows = [{**r, "k2": r["a"]} for r in other]
    assert got_a == oracle(
        entity, feats, [("k1", "a"), ("k2", "b")], ttl_a, True, as_known_at
    )
    assert got_b == oracle(
        entity, other_rows, [("k2", "k2")], ttl_b, False, as_known_at
    )
    assert got_c == oracle(entity, other_rows, [("k2", "k2")], ttl_c, True, as_known_at)
    got_d = _got(result, "global")
    assert got_d == oracle(entity, other_rows, [], ttl_b, True, as_known_at)
