"""point_in_time_join: validation errors and hand-checked cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from featurestore.services.offline import (
    EntityColumnMissingError,
    FeatureColumnMissingError,
    InvalidRequestError,
    InvalidTimestampError,
    NaiveTimestampError,
    Reason,
    ViewInput,
    point_in_time_join,
)
from featurestore.services.offline.join import latest_per_key

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _view(**kw):
    table = pa.table(
        {
            "k": pa.array([1, 1, 1, 2], pa.int64()),
            "e": pa.array([T0, T0, T0 + timedelta(hours=1), T0], TS),
            "c": pa.array([T0, T0, T0, T0], TS),
            "v": pa.array([5, 7, None, 1], pa.int64()),
            "w": pa.array(["a", "b", "c", "d"]),
        }
    )
    args = dict(
        name="fv",
        table=table,
        join_keys=["k"],
        event_timestamp_column="e",
        created_timestamp_column="c",
        features=["w"],
        tiebreak_columns=["v", "w"],
    )
    args.update(kw)
    return ViewInput(**args)


def _entity(times, keys=None, tz="UTC"):
    keys = keys or [1] * len(times)
    return pa.table(
        {
            "k": pa.array(keys, pa.int64()),
            "t": pa.array(times, pa.timestamp("us", tz=tz)),
        }
    )


def test_full_tie_goes_to_greatest_tiebreak_tuple():
    out = point_in_time_join(_entity([T0 + timedelta(minutes=30)]), "t", [_view()])
    assert out.column("w").to_pylist() == ["b"]  # v=7 beats v=5


def test_ttl_boundary_included_one_second_past_excluded():
    times = [T0 + timedelta(hours=3), T0 + timedelta(hours=3, seconds=1)]
    out = point_in_time_join(_entity(times), "t", [_view(ttl=timedelta(hours=2))])
    assert out.column("w").to_pylist() == ["c", None]


def test_naive_entity_timestamp_rejected():
    entity = pa.table(
        {"k": [1], "t": pa.array([datetime(2024, 1, 1)], pa.timestamp("us"))}
    )
    with pytest.raises(NaiveTimestampError) as err:
        point_in_time_join(entity, "t", [_view()])
    assert err.value.reason is Reason.NAIVE_TIMESTAMP


def test_non_timestamp_rejected():
    entity = pa.table({"k": [1], "t": ["2024-01-01"]})
    with pytest.raises(InvalidTimestampError) as err:
        point_in_time_join(entity, "t", [_view()])
    assert err.value.reason is Reason.INVALID_TIMESTAMP


@pytest.mark.parametrize("drop", ["k", "t"])
def test_missing_entity_column(drop):
    entity = _entity([T0]).drop_columns([drop])
    with pytest.raises(EntityColumnMissingError) as err:
        point_in_time_join(entity, "t", [_view()])
    assert err.value.reason is Reason.ENTITY_COLUMN_MISSING
    assert err.value.metadata["column"] == drop


def test_missing_feature_column():
    with pytest.raises(FeatureColumnMissingError) as err:
        point_in_time_join(_entity([T0]), "t", [_view(features=["nope"])])
    assert err.value.reason is Reason.FEATURE_COLUMN_MISSING


def test_key_type_mismatch_and_name_collision():
    entity = pa.table({"k": ["1"], "t": pa.array([T0], TS)})
    with pytest.raises(InvalidRequestError):
        point_in_time_join(entity, "t", [_view()])
    with pytest.raises(InvalidRequestError):
        point_in_time_join(_entity([T0]), "t", [_view(output_names=["k"])])


def test_latest_per_key_uses_the_same_tie_rule():
    view = _view()
    latest = latest_per_key(view.table, ["k"], "e", "c", ["v", "w"])
    assert latest.column("w").to_pylist() == ["c", "d"]
    no_late = view.table.slice(0, 2)
    assert latest_per_key(no_late, ["k"], "e", "c", ["v", "w"]).column(
        "w"
    ).to_pylist() == ["b"]
    assert latest_per_key(view.table, [], "e", "c", ["v", "w"]).column(
        "w"
    ).to_pylist() == ["c"]


def _known(rows, ttl=None):
    """A view of (e, c, w) rows on key 1, times in minutes after T0."""
    minutes = [timedelta(minutes=x) for row in rows for x in row[:2]]
    table = pa.table(
        {
            "k": pa.array([1] * len(rows), pa.int64()),
            "e": pa.array([T0 + m for m in minutes[0::2]], TS),
            "c": pa.array([T0 + m for m in minutes[1::2]], TS),
            "w": [row[2] for row in rows],
        }
    )
    return _view(table=table, features=["w"], tiebreak_columns=None, ttl=ttl)


def test_as_known_at_skips_rows_created_after_t():
    view = _known([(1, 1, "old"), (5, 20, "backfilled")])
    entity = _entity([T0 + timedelta(minutes=10)])
    known = point_in_time_join(entity, "t", [view], as_known_at=True)
    assert known.column("w").to_pylist() == ["old"]
    plain = point_in_time_join(entity, "t", [view])
    assert plain.column("w").to_pylist() == ["backfilled"]


def test_as_known_at_ttl_applies_to_the_winner_not_the_latest_created():
    # At t=10 the latest-created row (e=3, c=9) is past the 4-minute TTL,
    # but the winner is the greatest e known at t (e=8), which is fresh.
    # The entity row at t=0 keeps e=3 from being pruned before the join.
    view = _known([(8, 8, "fresh"), (3, 9, "stale")], ttl=timedelta(minutes=4))
    entity = _entity([T0 + timedelta(minutes=10), T0])
    out = point_in_time_join(entity, "t", [view], as_known_at=True)
    assert out.column("w").to_pylist() == ["fresh", None]


@pytest.mark.parametrize("known_at", [False, True])
def test_entity_time_at_the_nanosecond_floor_with_a_ttl_does_not_overflow(known_at):
    # min t - T and t - T are below int64 nanoseconds: no feature row is fresh.
    floor = pa.array([-(2**63) + 1], pa.timestamp("ns", tz="UTC"))
    entity = pa.table({"k": pa.array([1], pa.int64()), "t": floor})
    view = _view(ttl=timedelta(days=7))
    out = point_in_time_join(entity, "t", [view], as_known_at=known_at)
    assert out.column("w").to_pylist() == [None]


@pytest.mark.parametrize("year", [1, 9999])
def test_entity_time_outside_the_nanosecond_range_names_column_and_range(year):
    entity = _entity([datetime(year, 1, 1, tzinfo=UTC)])
    with pytest.raises(InvalidTimestampError) as caught:
        point_in_time_join(entity, "t", [_view()])
    assert caught.value.reason == Reason.TIMESTAMP_OUT_OF_RANGE
    assert caught.value.metadata["column"] == "t"
    assert caught.value.metadata["min"].startswith("1677-09-21")
    assert caught.value.metadata["max"].startswith("2262-04-11")


def _string_keyed_view() -> ViewInput:
    table = pa.table(
        {
            "k": pa.array(["a", "b"]),
            "e": pa.array([T0, T0], TS),
            "w": pa.array([1, 2], pa.int64()),
        }
    )
    return ViewInput(
        name="fv", table=table, join_keys=["k"], event_timestamp_column="e",
        created_timestamp_column=None, features=["w"],
    )  # fmt: skip


@pytest.mark.parametrize(
    "keys",
    [
        pa.array(["b", "a", "zz", None]).dictionary_encode(),  # a pandas category
        pa.array(["b", "a", "zz", None], pa.string_view()),
        pa.array(["b", "a", "zz", None], pa.large_string()),
    ],
    ids=["dictionary", "string_view", "large_string"],
)
def test_string_keys_of_other_arrow_layouts_join_by_their_values(keys):
    # A dictionary (pandas category) or string_view key column was refused as
    # "join key 'k' is dictionary<...> in the entity table but string".
    entity = pa.table({"k": keys, "t": pa.array([T0 + timedelta(hours=1)] * 4, TS)})
    out = point_in_time_join(entity, "t", [_string_keyed_view()])
    assert out.column("w").to_pylist() == [2, 1, None, None]
    assert out.column("k").type == keys.type  # the caller's column, kept as it came


def _day_keyed_view():
    days = [T0, T0 + timedelta(days=1)]
    table = pa.table(
        {
            "day_ts": pa.array(days, TS),
            "e": pa.array(days, TS),
            "w": pa.array([40.0, 41.0]),
        }
    )
    return ViewInput(
        name="ts_keyed", table=table, join_keys=["day_ts"],
        event_timestamp_column="e", created_timestamp_column=None, features=["w"],
    )  # fmt: skip


@pytest.mark.parametrize("unit", ["ns", "ms", "s"])
def test_timestamp_keys_of_any_unit_join_by_their_instant(unit):
    # An entity file's UNIX_TIMESTAMP key in ns (pandas' unit) was refused:
    # "join key 'day_ts' is timestamp[ns, tz=UTC] in the entity table but
    # timestamp[us, tz=UTC] in view 'ts_keyed'".
    day = T0 + timedelta(days=1)
    entity = pa.table(
        {
            "day_ts": pa.array([day, T0, day - timedelta(seconds=1)]).cast(
                pa.timestamp(unit, tz="UTC")
            ),
            "t": pa.array([day + timedelta(hours=1)] * 3, TS),
        }
    )
    out = point_in_time_join(entity, "t", [_day_keyed_view()])
    assert out.column("w").to_pylist() == [41.0, 40.0, None]
    assert out.column("day_ts").type == pa.timestamp(unit, tz="UTC")  # as it came


def test_a_timestamp_key_finer_than_the_views_is_refused_not_rounded():
    # 500 ns past the day: no microsecond key of the view can equal it, and
    # rounding it to the microsecond would read the day's row for it.
    day_ns = int((T0 + timedelta(days=1)).timestamp()) * 10**9
    entity = pa.table(
        {
            "day_ts": pa.array([day_ns, day_ns + 500], pa.timestamp("ns", tz="UTC")),
            "t": pa.array([T0 + timedelta(days=2)] * 2, TS),
        }
    )
    with pytest.raises(InvalidRequestError) as err:
        point_in_time_join(entity, "t", [_day_keyed_view()])
    assert err.value.reason is Reason.INVALID_REQUEST
    assert err.value.metadata["column"] == "day_ts"
    assert err.value.metadata["row"] == "1"


def test_a_naive_timestamp_key_is_not_compared_with_a_tz_aware_one():
    entity = pa.table(
        {
            "day_ts": pa.array([T0.replace(tzinfo=None)], pa.timestamp("ns")),
            "t": pa.array([T0 + timedelta(days=2)], TS),
        }
    )
    with pytest.raises(InvalidRequestError):
        point_in_time_join(entity, "t", [_day_keyed_view()])
