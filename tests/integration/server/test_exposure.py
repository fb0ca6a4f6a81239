"""Secure by default: non-loopback binds need TLS and auth, or --allow-insecure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from featurestore.services.server.app import create_server
from featurestore.services.server.settings import ServerSettings
from featurestore.services.server.transport import (
    ConfigError,
    check_exposure,
    is_loopback,
)
from tests.certs import issue_server_cert, make_ca
from tests.integration.server._served import REPO, ServedRepo

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:6566", True),
        ("127.3.2.1:0", True),
        ("[::1]:6566", True),
        ("localhost:6566", True),
        ("LOCALHOST:1", True),
        ("unix:/tmp/fs.sock", True),
        ("0.0.0.0:6566", False),
        ("[::]:6566", False),
        ("10.0.0.7:6566", False),
        ("[fe80::1]:6566", False),
        ("fs.example.com:6566", False),
        (":6566", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


@pytest.mark.parametrize("address", ["0.0.0.0:0", "[::]:0"])
def test_create_server_refuses_a_public_address_without_tls(
    tmp_path: Path, address: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        create_server(ServerSettings(repo_path=tmp_path), address)
    assert refused.value.reason == "INSECURE_BIND"
    assert "--allow-insecure" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_public_address_needs_both_tls_and_auth(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    server = issue_server_cert(ca, tmp_path / "server")
    tls = {"tls_cert": server.cert, "tls_key": server.key}
    for settings in (
        ServerSettings(repo_path=tmp_path, **tls),
        ServerSettings(repo_path=tmp_path, auth="api_keys"),
    ):
        with pytest.raises(ConfigError) as refused:
            check_exposure(settings, "0.0.0.0:6566")
        assert refused.value.reason == "INSECURE_BIND"
        with pytest.raises(ConfigError):
            create_server(settings, "0.0.0.0:0")
    check_exposure(ServerSettings(auth="oidc", **tls), "0.0.0.0:6566")
    check_exposure(ServerSettings(allow_insecure=True, **tls), "0.0.0.0:6566")
    check_exposure(ServerSettings(auth="api_keys"), "127.0.0.1:6566")


def test_allow_insecure_serves_a_public_address(served_repo: ServedRepo) -> None:
    settings = ServerSettings(
        repo_path=served_repo.repo,
        contracts_dir=REPO / "feature_repo" / "contracts",
        allow_insecure=True,
    )
    running = create_server(settings, "0.0.0.0:0")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=20
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        running.stop(0)


def test_main_exits_2_with_one_line_naming_allow_insecure(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FS_")}
    for argv, env_extra in (
        (["--address", "0.0.0.0:6566"], {}),
        ([], {"FS_ADDRESS": "[::]:6566"}),
        # The flag wins over the environment.
        (["--address", "0.0.0.0:6566"], {"FS_ADDRESS": "127.0.0.1:6566"}),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "featurestore.services.server", *argv],
            cwd=REPO,
            env={**env, **env_extra, "FS_REPO_PATH": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert "--allow-insecure" in lines[0]


def test_unusable_start_up_settings_exit_2_with_one_line(tmp_path: Path) -> None:
    # No project, a port out of range, a port taken: one line, exit 2.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FS_")}
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    featurestore = str(Path(sys.executable).parent / "featurestore")
    repo, unapplied = tmp_path / "project", tmp_path / "unapplied"
    for folder in (repo, unapplied):
        subprocess.run(
            [featurestore, "init", str(folder)], check=True, capture_output=True
        )
    feast = str(Path(sys.executable).parent / "feast")
    subprocess.run([feast, "apply"], cwd=repo, check=True, capture_output=True)
    cases = [
        (["serve"], tmp_path, "no feature_store.yaml at"),
        (["ui"], tmp_path, "no feature_store.yaml at"),
        # Feast would create an empty registry and serve an empty catalogue.
        (["serve"], unapplied, "REGISTRY_NOT_FOUND"),
        (["ui"], unapplied, "REGISTRY_NOT_FOUND"),
        (["serve", "--repo", str(tmp_path / "missing")], REPO, "pass --repo DIR"),
        (["serve", "--address", "127.0.0.1:99999"], repo, "port in 0..65535"),
        (["serve", "--address", f"127.0.0.1:{port}"], repo, "cannot listen on"),
        # The console: the same refusals, never a traceback or uvicorn's exit 3.
        (["ui", "--address", f"127.0.0.1:{port}"], repo, "cannot listen on"),
        (["serve", "--ui-address", f"127.0.0.1:{port}"], repo, "cannot listen on"),
        (["ui", "--address", "nonsense"], repo, "is not host:port"),
        (
            [
                "ui",
                "--tls-cert",
                str(tmp_path / "no.pem"),
                "--tls-key",
                str(tmp_path / "no.key"),
            ],
            repo,
            "no.pem",
        ),
    ]
    try:
        for argv, cwd, expected in cases:
            proc = subprocess.run(
                [featurestore, *argv],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 2, (argv, proc.stderr)
            ours = [line for line in proc.stderr.splitlines() if "featurestore" in line]
            assert len(ours) == 1 and expected in ours[0], (argv, proc.stderr)
            assert "Traceback" not in proc.stderr, argv
        assert not (unapplied / "data" / "feast").exists()
    finally:
        taken.close()
