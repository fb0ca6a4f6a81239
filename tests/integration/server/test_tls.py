"""TLS and mTLS on the Python server, certificate rotation, client credentials."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from featurestore.services.client import FeatureStoreClient
from featurestore.services.server.__main__ import main
from featurestore.services.server.app import RunningServer, create_server
from featurestore.services.server.settings import ServerSettings
from featurestore.services.server.transport import ConfigError
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from featurestore.v1 import feature_view_pb2
from tests.certs import (
    CertificateFiles,
    issue_client_cert,
    issue_server_cert,
    make_ca,
)
from tests.integration.server._served import REPO, ServedRepo

pytestmark = pytest.mark.integration

VIEWS = ["customer_spend", "merchant_risk"]


@contextmanager
def _serving(served_repo: ServedRepo, **settings: Any) -> Iterator[RunningServer]:
    running = create_server(
        ServerSettings(
            repo_path=served_repo.repo,
            contracts_dir=REPO / "feature_repo" / "contracts",
            **settings,
        ),
        "127.0.0.1:0",
    )
    try:
        yield running
    finally:
        running.stop(0)


def _views(port: int, **client: Any) -> list[str]:
    with FeatureStoreClient(f"127.0.0.1:{port}", timeout=20, **client) as fs:
        return fs.list_feature_views()


def _refused(port: int, **client: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as refused:
        _views(port, **client)
    return refused.value.code()


def _replace(target: CertificateFiles, source: CertificateFiles) -> None:
    """Overwrite ``target``'s files in place with ``source``'s contents."""
    target.key.write_bytes(source.key.read_bytes())
    target.cert.write_bytes(source.cert.read_bytes())


def test_tls_serves_clients_that_trust_its_ca_only(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    ca, other_ca = make_ca(tmp_path / "ca"), make_ca(tmp_path / "other")
    server = issue_server_cert(ca, tmp_path / "server")
    with _serving(served_repo, tls_cert=server.cert, tls_key=server.key) as running:
        assert _views(running.port, ca_cert=ca.cert) == VIEWS
        assert _views(running.port, ca_cert=ca.cert.read_bytes()) == VIEWS
        assert _refused(running.port, ca_cert=other_ca.cert) == (
            grpc.StatusCode.UNAVAILABLE
        )
        with (
            grpc.insecure_channel(f"127.0.0.1:{running.port}") as plaintext,
            pytest.raises(grpc.RpcError) as refused,
        ):
            health_pb2_grpc.HealthStub(plaintext).Check(
                health_pb2.HealthCheckRequest(), timeout=20
            )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_requires_a_client_certificate_from_the_client_ca(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    """Also: a certificate for another name is accepted only with server_name."""
    ca, other_ca = make_ca(tmp_path / "ca"), make_ca(tmp_path / "other")
    server = issue_server_cert(ca, tmp_path / "server", hosts=("fs.internal",))
    client = issue_client_cert(ca, tmp_path / "client", "trainer")
    stranger = issue_client_cert(other_ca, tmp_path / "stranger", "stranger")
    tls = {"ca_cert": ca.cert, "server_name": "fs.internal"}
    with _serving(
        served_repo, tls_cert=server.cert, tls_key=server.key, tls_client_ca=ca.cert
    ) as running:
        mine = {"client_cert": client.cert, "client_key": client.key}
        assert _views(running.port, **tls, **mine) == VIEWS
        unavailable = grpc.StatusCode.UNAVAILABLE
        assert _refused(running.port, **tls) == unavailable
        theirs = {"client_cert": stranger.cert, "client_key": stranger.key}
        assert _refused(running.port, **tls, **theirs) == unavailable
        assert _refused(running.port, ca_cert=ca.cert, **mine) == unavailable


def test_rotated_certificates_serve_new_connections_without_a_restart(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    """Files replaced by a new CA's pair are picked up on the next handshake;
    a broken file keeps the last good pair serving; a forced re-read (SIGHUP)
    reports it."""
    old_ca, new_ca = make_ca(tmp_path / "old"), make_ca(tmp_path / "new")
    served = issue_server_cert(old_ca, tmp_path / "served")
    with _serving(served_repo, tls_cert=served.cert, tls_key=served.key) as running:
        assert _views(running.port, ca_cert=old_ca.cert) == VIEWS
        _replace(served, issue_server_cert(new_ca, tmp_path / "rotated"))
        assert _views(running.port, ca_cert=new_ca.cert) == VIEWS
        assert _refused(running.port, ca_cert=old_ca.cert) == (
            grpc.StatusCode.UNAVAILABLE
        )
        served.cert.write_text("not a certificate\n")
        assert _views(running.port, ca_cert=new_ca.cert) == VIEWS
        assert running.reload_certificates() is False
        last_ca = make_ca(tmp_path / "last")
        _replace(served, issue_server_cert(last_ca, tmp_path / "last-served"))
        assert running.reload_certificates() is True
        assert _views(running.port, ca_cert=last_ca.cert) == VIEWS


@pytest.mark.parametrize(
    ("validity", "said"),
    [
        ({"valid_until": timedelta(days=-2)}, "expired at"),
        ({"valid_from": timedelta(days=1), "valid_until": timedelta(days=3)},
         "not valid before"),
    ],
    ids=["expired", "not-yet-valid"],
)  # fmt: skip
def test_a_rotation_to_a_certificate_out_of_its_validity_keeps_the_current_one(
    served_repo: ServedRepo,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    validity: dict[str, timedelta],
    said: str,
) -> None:
    # An expired certificate replaced a valid one with only a warning
    # ("clients will refuse it"): every new connection failed from then on.
    ca = make_ca(tmp_path / "ca")
    served = issue_server_cert(ca, tmp_path / "served")
    with _serving(served_repo, tls_cert=served.cert, tls_key=served.key) as running:
        assert _views(running.port, ca_cert=ca.cert) == VIEWS
        _replace(served, issue_server_cert(ca, tmp_path / "bad", **validity))
        assert _views(running.port, ca_cert=ca.cert) == VIEWS  # the current one
        assert running.reload_certificates() is False  # SIGHUP: refused too
        assert _views(running.port, ca_cert=ca.cert) == VIEWS
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(said in e and "keeping the current" in e for e in errors), errors


def test_bad_tls_files_stop_the_start_with_exit_2_naming_only_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = make_ca(tmp_path / "ca")
    server = issue_server_cert(ca, tmp_path / "server")
    other = issue_server_cert(ca, tmp_path / "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    cases = {
        "not PEM": ["--tls-cert", str(garbage), "--tls-key", str(server.key)],
        "wrong key": ["--tls-cert", str(server.cert), "--tls-key", str(other.key)],
        "missing": ["--tls-cert", str(tmp_path / "absent.pem"), "--tls-key", "x"],
        "no key": ["--tls-cert", str(server.cert)],
    }
    for name, flags in cases.items():
        argv = ["--address", "127.0.0.1:0", "--repo", str(tmp_path), *flags]
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, (name, err)
        for key in (server.key, other.key):
            assert "PRIVATE KEY" not in err
            assert key.read_text().splitlines()[1] not in err
    settings = ServerSettings(
        repo_path=tmp_path, tls_cert=server.cert, tls_key=other.key
    )
    with pytest.raises(ConfigError) as mismatch:
        create_server(settings, "127.0.0.1:0")
    assert mismatch.value.reason == "TLS_FILES"
    with pytest.raises(ConfigError) as half:
        create_server(ServerSettings(tls_client_ca=ca.cert), "127.0.0.1:0")
    assert half.value.reason == "TLS_SETTINGS"


def test_sighup_rereads_certificates_and_keeps_serving(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    old_ca, new_ca = make_ca(tmp_path / "old"), make_ca(tmp_path / "new")
    served = issue_server_cert(old_ca, tmp_path / "served")
    log = tmp_path / "server.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "featurestore.services.server",
             "--address", "127.0.0.1:0",
             "--tls-cert", str(served.cert), "--tls-key", str(served.key)],
            cwd=REPO,
            env={
                **os.environ,
                "FS_REPO_PATH": str(served_repo.repo),
                "FS_DATA_DIR": str(served_repo.data),
            },
            stderr=stderr,
        )  # fmt: skip
    try:
        port = _logged_port(proc, log)
        assert _views(port, ca_cert=old_ca.cert) == VIEWS
        _replace(served, issue_server_cert(new_ca, tmp_path / "rotated"))
        proc.send_signal(signal.SIGHUP)
        assert _views(port, ca_cert=new_ca.cert) == VIEWS
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert "TLS certificate re-read" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _logged_port(proc: subprocess.Popen[bytes], log: Path) -> int:
    """The port the server logs once it serves ("serving on ... (port N)")."""
    while proc.poll() is None:
        for line in log.read_text().splitlines():
            if "serving on" in line:
                return int(line.split("(port ")[1].split(")")[0])
        time.sleep(0.2)
    raise AssertionError(f"server exited {proc.returncode}: {log.read_text()}")


class _Recorder(pb_grpc.FeatureStoreServiceServicer):
    """Answers ListFeatureViews with one view and keeps each call's metadata."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    def ListFeatureViews(
        self, request: pb.ListFeatureViewsRequest, context: grpc.ServicerContext
    ) -> pb.ListFeatureViewsResponse:
        self.metadata.append(dict(context.invocation_metadata()))
        return pb.ListFeatureViewsResponse(
            feature_views=[feature_view_pb2.FeatureView(name="seen")]
        )


