"""The serve supervisor (--workers, --front): stop signals at any time."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.server._served import ServedRepo
from tests.integration.server.test_server_ops import (
    _children,
    _command,
    _start_front_group,
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
