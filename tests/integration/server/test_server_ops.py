"""Health, reflection, the view catalogue, and a clean SIGTERM shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import grpc
import pytest
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.integration.server._served import REPO, ServedRepo

pytestmark = pytest.mark.integration


def test_health_reports_serving(served_repo: ServedRepo) -> None:
    stub = health_pb2_grpc.HealthStub(served_repo.channel)
    for service in (
        "",
        "featurestore.v1.FeatureStoreService",
        "featurestore.v1.ContractService",
    ):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_featurestore_services(served_repo: ServedRepo) -> None:
    names = _service_names(served_repo.channel)
    assert {
        "featurestore.v1.FeatureStoreService",
        "featurestore.v1.ContractService",
        "grpc.health.v1.Health",
    } <= names


def test_list_feature_views_pages_through_every_view(served_repo: ServedRepo) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(served_repo.channel)
    first = stub.ListFeatureViews(pb.ListFeatureViewsRequest(page_size=1), timeout=5)
    second = stub.ListFeatureViews(
        pb.ListFeatureViewsRequest(page_size=1, page_token=first.next_page_token),
        timeout=5,
    )
    assert [v.name for v in first.feature_views] == ["customer_spend"]
    assert [v.name for v in second.feature_views] == ["merchant_risk"]
    assert second.next_page_token == ""
    view = first.feature_views[0]
    assert view.join_keys == ["customer_id"]
    assert view.contract == "customer_spend"
    assert view.ttl.ToTimedelta().days == 7


def test_bad_page_token_and_unknown_view(served_repo: ServedRepo) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(served_repo.channel)
    with pytest.raises(grpc.RpcError) as bad_token:
        stub.ListFeatureViews(pb.ListFeatureViewsRequest(page_token="nope"), timeout=5)
    assert bad_token.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as unknown:
        stub.GetFeatureView(pb.GetFeatureViewRequest(name="nope"), timeout=5)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_server_process_serves_then_drains_on_sigterm(served_repo: ServedRepo) -> None:
    address = f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "FS_ADDRESS": address,
        "FS_REPO_PATH": str(served_repo.repo),
        "FS_DATA_DIR": str(served_repo.data),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.server"],
        cwd=REPO,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as handle:
        return [int(p) for p in handle.read().split()]


def _wait_serving(address: str, deadline_s: float = 120) -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline, status = time.monotonic() + deadline_s, None
        while (
            time.monotonic() < deadline
            and status != health_pb2.HealthCheckResponse.SERVING
        ):
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
            except grpc.RpcError:
                time.sleep(0.3)
        return int(status or 0)


def test_worker_group_serves_on_one_port_and_stops_together(
    served_repo: ServedRepo,
) -> None:
    """--workers 2: two processes, one port; SIGTERM drains both (exit 0); a
    worker that dies takes the group down with a non-zero exit."""
    env = {
        **os.environ,
        "FS_REPO_PATH": str(served_repo.repo),
        "FS_DATA_DIR": str(served_repo.data),
    }
    addresses = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    groups = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.server",
                "--workers",
                "2",
                "--address",
                address,
            ],
            cwd=REPO,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        for address in addresses
    ]
    try:
        for address in addresses:
            assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        drained, crashed = groups
        assert len(_children(drained.pid)) == 2
        workers = _children(crashed.pid)
        assert len(workers) == 2
        # Both workers answer on the one port: a fresh connection lands on
        # either, and every one of them serves.
        for _ in range(6):
            with grpc.insecure_channel(addresses[0]) as channel:
                stub = pb_grpc.FeatureStoreServiceStub(channel)
                reply = stub.ListFeatureViews(pb.ListFeatureViewsRequest(), timeout=10)
                assert [v.name for v in reply.feature_views] == [
                    "customer_spend",
                    "merchant_risk",
                ]
        drained.send_signal(signal.SIGTERM)
        os.kill(workers[0], signal.SIGKILL)
        assert drained.wait(timeout=60) == 0
        assert crashed.wait(timeout=60) == 1
        for pid in workers[1:]:
            assert not os.path.exists(f"/proc/{pid}/cmdline") or _zombie(pid)
    finally:
        for group in groups:
            if group.poll() is None:
                group.kill()
                group.wait()


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().split(")")[-1].split()[0] == "Z"


def test_front_group_serves_reads_and_proxied_streams_then_drains(
    served_repo: ServedRepo,
) -> None:
    """--front --workers 2: fs-front on the public port hands online reads to
    the workers' sockets and proxies the rest (a streamed training set,
    reflection); SIGTERM drains the front, then the workers (exit 0)."""
    from services.client import FeatureStoreClient
    from tests.integration.server.test_historical_features import _entities

    address = f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "FS_REPO_PATH": str(served_repo.repo),
        "FS_DATA_DIR": str(served_repo.data),
    }
    group = subprocess.Popen(
        [sys.executable, "-m", "services.server", "--front", "--workers", "2",
         "--address", address],
        cwd=REPO, env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        commands = [_command(pid) for pid in _children(group.pid)]
        assert sum("fs-front" in c for c in commands) == 1
        assert sum("services.server" in c for c in commands) == 2
        with FeatureStoreClient(address) as client:
            frame = client.get_online_features(
                {"customer_id": [1, 99]}, ["customer_spend:spend_1h"], with_status=True
            )
            assert frame["spend_1h__status"].tolist() == ["PRESENT", "NOT_FOUND"]
            assert frame["spend_1h"].tolist()[0] == 10.0
            training = client.get_historical_features(
                _entities(), ["customer_spend:spend_1h"]
            )
        assert training.table.column("spend_1h").to_pylist() == [
            10.0, None, 30.0, 31.0, None,
        ]  # fmt: skip
        with grpc.insecure_channel(address) as channel:
            assert "featurestore.v1.FeatureStoreService" in _service_names(channel)
        group.send_signal(signal.SIGTERM)
        assert group.wait(timeout=60) == 0
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()


def _service_names(channel: grpc.Channel) -> set[str]:
    """The services a server lists through reflection."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    return {s.name for s in reply.list_services_response.service}


def _command(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().replace(b"\0", b" ").decode()
