"""Our server over a real Redis: outage, health, recovery without a restart."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2

from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import (
    health_status,
    online_request,
    wait_for,
    write_online,
)
from tests.redis_harness import start_redis_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_redis_outage_and_recovery(redis_served, redis_process, tmp_path):
    stub = FeatureStoreServiceStub(redis_served.channel)
    first = stub.GetOnlineFeatures(online_request(), timeout=5)
    assert first.columns[1].values[0].double_value == 30.5
    assert [int(s) for s in first.columns[1].statuses] == [
        pb.FEATURE_STATUS_PRESENT,
        pb.FEATURE_STATUS_NOT_FOUND,
    ]
    assert health_status(redis_served.channel) == SERVING

    redis_process.stop()
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetOnlineFeatures(online_request(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    wait_for(lambda: health_status(redis_served.channel) == NOT_SERVING)

    # Same port, empty (no persistence): refill through Feast's write path.
    restarted = start_redis_process(tmp_path / "redis2", port=redis_process.port)
    try:
        write_online(redis_served.store)
        wait_for(lambda: health_status(redis_served.channel) == SERVING)
        again = stub.GetOnlineFeatures(online_request(), timeout=5)
        assert again.columns[1].values[0].double_value == 30.5
    finally:
        restarted.stop()


def test_deadline_shorter_than_a_hung_redis(redis_served, redis_process):
    stub = FeatureStoreServiceStub(redis_served.channel)
    redis_process.pause()
    try:
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetOnlineFeatures(online_request(), timeout=0.2)
        assert caught.value.code() in (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.UNAVAILABLE,
        )
    finally:
        redis_process.resume()

    def answers() -> bool:
        try:
            response = stub.GetOnlineFeatures(online_request(), timeout=5)
        except grpc.RpcError:
            return False
        return response.columns[1].values[0].double_value == 30.5

    wait_for(answers)
    wait_for(lambda: health_status(redis_served.channel) == SERVING)
