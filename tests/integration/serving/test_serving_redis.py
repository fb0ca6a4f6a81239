"""Our server over a real Redis: outage, health, recovery without a restart."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status

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


def test_redis_down_names_the_store_kind_never_its_address(
    redis_served, redis_process, caplog
):
    # The client was told "online store redis:127.0.0.1:54905 is unavailable":
    # where the server's store lives. The address belongs in the server log.
    stub = FeatureStoreServiceStub(redis_served.channel)
    stub.GetOnlineFeatures(online_request(), timeout=5)
    redis_process.stop()
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetOnlineFeatures(online_request(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    message = caught.value.details() or ""
    assert message.startswith("online store redis is unavailable: "), message
    status = rpc_status.from_call(caught.value)
    info = error_details_pb2.ErrorInfo()
    assert status is not None and status.details[0].Unpack(info)
    assert info.reason == "ONLINE_STORE_UNAVAILABLE"
    address = f"{redis_process.host}:{redis_process.port}"
    for text in (message, *info.metadata.values()):
        assert address not in text and str(redis_process.port) not in text, text
    assert f"redis:{address}" in caplog.text  # the server log keeps it


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
