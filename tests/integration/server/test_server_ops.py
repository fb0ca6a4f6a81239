"""Health, reflection, the view catalogue, and a clean SIGTERM shutdown."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.certs import (
    CertificateAuthority,
    CertificateFiles,
    issue_client_cert,
    issue_server_cert,
    make_ca,
)
from tests.integration.server._served import REPO, ServedRepo
from tests.processes import free_port

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


def test_health_list_gives_every_service_status(served_repo: ServedRepo) -> None:
    # Reflection advertised List (the newer health.proto); it answered
    # UNIMPLEMENTED "Method not implemented!".
    from featurestore.services.server.app import SERVICE_NAMES

    stub = health_pb2_grpc.HealthStub(served_repo.channel)
    reply = stub.List(health_pb2.HealthListRequest(), timeout=5)
    assert {name: s.status for name, s in reply.statuses.items()} == {
        name: health_pb2.HealthCheckResponse.SERVING for name in ("", *SERVICE_NAMES)
    }


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
    assert view.source_path == "featurestore://customer_spend"  # a table reference
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
    with pytest.raises(grpc.RpcError) as unnamed:  # AIP-193: a missing field
        stub.GetFeatureView(pb.GetFeatureViewRequest(), timeout=5)
    assert unnamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert unnamed.value.details() == "name is required: the feature view's name"


def test_server_process_serves_then_drains_on_sigterm(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "FS_ADDRESS": address,
        "FS_REPO_PATH": str(served_repo.repo),
        "FS_DATA_DIR": str(served_repo.data),
        "FS_REGISTRY_REFRESH_SECONDS": "0.2",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "featurestore.services.server"],
            cwd=REPO,
            env=env,
            stderr=stderr,
        )
    try:
        assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        time.sleep(2)  # some ten registry refreshes (a wait, not a measure)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = log.read_text().splitlines()
    assert any(" INFO serving on " in line for line in lines)
    assert any(" INFO stopped" in line for line in lines)
    # Feast's registry said so at INFO on every refresh: noise in the log.
    assert not [line for line in lines if "Registry cache expired" in line]


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as handle:
        return [int(p) for p in handle.read().split()]


def _tcp_listening(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (from /proc, IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


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
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    groups = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "featurestore.services.server",
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


def _free_port_pair() -> int:
    """A port P with P and P + 1 both free (worker i serves metrics on P + i)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _start_front_group(
    served_repo: ServedRepo,
    address: str,
    *extra: str,
    stderr: IO[bytes] | int = subprocess.DEVNULL,
    **env: str,
) -> subprocess.Popen[bytes]:
    """``--front --workers 2`` on ``address``, FS_* settings from ``env``."""
    return subprocess.Popen(
        [sys.executable, "-m", "featurestore.services.server",
         "--front", "--workers", "2",
         "--address", address, *extra],
        cwd=REPO,
        env={
            **os.environ,
            "FS_REPO_PATH": str(served_repo.repo),
            "FS_DATA_DIR": str(served_repo.data),
            **env,
        },
        stderr=stderr,
    )  # fmt: skip


def _workers(group: subprocess.Popen[bytes]) -> list[int]:
    """The group's server processes (not the front), in start order."""
    return sorted(
        p for p in _children(group.pid) if "featurestore.services.server" in _command(p)
    )