@contextmanager
def _recording(credentials: grpc.ServerCredentials | None) -> Iterator[Any]:
    recorder = _Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_FeatureStoreServiceServicer_to_server(recorder, server)
    port = (
        server.add_insecure_port("127.0.0.1:0")
        if credentials is None
        else server.add_secure_port("127.0.0.1:0", credentials)
    )
    server.start()
    try:
        yield port, recorder
    finally:
        server.stop(0)


def test_client_sends_its_key_or_token_as_bearer_metadata(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    server = issue_server_cert(ca, tmp_path / "server")
    tls = grpc.ssl_server_credentials(
        [(server.key.read_bytes(), server.cert.read_bytes())]
    )
    tokens = iter(["first", "second"])
    with _recording(tls) as (port, recorder):
        client = FeatureStoreClient(
            f"127.0.0.1:{port}", ca_cert=ca.cert, token=lambda: next(tokens)
        )
        with client:
            assert client.list_feature_views() == ["seen"]
            assert client.list_feature_views() == ["seen"]
            assert "first" not in repr(client)
        assert [m["authorization"] for m in recorder.metadata] == [
            "Bearer first",
            "Bearer second",
        ]
    with _recording(None) as (port, recorder):
        secret = "fs_k_0123456789"
        with FeatureStoreClient(f"127.0.0.1:{port}", api_key=secret) as client:
            assert client.list_feature_views() == ["seen"]
            assert secret not in repr(client)
        # A key read from a file keeps its final newline: sent without it.
        with FeatureStoreClient(f"127.0.0.1:{port}", api_key=secret + "\n") as client:
            assert client.list_feature_views() == ["seen"]
        with FeatureStoreClient(f"127.0.0.1:{port}") as anonymous:
            assert anonymous.list_feature_views() == ["seen"]
        assert [m.get("authorization") for m in recorder.metadata] == [
            f"Bearer {secret}",
            f"Bearer {secret}",
            None,
        ]
    with pytest.raises(ValueError, match="plaintext"):
        FeatureStoreClient("10.1.2.3:6566", api_key=secret)
    for bad in ("", "two words", "caf\u00e9"):
        with pytest.raises(ValueError, match="printable ASCII") as caught:
            FeatureStoreClient("127.0.0.1:6566", api_key=bad)
        assert not bad or bad not in str(caught.value)
