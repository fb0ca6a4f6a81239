"""RedisOnlineReader against a real redis-server written by Feast's RedisOnlineStore."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.services.online import (
    FeatureStatus,
    OnlineStoreUnavailableError,
    Reason,
    RedisOnlineReader,
    build_online_reader,
)
from tests.redis_harness import start_redis_process
from tests.unit.online import _world as w
from tests.unit.online._compare import assert_same_as_feast, request_for

pytestmark = pytest.mark.integration

DRIVER_FEATURES = ("conv_rate", "acc_rate", "trips", "label")


def test_builds_redis_reader_from_repo_config(redis_world) -> None:
    reader = build_online_reader(redis_world.config)
    assert isinstance(reader, RedisOnlineReader)
    assert reader.ping()


def test_values_timestamps_statuses_match_feast(redis_world) -> None:
    reader = build_online_reader(redis_world.config)
    ids = [1, 2, 49, 999, 2, 55]
    [result] = reader.read(
        w.PROJECT, [request_for(w.driver_stats_view)], {"driver_id": ids}, w.NOW
    )
    assert_same_as_feast(
        result,
        redis_world.store,
        redis_world.config,
        w.driver_stats_view,
        [[i] for i in ids],
        DRIVER_FEATURES,
        w.NOW,
    )
    assert result.statuses[0] == [FeatureStatus.PRESENT] * 4
    assert result.statuses[3] == [FeatureStatus.NOT_FOUND] * 4
    assert result.statuses[5] == [FeatureStatus.OUTSIDE_MAX_AGE] * 4
    # Redis keeps sub-second event times.
    assert result.event_times[0] == w.NOW - timedelta(minutes=5, microseconds=123456)


def test_multi_column_keys_and_several_views(redis_world) -> None:
    reader = build_online_reader(redis_world.config)
    rows = {"user_id": ["u1", "u8", "u3", "nobody"], "item_id": [1, 1, 2, 0]}
    profile, user_item = reader.read(
        w.PROJECT,
        [request_for(w.user_profile_view), request_for(w.user_item_view)],
        rows,
        w.NOW,
    )
    cfg, store = redis_world.config, redis_world.store
    assert_same_as_feast(
        profile,
        store,
        cfg,
        w.user_profile_view,
        [[u] for u in rows["user_id"]],
        ("age", "country"),
        w.NOW,
    )
    assert_same_as_feast(
        user_item,
        store,
        cfg,
        w.user_item_view,
        list(zip(rows["user_id"], rows["item_id"], strict=True)),
        ("score", "clicked"),
        w.NOW,
    )
    assert profile.statuses[1] == [FeatureStatus.NOT_FOUND] * 2  # u8 has no profile
    assert user_item.statuses[0] == [FeatureStatus.PRESENT] * 2  # no TTL


def test_down_raises_within_deadline_and_reconnects(redis_world) -> None:
    timeout_s = 0.5
    reader = build_online_reader(redis_world.config, timeout_s=timeout_s)
    request = [request_for(w.driver_stats_view, ["trips"])]
    assert reader.read(w.PROJECT, request, {"driver_id": [1]}, w.NOW)[0].statuses == [
        [FeatureStatus.PRESENT]
    ]
    port = redis_world.server.port
    redis_world.server.stop()

    start = time.monotonic()
    with pytest.raises(OnlineStoreUnavailableError) as info:
        reader.read(w.PROJECT, request, {"driver_id": [1]}, w.NOW)
    assert time.monotonic() - start < timeout_s
    assert info.value.reason is Reason.ONLINE_STORE_UNAVAILABLE
    assert not reader.ping()

    server = start_redis_process(redis_world.tmp_path / "redis2", port=port)
    try:
        from feast.infra.online_stores.redis import RedisOnlineStore

        from tests.integration.online.conftest import populate

        populate(redis_world.config, RedisOnlineStore())
        assert reader.ping()
        [result] = reader.read(w.PROJECT, request, {"driver_id": [1]}, w.NOW)
        assert result.statuses == [[FeatureStatus.PRESENT]]
        assert result.values[0][0].int64_val == 10
    finally:
        server.stop()


def test_hung_server_times_out_within_deadline(redis_world) -> None:
    timeout_s = 0.4
    reader = build_online_reader(redis_world.config, timeout_s=timeout_s)
    request = [request_for(w.driver_stats_view, ["trips"])]
    reader.read(w.PROJECT, request, {"driver_id": [1]}, w.NOW)  # warm connection
    redis_world.server.pause()
    try:
        start = time.monotonic()
        with pytest.raises(OnlineStoreUnavailableError):
            reader.read(w.PROJECT, request, {"driver_id": [1]}, w.NOW)
        assert time.monotonic() - start < timeout_s
        start = time.monotonic()
        assert not reader.ping()
        assert time.monotonic() - start < timeout_s
    finally:
        redis_world.server.resume()
    [result] = reader.read(w.PROJECT, request, {"driver_id": [1]}, w.NOW)
    assert result.statuses == [[FeatureStatus.PRESENT]]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ids=st.lists(st.integers(min_value=-5, max_value=70), min_size=1, max_size=40),
    users=st.lists(
        st.sampled_from([f"u{i}" for i in range(12)]), min_size=1, max_size=40
    ),
    now_offset_min=st.integers(min_value=-300, max_value=300),
)
def test_random_key_sets_match_feast(
    shared_redis_world, ids, users, now_offset_min
) -> None:
    world = shared_redis_world
    now = w.NOW + timedelta(minutes=now_offset_min)
    n = min(len(ids), len(users))
    ids, users = ids[:n], users[:n]
    items = [i % 4 for i in ids]
    reader = build_online_reader(world.config)
    drivers, user_item, profile = reader.read(
        w.PROJECT,
        [
            request_for(w.driver_stats_view),
            request_for(w.user_item_view),
            request_for(w.user_profile_view, ["country"]),
        ],
        {"driver_id": ids, "user_id": users, "item_id": items},
        now,
    )
    assert_same_as_feast(
        drivers,
        world.store,
        world.config,
        w.driver_stats_view,
        [[i] for i in ids],
        DRIVER_FEATURES,
        now,
    )
    assert_same_as_feast(
        user_item,
        world.store,
        world.config,
        w.user_item_view,
        list(zip(users, items, strict=True)),
        ("score", "clicked"),
        now,
    )
    assert_same_as_feast(
        profile,
        world.store,
        world.config,
        w.user_profile_view,
        [[u] for u in users],
        ("country",),
        now,
    )


def test_error_reply_mid_request_leaves_the_next_read_in_step(redis_world) -> None:
    import redis

    from featurestore.services.online._keys import encode_entity_keys

    reader = build_online_reader(redis_world.config, timeout_s=2.0)
    request = request_for(w.driver_stats_view, ["trips"])
    # Driver 777's Redis key holds a string, not a hash: its HMGET fails with
    # WRONGTYPE while driver 2's reply still waits on the connection.
    [key] = encode_entity_keys(
        request.join_keys, request.join_key_types, {"driver_id": [777]}, 3
    )
    host, port = redis_world.server.host, redis_world.server.port
    raw = redis.Redis(host=host, port=port)
    raw.set(key + w.PROJECT.encode(), b"not a hash")
    try:
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            reader.read(w.PROJECT, [request], {"driver_id": [777, 2]}, w.NOW)
        # Driver 2's reply was left unread: this read must not get it (the
        # reader drops the connection; redis-py's pool also refuses one with
        # unread data).
        [result] = reader.read(w.PROJECT, [request], {"driver_id": [1]}, w.NOW)
        assert result.values[0][0].int64_val == 10
    finally:
        raw.delete(key + w.PROJECT.encode())
        raw.close()
