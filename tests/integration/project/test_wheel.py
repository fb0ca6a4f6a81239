"""The issue's "done when": a wheel built from the checkout, installed in a
fresh venv outside it, runs init -> job -> apply -> materialize -> serve ->
online read + training set, with the installed `featurestore` and `feast`."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

CHECKOUT = Path(__file__).resolve().parents[3]
CACHES = CHECKOUT / ".cache"
READS = Path(__file__).with_name("_reads.py")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is needed to build and install the wheel (make venv)")
    return found


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"{' '.join(args)} exited {proc.returncode}\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def _clean_env(venv: Path) -> dict[str, str]:
    # Nothing of the checkout: no PYTHONPATH, no FS_*, but its caches (Ivy's
    # Maven jars and uv's wheels, so the test needs no download when warm).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FS_", "PYTHON", "VIRTUAL_ENV", "PYSPARK"))
    }
    env["PATH"] = os.pathsep.join(
        [str(venv / "bin")]
        + [
            p
            for p in env.get("PATH", "").split(os.pathsep)
            if p and not Path(p).resolve().is_relative_to(CHECKOUT)
        ]
    )
    env["FS_IVY_DIR"] = os.environ.get("FS_IVY_DIR", str(CACHES / "ivy"))
    # uv's cache as the Makefile sets it (see there).
    env["UV_CACHE_DIR"] = os.environ.get("UV_CACHE_DIR", str(CACHES / "uv"))
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["FS_DRIVER_MEMORY"] = "1g"
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _readme_commands(project: Path) -> list[list[str]]:
    """The commands of the README ``featurestore init`` wrote (its indented
    block), comments dropped."""
    text = (project / "README.md").read_text(encoding="utf-8")
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("    ")]


def _wait_serving(address: str, server: subprocess.Popen[bytes]) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(600):
            assert server.poll() is None, f"server exited {server.returncode}"
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    pytest.fail("server never answered SERVING")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv (outside the checkout) with the wheel built from it."""
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(CHECKOUT)
    uv, env = _uv(), _clean_env(root / "venv")
    # sdist first, the wheel from it (in uv's temporary folder): the sdist must
    # carry everything (templates, stubs), and no build/ is left in the checkout.
    _run([uv, "build", "--out-dir", str(root / "dist"), str(CHECKOUT)], root, env)
    (wheel,) = (root / "dist").glob("featurestore-*.whl")
    python = sys._base_executable  # the interpreter, not the checkout's venv
    _run([uv, "venv", "--python", python, str(root / "venv")], root, env)
    _run([uv, "pip", "install", "--python", str(root / "venv" / "bin" / "python"),
          str(wheel)], root, env)  # fmt: skip
    _prune_own_cache(uv, env)
    yield root


def _prune_own_cache(uv: str, env: dict[str, str]) -> None:
    """As the Makefile does: only the checkout's own uv cache, and a prune that
    fails or waits over a minute for another uv leaves it as it is."""
    if Path(env["UV_CACHE_DIR"]).resolve() == (CACHES / "uv").resolve():
        subprocess.run(
            [uv, "cache", "prune", "-q"], env={**env, "UV_LOCK_TIMEOUT": "60"},
            check=False,
        )  # fmt: skip


def test_the_wheel_carries_its_licence(installed: Path) -> None:
    (wheel,) = (installed / "dist").glob("featurestore-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [
            n for n in archive.namelist() if n.endswith(".dist-info/METADATA")
        ]
        headers = archive.read(metadata).decode().partition("\n\n")[0].splitlines()
        licence = archive.read(metadata.replace("METADATA", "licenses/LICENSE"))
    assert "License-Expression: Apache-2.0" in headers
    assert licence == (CHECKOUT / "LICENSE").read_bytes()
    assert b"Apache License" in licence and b"Version 2.0" in licence


def test_init_run_apply_materialize_serve_read(installed: Path) -> None:
    venv = installed / "venv"
    env = _clean_env(venv)
    featurestore = str(venv / "bin" / "featurestore")
    work = installed / "work"
    work.mkdir()
    _run([featurestore, "init", "proj"], work, env)
    proj = work / "proj"
    # The new project's README, run as written (serve below, on a free port).
    *steps, serve = _readme_commands(proj)
    assert serve == ["featurestore", "serve"]
    outputs = [_run([str(venv / "bin" / a[0]), *a[1:]], proj, env) for a in steps]
    assert [a[:2] for a in steps] == [
        ["featurestore", "run"],
        ["featurestore", "contracts"],
        ["feast", "apply"],
        ["featurestore", "materialize"],
    ]
    assert "customer_purchases" in outputs[0]
    assert (proj / "data" / "features" / "customer_purchases" / "_delta_log").is_dir()
    assert outputs[3].startswith("customer_purchases: ")

    # A training set in-process, from an entity file.
    entities = pa.table(
        {
            "customer_id": pa.array([1, 2, 3], pa.int64()),
            "event_timestamp": pa.array(
                [time.time_ns() // 1000] * 3, pa.timestamp("us", tz="UTC")
            ),
        }
    )
    pq.write_table(entities, proj / "entities.parquet")
    _run([featurestore, "training-set", "--entities", "entities.parquet",
          "--feature-service", "example_model_v1", "--out", "ts.parquet"],
         proj, env)  # fmt: skip
    training = pq.read_table(proj / "ts.parquet")
    assert training.num_rows == 3
    assert training["purchase_count_1d"].null_count == 0
    assert (proj / "ts.parquet.manifest.json").is_file()

    # The server from the wheel: an online read and a training set over gRPC.
    address = f"127.0.0.1:{_free_port()}"
    server = subprocess.Popen(
        [featurestore, *serve[1:], "--address", address], cwd=proj, env=env
    )
    try:
        _wait_serving(address, server)
        reads = json.loads(
            _run([str(venv / "bin" / "python"), str(READS), address], proj, env)
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert Path(reads["module"]).resolve().is_relative_to(venv.resolve())
    assert reads["online"]["customer_id"] == [1, 2, 3]
    assert all(v is not None for v in reads["online"]["purchase_count_1d"])
    assert reads["historical_rows"] == 3
    assert reads["historical_nulls"] == 0
    assert server.returncode == 0
