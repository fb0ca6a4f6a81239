"""Online reads over a Unix socket, for the compiled gRPC front (services/front).

grpc-python spends ~0.45 ms of CPU on every call before our handler runs; on
two cores that, not the read, sets the p99 of a one-entity request. The front
(Go) terminates gRPC and hands each online read to a server process over a
Unix socket; this module answers there with the same handlers, errors and
metrics as the gRPC servicers.

Frames, both ways: a 4-byte big-endian length, then that many bytes.
Request: one method byte (``METHODS``) + the serialised request message.
Reply: one byte, 0 then the serialised response, or a gRPC status code then a
serialised ``google.rpc.Status`` (code, message, details) for the front to
send as the call's status.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from services.server.interceptors import RPC_LATENCY, failure_status

# Method byte -> gRPC method it stands for (the front maps paths to bytes).
METHODS = {
    1: "/featurestore.v1.FeatureStoreService/GetOnlineFeatures",
    2: "/feast.serving.ServingService/GetOnlineFeatures",
}
Handler = Callable[[bytes], bytes]
_OK = b"\x00"


class OnlineSocketServer:
    """Serves ``handlers`` (method byte -> request bytes -> response bytes).

    One thread per connection (the front keeps a few open per process); the
    socket file is replaced if it exists and removed on ``close``.
    """

    def __init__(self, path: str | Path, handlers: dict[int, Handler]) -> None:
        self.path = str(path)
        self._handlers = handlers
        if os.path.exists(self.path):
            os.remove(self.path)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(64)
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._accept, name="online-socket", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting; open connections end when the front closes them."""
        self._closed.set()
        self._listener.close()
        if os.path.exists(self.path):
            os.remove(self.path)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(conn,), name="online-conn", daemon=True
            ).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while (frame := _read_frame(conn)) is not None:
                    conn.sendall(self.answer(frame))
            except OSError:  # the front went away mid-call; it redials
                return

    def answer(self, frame: bytes) -> bytes:
        """The reply frame for one request frame (see the module docstring)."""
        number = frame[0] if frame else 0
        handler = self._handlers.get(number)
        if number not in METHODS or handler is None:
            return _frame(bytes((grpc.StatusCode.UNIMPLEMENTED.value[0],)))
        name = METHODS[number].rsplit("/", 1)[-1]
        started = time.perf_counter()
        try:
            return _frame(_OK + handler(frame[1:]))
        except Exception as exc:
            code, status = failure_status(name, exc)
            return _frame(bytes((code.value[0],)) + status.SerializeToString())
        finally:
            RPC_LATENCY.labels(name).observe(time.perf_counter() - started)


def _frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def _read_frame(conn: socket.socket) -> bytes | None:
    """One length-prefixed frame, or None once the peer has closed."""
    head = conn.recv(4, socket.MSG_WAITALL)
    if len(head) < 4:
        return None
    size = int.from_bytes(head, "big")
    body = conn.recv(size, socket.MSG_WAITALL) if size else b""
    return body if len(body) == size else None
