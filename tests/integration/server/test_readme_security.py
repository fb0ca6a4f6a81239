"""The README's Security walk-through, run as written: certificates (openssl), key,
server, grpcurl (health, a call, a refusal's ErrorInfo), client."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.server._served import REPO, ServedRepo
from tests.redis_harness import free_port

pytestmark = pytest.mark.integration

GRPCURL = REPO / ".cache" / "go" / "bin" / "grpcurl"


def _block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    found = re.search(
        rf"<!-- {marker}:begin -->\n```\w+\n(.*?)```\n<!-- {marker}:end -->", text, re.S
    )
    assert found, f"README has no {marker} block"
    return found.group(1)


def _commands(script: str) -> list[str]:
    """Shell commands of a block: comments dropped, continuations and quotes joined."""
    commands, pending = [], ""
    for line in script.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line + "\n"
        if line.endswith("\\"):
            continue
        try:
            shlex.split(pending)
        except ValueError:  # an open quote: the command goes on
            continue
        commands.append(pending.replace("\\\n", " ").strip())
        pending = ""
    return commands


def _local(command: str, port: int) -> str:
    """The README's command for this checkout: its venv, a free port, grpcurl."""
    command = command.replace(".venv/bin/python", shlex.quote(sys.executable))
    script = Path(sys.executable).parent / "featurestore"
    command = command.replace(".venv/bin/featurestore", shlex.quote(str(script)))
    command = command.replace(":6566", f":{port}")
    command = command.replace("-import-path proto", f"-import-path {REPO / 'proto'}")
    return re.sub(r"^grpcurl", shlex.quote(str(GRPCURL)), command)


def _make_certificates(directory: Path) -> None:
    """The README's openssl block, run as written in ``directory``."""
    script = "\n".join(_commands(_block("readme-certs")))
    made = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{script}"],
        cwd=directory, capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr


@pytest.mark.skipif(not GRPCURL.exists(), reason="grpcurl not built: run make test")
def test_readme_security_walkthrough(served_repo: ServedRepo, tmp_path: Path) -> None:
    _make_certificates(tmp_path)
    port = free_port()
    make_key, serve, health_call, call = (
        _local(c, port) for c in _commands(_block("readme-security"))
    )
    env = {**os.environ, "FS_DATA_DIR": str(served_repo.data), "PYTHONPATH": str(REPO)}

    key_line = subprocess.run(
        ["bash", "-c", f"{make_key} && echo $KEY"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = key_line.stdout.strip()
    assert key.startswith("fsk_") and key not in (tmp_path / "keys.yaml").read_text()

    server = subprocess.Popen(
        [*shlex.split(serve), "--repo", str(served_repo.repo)], cwd=tmp_path, env=env
    )
    try:
        credentials = grpc.ssl_channel_credentials((tmp_path / "ca.pem").read_bytes())
        with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING

        keyless = subprocess.run(
            ["bash", "-c", health_call], cwd=tmp_path, env=env,
            capture_output=True, text=True,
        )  # fmt: skip
        assert keyless.returncode == 0, keyless.stderr
        assert json.loads(keyless.stdout) == {"status": "SERVING"}

        answer = subprocess.run(
            ["bash", "-c", call], cwd=tmp_path, env={**env, "KEY": key},
            capture_output=True, text=True,
        )  # fmt: skip
        assert answer.returncode == 0, answer.stderr
        columns = {c["name"]: c for c in json.loads(answer.stdout)["columns"]}
        assert columns["spend_24h"]["values"] == [{"doubleValue": 33}]

        no_key = subprocess.run(
            ["bash", "-c", call], cwd=tmp_path, env={**env, "KEY": "fsk_0_wrong"},
            capture_output=True, text=True,
        )  # fmt: skip
        assert "Unauthenticated" in no_key.stderr
        # The refusal's ErrorInfo, decoded (google/rpc/error_details.proto).
        assert '"@type": "type.googleapis.com/google.rpc.ErrorInfo"' in no_key.stderr
        assert '"reason": "UNAUTHENTICATED"' in no_key.stderr, no_key.stderr
        assert "not recognized" not in no_key.stderr

        namespace = {"KEY": key}
        python = _block("readme-security-python").replace(":6566", f":{port}")
        previous = Path.cwd()
        os.chdir(tmp_path)
        try:
            exec(compile(python, "README.md", "exec"), namespace)
        finally:
            os.chdir(previous)
        assert namespace["online"]["spend_24h"].tolist() == [33.0]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0

    audit = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(a["principal"], a["code"]) for a in audit] == [
        ("scorer", "OK"),
        ("anonymous", "UNAUTHENTICATED"),
        ("scorer", "OK"),
    ]
    assert key.split("_", 2)[2] not in (tmp_path / "audit.jsonl").read_text()


def test_readme_key_rotation(tmp_path: Path) -> None:
    # The walkthrough's step 1, then the Rotating block as written, its two
    # example ids standing for the ids of the keys it revokes and rotates.
    from featurestore.services.auth import ApiKeyAuthenticator, AuthenticationError

    make_key = _local(_commands(_block("readme-security"))[0], 0)
    block = _block("readme-key-rotation")
    revoked_id, rotated_id = re.findall(r"\b[0-9a-f]{12}\b", block)
    script = "\n".join(_local(c, 0) for c in _commands(block))
    script = script.replace(revoked_id, '"$(echo "$KEY" | cut -d_ -f2)"')
    script = script.replace(rotated_id, '"$(echo "$NEXT" | cut -d_ -f2)"')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{make_key}\nFIRST=$KEY\n{script}\n"
         'echo "$FIRST $NEXT $KEY"'],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    *listing, last = run.stdout.splitlines()
    first, following, final = last.split()
    assert listing[0].split() == ["ID", "PRINCIPAL", "ROLES", "CREATED"]
    assert listing[1].split()[:3] == [first.split("_")[1], "scorer", "reader"]
    keys = ApiKeyAuthenticator(tmp_path / "keys.yaml")
    principal = keys.authenticate(final)
    assert (principal.name, principal.roles) == ("scorer", {"reader"})
    for gone in (first, following):
        with pytest.raises(AuthenticationError):
            keys.authenticate(gone)
    assert len(yaml.safe_load((tmp_path / "keys.yaml").read_text())["keys"]) == 1
    for key in (first, following, final):
        assert key.split("_", 2)[2] not in run.stderr
