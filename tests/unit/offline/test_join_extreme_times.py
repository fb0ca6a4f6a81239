"""Feature times outside the int64 nanosecond range (1677..2262) still join exactly.

A Delta timestamp is int64 microseconds (+-292,000 years), so a feature table
may hold year 1 or 9999; the entity times stay within 1677..2262. The join
and the latest-row pick must agree with the loop oracles, whatever the year.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.services.offline import ViewInput, point_in_time_join
from featurestore.services.offline.join import latest_per_key
from tests.unit.offline import test_latest
from tests.unit.offline.test_join_oracle import _feature_table, _got, oracle

BASE = datetime(2024, 3, 10, tzinfo=UTC)
YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)
YEAR_9999 = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
NS_FLOOR = datetime(1677, 9, 21, 0, 12, 43, 145225, tzinfo=UTC)  # first whole us
NS_CEILING = datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)  # last whole us
# Feature times: ordinary ones near BASE, the ends of the nanosecond range
# (just inside and just outside), and years far outside it on both sides.
FEATURE_TIMES = [
    YEAR_1,
    YEAR_1 + timedelta(days=1),
    datetime(1600, 1, 1, tzinfo=UTC),
    NS_FLOOR - timedelta(microseconds=1),
    NS_FLOOR,
    BASE,
    BASE + timedelta(minutes=1),
    BASE + timedelta(minutes=3),
    NS_CEILING,
    NS_CEILING + timedelta(microseconds=1),
    datetime(3000, 1, 1, tzinfo=UTC),
    YEAR_9999,
]
# Entity times: ordinary ones and the ends of the nanosecond range.
ENTITY_TIMES = [
    NS_FLOOR,
    NS_FLOOR + timedelta(days=30),
    BASE,
    BASE + timedelta(minutes=2),
    BASE + timedelta(minutes=5),
    NS_CEILING,
]
# No TTL; short; about 410 and 1640 years: from BASE, t - T then lies below
# 1677, the nanosecond floor (and stays after year 1 for the oracle).
TTLS = [None, timedelta(minutes=2), timedelta(days=150_000), timedelta(days=600_000)]
times = st.sampled_from(FEATURE_TIMES)


@st.composite
def feature_rows(draw):
    row = st.fixed_dictionaries(
        {
            "a": st.sampled_from([1, 2]),
            "b": st.just(1),
            "e": st.one_of(times, times, times, st.none()),
            "c": st.one_of(times, st.none()),
            "v": st.one_of(st.integers(0, 2), st.none()),
            "w": st.sampled_from(["x", "y"]),
            "x": st.sampled_from([0.5, 1.5]),
        }
    )
    rows = draw(st.lists(row, min_size=1, max_size=14))
    # Twins on (a, e): ties decided by c (possibly year 3000) and values.
    for src in draw(st.lists(st.sampled_from(rows), max_size=4)):
        rows.append({**src, "c": draw(st.one_of(times, st.none())), "v": 9})
    return rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    feats=feature_rows(),
    entity=st.lists(
        st.fixed_dictionaries(
            {"k1": st.sampled_from([1, 2]), "t": st.sampled_from(ENTITY_TIMES)}
        ),
        min_size=1,
        max_size=8,
    ),
    ttl=st.sampled_from(TTLS),
    as_known_at=st.booleans(),
)
def test_join_with_feature_times_outside_the_nanosecond_range_matches_oracle(
    feats, entity, ttl, as_known_at
):
    entity_table = pa.table(
        {
            "k1": pa.array([r["k1"] for r in entity], pa.int64()),
            "t": pa.array([r["t"] for r in entity], pa.timestamp("ns", tz="UTC")),
        }
    )
    view = ViewInput(
        name="far",
        table=_feature_table(feats),
        join_keys=["k1"],
        entity_key_map={"k1": "a"},
        event_timestamp_column="e",
        created_timestamp_column="c",
        ttl=ttl,
        features=["v", "w", "x"],
        output_names=["far__v", "far__w", "far__x"],
    )

    result = point_in_time_join(entity_table, "t", [view], as_known_at=as_known_at)

    assert _got(result, "far") == oracle(
        entity, feats, [("k1", "a")], ttl, True, as_known_at
    )


def _view(rows, ttl=None):
    return ViewInput(
        name="far",
        table=_feature_table(rows),
        join_keys=["k1"],
        entity_key_map={"k1": "a"},
        event_timestamp_column="e",
        created_timestamp_column="c",
        ttl=ttl,
        features=["v"],
    )


def _row(a, e, c, v):
    return {"a": a, "b": 1, "e": e, "c": c, "v": v, "w": None, "x": None}


def test_the_reported_rows_join_as_the_oracle_says():
    # Key 1 holds a row in year 9999 (never qualifies) and one in year 1
    # (qualifies with no TTL); key 2 a normal row created in year 3000
    # (known only from then on). Each used to fail the whole view.
    t = BASE + timedelta(minutes=5)
    rows = [
        _row(1, YEAR_9999, BASE, 1),
        _row(1, YEAR_1, YEAR_1, 2),
        _row(2, BASE, datetime(3000, 1, 1, tzinfo=UTC), 3),
        _row(2, BASE - timedelta(minutes=1), BASE, 4),
    ]
    entity = pa.table(
        {"k1": pa.array([1, 2], pa.int64()), "t": pa.array([t, t], TS_NS)}
    )
    plain = point_in_time_join(entity, "t", [_view(rows)])
    assert plain.column("v").to_pylist() == [2, 3]
    known = point_in_time_join(entity, "t", [_view(rows)], as_known_at=True)
    assert known.column("v").to_pylist() == [2, 4]
    fresh = point_in_time_join(entity, "t", [_view(rows, timedelta(days=1))])
    assert fresh.column("v").to_pylist() == [None, 3]


TS_NS = pa.timestamp("ns", tz="UTC")
E_NS = 1_710_028_800_000_000_000  # BASE in nanoseconds


@pytest.mark.parametrize(
    ("offset_ns", "ttl", "want"),
    [
        (-1, None, None),  # t one nanosecond before the microsecond e
        (0, None, 5),
        (999, None, 5),  # same microsecond as e, later nanosecond
        (1_000, timedelta(microseconds=1), 5),  # t - T == e: included
        (1_001, timedelta(microseconds=1), None),  # t - T one ns after e
    ],
)
@pytest.mark.parametrize("as_known_at", [False, True])
def test_nanosecond_entity_times_against_microsecond_features(
    offset_ns, ttl, want, as_known_at
):
    rows = [_row(1, BASE, BASE, 5)]
    entity = pa.table(
        {
            "k1": pa.array([1], pa.int64()),
            "t": pa.array([E_NS + offset_ns], pa.int64()).cast(TS_NS),
        }
    )
    out = point_in_time_join(entity, "t", [_view(rows, ttl)], as_known_at=as_known_at)
    assert out.column("v").to_pylist() == [want]


def test_entity_times_before_1970_are_floored_not_truncated():
    # -1 ns is in microsecond -1 (floor), not 0 (truncation toward zero).
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rows = [_row(1, epoch, epoch, 5)]
    entity = pa.table(
        {"k1": pa.array([1], pa.int64()), "t": pa.array([-1], pa.int64()).cast(TS_NS)}
    )
    assert point_in_time_join(entity, "t", [_view(rows)]).column("v").to_pylist() == [
        None
    ]


# Minutes from test_latest's T0 to the far ends and past 2262.
FAR_MINUTES = [
    (YEAR_1 - test_latest.T0) // timedelta(minutes=1),
    (datetime(3000, 1, 1, tzinfo=UTC) - test_latest.T0) // timedelta(minutes=1),
    (YEAR_9999 - test_latest.T0) // timedelta(minutes=1),
]
far = st.sampled_from([*FAR_MINUTES, 0, 1, 2])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "k": st.integers(0, 2),
                "e": far,
                "c": st.one_of(st.none(), far),
                "v": st.one_of(st.none(), st.integers(-2, 2)),
                "w": st.one_of(st.none(), st.sampled_from(["a", "b"])),
                "x": st.one_of(st.none(), st.sampled_from([0.0, 1.5])),
            }
        ),
        max_size=20,
    )
)
def test_latest_per_key_with_far_times_matches_oracle(rows):
    table = test_latest.table_of(rows)
    got = latest_per_key(table, ["k"], "e", "c", test_latest.FEATURES)
    want = test_latest.oracle(rows)
    assert test_latest.by_key(got, got.column("k").to_pylist()) == want