def _calls_counted(metrics_port: int, method: str) -> float:
    """How many ``method`` calls a worker's Prometheus endpoint has counted."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    prefix = f'featurestore_rpc_latency_seconds_count{{method="{method}"}} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_front_group_serves_reads_and_proxied_streams_then_drains(
    served_repo: ServedRepo,
) -> None:
    """--front --workers 2: fs-front on the public port hands online reads to
    the workers' sockets and spreads the rest (a streamed training set,
    reflection, the catalogue) over the workers' own ports; SIGTERM drains the
    front, then the workers (exit 0)."""
    from featurestore.services.client import FeatureStoreClient
    from tests.integration.server.test_historical_features import _entities

    address = f"127.0.0.1:{free_port()}"
    metrics = _free_port_pair()
    group = _start_front_group(served_repo, address, "--metrics-port", str(metrics))
    try:
        assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        commands = [_command(pid) for pid in _children(group.pid)]
        assert sum("fs-front" in c for c in commands) == 1
        workers = [_command(pid) for pid in _workers(group)]
        assert len(workers) == 2
        # Each worker on its own Unix socket, without TLS (the front's job), in
        # a directory only this user may enter; no worker listens on TCP but
        # for its metrics, so no local user can call it past the front's TLS.
        sockets = {c.split("--address ")[-1].split()[0] for c in workers}
        assert len(sockets) == 2
        assert all(s.startswith("unix:/") for s in sockets)
        assert all("--no-tls" in c for c in workers)
        folders = {Path(s.removeprefix("unix:")).parent for s in sockets}
        assert [stat.S_IMODE(f.stat().st_mode) for f in folders] == [0o700]
        assert [_tcp_listening(pid) for pid in _workers(group)] == [
            {metrics}, {metrics + 1},
        ]  # fmt: skip
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
            # The front answers List itself, as it answers Check and Watch.
            listed = (
                health_pb2_grpc.HealthStub(channel)
                .List(health_pb2.HealthListRequest(), timeout=10)
                .statuses
            )
            assert listed[""].status == health_pb2.HealthCheckResponse.SERVING
            assert (
                listed["featurestore.v1.ContractService"].status
                == health_pb2.HealthCheckResponse.SERVING
            )
            # Round robin: two catalogue calls on one connection, one per worker.
            stub = pb_grpc.FeatureStoreServiceStub(channel)
            for _ in range(2):
                stub.ListFeatureViews(pb.ListFeatureViewsRequest(), timeout=10)
        assert [_calls_counted(metrics + i, "ListFeatureViews") for i in (0, 1)] == [
            1.0,
            1.0,
        ]
        group.send_signal(signal.SIGTERM)
        assert group.wait(timeout=60) == 0
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()


def test_front_health_needs_every_worker_and_a_dead_worker_stops_the_group(
    served_repo: ServedRepo,
) -> None:
    """A worker alive but not answering (SIGSTOP) turns the front NOT_SERVING
    and calls go to the other worker; once it answers again, SERVING. A worker
    that dies (SIGKILL) stops the whole group with exit status 1, so a process
    manager restarts it: the supervisor never runs a group short of a worker."""
    address = f"127.0.0.1:{free_port()}"
    group = _start_front_group(served_repo, address)
    try:
        assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        stopped, alive = _workers(group)
        with grpc.insecure_channel(address) as channel:
            os.kill(stopped, signal.SIGSTOP)
            try:
                _wait_health(channel, health_pb2.HealthCheckResponse.NOT_SERVING)
                stub = pb_grpc.FeatureStoreServiceStub(channel)
                for _ in range(4):  # none of them waits on the stopped worker
                    reply = stub.ListFeatureViews(
                        pb.ListFeatureViewsRequest(), timeout=30
                    )
                    assert len(reply.feature_views) == 2
                    online = stub.GetOnlineFeatures(_online_request(), timeout=30)
                    assert len(online.columns) == 2
            finally:
                os.kill(stopped, signal.SIGCONT)
            _wait_health(channel, health_pb2.HealthCheckResponse.SERVING)
        os.kill(alive, signal.SIGKILL)
        assert group.wait(timeout=60) == 1
        assert not [p for p in _children_or_none(group.pid) if not _zombie(p)]
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()


def test_the_front_limits_health_watchers_as_the_server_does(
    served_repo: ServedRepo,
) -> None:
    # Health needs no credentials: max_health_watchers bounds what anyone may
    # hold open. Through the front it was not enforced (2,000 Watch streams).
    address = f"127.0.0.1:{free_port()}"
    group = _start_front_group(served_repo, address, FS_MAX_HEALTH_WATCHERS="1")
    try:
        assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            first = stub.Watch(health_pb2.HealthCheckRequest(), timeout=30)
            assert next(first).status == health_pb2.HealthCheckResponse.SERVING
            second = stub.Watch(health_pb2.HealthCheckRequest(), timeout=30)
            with pytest.raises(grpc.RpcError) as caught:
                next(second)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_health_watchers" in (caught.value.details() or "")
            first.cancel()
    finally:
        group.terminate()
        group.wait(timeout=60)


def _online_request() -> pb.GetOnlineFeaturesRequest:
    from featurestore.v1 import common_pb2

    return pb.GetOnlineFeaturesRequest(
        features=["customer_spend:spend_1h"],
        entities={
            "customer_id": common_pb2.ValueList(
                values=[common_pb2.Value(int64_value=1)]
            )
        },
    )


def _children_or_none(pid: int) -> list[int]:
    try:
        return _children(pid)
    except FileNotFoundError:
        return []


def _wait_health(channel: grpc.Channel, wanted: int, deadline_s: float = 60) -> None:
    """Poll the front's overall health until it is ``wanted``."""
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status == wanted:
                return
        except grpc.RpcError:  # the front not listening yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"health never became {wanted}")


