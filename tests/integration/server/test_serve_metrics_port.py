"""`featurestore serve --metrics-port` refuses a port it cannot serve, exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.server._served import ServedRepo
from tests.processes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURESTORE = str(Path(sys.executable).parent / "featurestore")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _serve(
    served_repo: ServedRepo, *flags: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEATURESTORE, "serve", "--address", f"127.0.0.1:{free_port()}",
         "--repo", str(served_repo.repo), "--data-dir", str(served_repo.data),
         *flags],
        env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        (["--metrics-port", "99999"], {}),
        (["--metrics-port", "-5"], {}),
        (["--metrics-port", "0"], {}),
        ([], {"FS_METRICS_PORT": "-1"}),
        (["--metrics-port", "65535", "--workers", "2"], {}),
    ],
)
def test_a_metrics_port_out_of_range_is_one_line_exit_2(
    served_repo: ServedRepo, flags: list[str], env: dict[str, str]
) -> None:
    # It was an OverflowError or socket.gaierror traceback, exit 1.
    proc = _serve(served_repo, *flags, env=env)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith("featurestore serve: ") and "FS_METRICS_PORT" in line


def test_a_busy_metrics_port_is_one_line_exit_2(
    served_repo: ServedRepo, busy_port: int
) -> None:
    # It was an OSError traceback (Address already in use), exit 1.
    proc = _serve(served_repo, "--metrics-port", str(busy_port))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if f":{busy_port}" in x]
    assert line.startswith("featurestore serve: cannot serve metrics on ")


@pytest.mark.parametrize("front", [[], ["--front"]])
def test_a_worker_whose_metrics_port_is_busy_stops_the_group_with_2(
    served_repo: ServedRepo, busy_port: int, front: list[str]
) -> None:
    # Worker 1 takes busy_port: its one line, then the group exits 2, not 1
    # (with --front the front is not started).
    if front and not Path(os.environ.get("FS_FRONT_BINARY", "")).exists():
        pytest.skip("no fs-front (make front)")
    proc = _serve(
        served_repo, "--workers", "2", "--metrics-port", str(busy_port - 1), *front
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"cannot serve metrics on 127.0.0.1:{busy_port}" in proc.stderr
