"""The serve supervisor (--workers, --front): signals, its death, start-up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from tests.integration.server._served import REPO, ServedRepo
from tests.integration.server.test_cli import _copy_of
from tests.integration.server.test_server_ops import (
    _children,
    _command,
    _start_front_group,
    _wait_health,
    _wait_serving,
    _zombie,
)
from tests.processes import free_port

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    """Process ``pid`` has exited (no longer listed, or a zombie)."""
    try:
        return _zombie(pid)
    except FileNotFoundError:
        return True


def _wait_workers(group: subprocess.Popen[bytes], count: int) -> list[int]:
    """The group's first ``count`` children, once it has started them."""
    deadline = time.monotonic() + 60
    while len(children := _children(group.pid)) < count:
        assert group.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return children


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_during_front_start_up_stops_the_whole_group(
    served_repo: ServedRepo, stop: signal.Signals
) -> None:
    # The supervisor blocked the stop signals on its main thread only: the
    # kernel handed one to a thread started at import, whose default action
    # ended the process (143) and left both workers running with parent 1.
    group = _start_front_group(served_repo, f"127.0.0.1:{free_port()}")
    workers: list[int] = []
    try:
        workers = _wait_workers(group, 2)
        sockets = Path(_command(workers[0]).split("unix:")[1].split()[0]).parent
        time.sleep(1)  # the workers still loading: no fs-front yet
        assert not [p for p in _children(group.pid) if "fs-front" in _command(p)]
        group.send_signal(stop)
        assert group.wait(timeout=120) == 0
        assert all(_gone(pid) for pid in workers)
        assert not sockets.exists()
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()
        _kill_left(workers)


def _kill_left(pids: list[int]) -> None:
    """SIGKILL those of ``pids`` still running (a failed test's orphans)."""
    for pid in pids:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("front", [True, False], ids=["front", "workers"])
def test_the_group_dies_with_its_supervisor(
    served_repo: ServedRepo, front: bool
) -> None:
    # A supervisor killed outright (kill -9, the OOM killer) left fs-front and
    # the workers serving the port for good, on the settings they started with.
    port = free_port()
    address = f"127.0.0.1:{port}"
    start = _start_front_group if front else _start_worker_group
    group = start(served_repo, address, FS_GRACE_SECONDS="1")
    children: list[int] = []
    try:
        assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        children = _children(group.pid)
        assert len(children) == (3 if front else 2)
        group.kill()
        group.wait()
        deadline = time.monotonic() + 30
        while not all(_gone(pid) for pid in children):
            assert time.monotonic() < deadline, "a child outlived its supervisor"
            time.sleep(0.2)
        with socket.socket() as probe:  # nothing listens on the port any more
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()
        _kill_left(children)


def _start_worker_group(
    served_repo: ServedRepo, address: str, **env: str
) -> subprocess.Popen[bytes]:
    """``--workers 2`` (no front) on ``address``, FS_* settings from ``env``."""
    return subprocess.Popen(
        [sys.executable, "-m", "featurestore.services.server",
         "--workers", "2", "--address", address],
        cwd=REPO,
        env={
            **os.environ,
            "FS_REPO_PATH": str(served_repo.repo),
            "FS_DATA_DIR": str(served_repo.data),
            **env,
        },
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("front", [True, False], ids=["front", "workers"])
def test_a_taken_port_is_refused_before_any_worker_starts(
    served_repo: ServedRepo, front: bool
) -> None:
    # With --front the refusal came from fs-front, after every worker had
    # loaded: exit 1; without it, from each worker once loaded: one line each.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "featurestore"), "serve",
             *(["--front"] if front else []), "--workers", "2",
             "--address", address],
            cwd=REPO,
            env={**os.environ, "FS_REPO_PATH": str(served_repo.repo),
                 "FS_DATA_DIR": str(served_repo.data)},
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"featurestore serve: cannot listen on {address}: ")


def test_serve_drains_and_exits_0_on_sigint_as_the_readme_says(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    # The README's exit codes said 130 for SIGINT, for every command.
    text = (REPO / "README.md").read_text()
    codes = " ".join(text[text.index("Exit codes:") :].split("\n\n")[0].split())
    assert "`serve` is the exception" in codes and "exits **0**" in codes
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "featurestore"), "serve",
             "--address", address],
            cwd=REPO,
            env={**os.environ, "FS_REPO_PATH": str(served_repo.repo),
                 "FS_DATA_DIR": str(served_repo.data)},
            stderr=stderr,
        )  # fmt: skip
    try:
        assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "signal 2: draining" in log.read_text()


def test_the_front_starts_with_the_online_store_down_and_says_not_serving(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    # A comment and the README said the front started once every worker
    # could take reads; it starts once every worker is up, whatever its
    # online store does, and reports NOT_SERVING until the store answers.
    text = " ".join((REPO / "README.md").read_text().split())
    assert "The front starts once every server process is up" in text
    repo, env = _copy_of(served_repo, tmp_path, FS_REDIS=f"127.0.0.1:{free_port()}")
    data = repo.parent / "data"  # as `feast -f feature_store.redis.yaml apply`
    shutil.copy(data / "registry.db", data / "registry.redis.db")
    address = f"127.0.0.1:{free_port()}"
    group = subprocess.Popen(
        [sys.executable, "-m", "featurestore.services.server",
         "--front", "--workers", "2", "--address", address, "--repo", str(repo),
         "--feature-store-yaml", str(repo / "feature_store.redis.yaml")],
        cwd=REPO, env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with grpc.insecure_channel(address) as channel:
            _wait_health(channel, health_pb2.HealthCheckResponse.NOT_SERVING, 120)
        commands = [_command(pid) for pid in _children(group.pid)]
        assert sum("fs-front" in c for c in commands) == 1 and len(commands) == 3
        group.send_signal(signal.SIGTERM)
        assert group.wait(timeout=60) == 0
    finally:
        if group.poll() is None:
            group.kill()
            group.wait()