def test_front_terminates_mutual_tls_and_reloads_its_certificate(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    """TLS settings go to fs-front (the workers run without TLS behind it), as
    FS_FRONT_PROCS does: a client with a certificate from the CA is served,
    one without is refused; replacing the certificate files serves the new
    certificate on new connections while the front keeps running and old
    channels keep working."""
    ca = make_ca(tmp_path / "ca")
    server = issue_server_cert(ca, tmp_path / "server")
    client = issue_client_cert(ca, tmp_path / "client")
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path / "group.log"
    with log.open("wb") as stderr:
        group = _start_front_group(
            served_repo,
            address,
            stderr=stderr,
            FS_TLS_CERT=str(server.cert),
            FS_TLS_KEY=str(server.key),
            FS_TLS_CLIENT_CA=str(ca.cert),
            FS_FRONT_PROCS="3",
        )
    trusted = grpc.ssl_channel_credentials(
        ca.cert.read_bytes(), client.key.read_bytes(), client.cert.read_bytes()
    )
    try:
        with grpc.secure_channel(address, trusted) as channel:
            _wait_health(channel, health_pb2.HealthCheckResponse.SERVING, 120)
            stub = pb_grpc.FeatureStoreServiceStub(channel)
            assert (
                len(stub.ListFeatureViews(pb.ListFeatureViewsRequest()).feature_views)
                == 2
            )
            assert len(stub.GetOnlineFeatures(_online_request()).columns) == 2
            for refused in (
                grpc.secure_channel(
                    address, grpc.ssl_channel_credentials(ca.cert.read_bytes())
                ),
                grpc.insecure_channel(address),
            ):
                with refused, pytest.raises(grpc.RpcError) as no_cert:
                    health_pb2_grpc.HealthStub(refused).Check(
                        health_pb2.HealthCheckRequest(), timeout=10
                    )
                assert no_cert.value.code() == grpc.StatusCode.UNAVAILABLE

            (front,) = [p for p in _children(group.pid) if "fs-front" in _command(p)]
            # FS_FRONT_PROCS reaches the front's Go runtime (GOMAXPROCS).
            _wait_log(log, "TLS true, 3 procs")
            first = server.cert.read_bytes()
            assert _served_certificate(address, ca, client) == _der(first)
            renewed = issue_server_cert(ca, tmp_path / "server")  # same files
            assert renewed.cert.read_bytes() != first
            assert _served_certificate(address, ca, client) == _der(
                renewed.cert.read_bytes()
            )
            assert [p for p in _children(group.pid) if "fs-front" in _command(p)] == [
                front
            ]
            assert (
                len(stub.ListFeatureViews(pb.ListFeatureViewsRequest()).feature_views)
                == 2
            )
            # SIGHUP to the group re-reads the files in the front; nothing stops.
            group.send_signal(signal.SIGHUP)
            _wait_log(log, "SIGHUP: certificates re-read")
            assert group.poll() is None
            assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
        group.send_signal(signal.SIGTERM)
        assert group.wait(timeout=60) == 0
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()


def _health(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status)


def _wait_log(path: Path, line: str, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while line not in path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{line!r} never logged"
        time.sleep(0.1)


def _served_certificate(
    address: str, ca: CertificateAuthority, client: CertificateFiles
) -> bytes:
    """The DER certificate a fresh TLS handshake with ``address`` presents."""
    context = ssl.create_default_context(cafile=str(ca.cert))
    context.load_cert_chain(str(client.cert), str(client.key))
    context.set_alpn_protocols(["h2"])
    host, port = address.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def _der(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode())


def _service_names(channel: grpc.Channel) -> set[str]:
    """The services a server lists through reflection."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    return {s.name for s in reply.list_services_response.service}


def _command(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().replace(b"\0", b" ").decode()
