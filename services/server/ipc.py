"""Online reads over a Unix socket, for the compiled gRPC front (services/front).

grpc-python spends ~0.45 ms of CPU on every call before our handler runs; on
two cores that, not the read, sets the p99 of a one-entity request. The front
(Go) terminates gRPC and hands each online read to a server process over a
Unix socket; this module answers there with the same handlers, errors and
metrics as the gRPC servicers.

Frames, both ways: a 4-byte big-endian length, then that many bytes.
Request: one method byte (``METHODS``), a 2-byte big-endian length M, M bytes
of the caller's metadata, then the serialised request message. The metadata
is repeated [2-byte key length, key, 2-byte value length, value], ASCII,
lowercase keys; the front forwards every entry but ``grpc-*``, ``:*`` and
``*-bin`` keys, at most ``MAX_METADATA_BYTES`` (RESOURCE_EXHAUSTED beyond, on
both sides). Handlers get it as ``Metadata``, pairs in frame order (fs-front
sends keys sorted, the values of one key in arrival order).
Reply: one byte, 0 then the serialised response, or a gRPC status code then a
serialised ``google.rpc.Status`` (code, message, details) for the front to
send as the call's status.

Method byte ``REFUSED_METADATA`` is no method: the front's report of a call
(any method) it refused for metadata over ``MAX_METADATA_BYTES``; its body is
``<size> <full method>`` and its metadata the caller's ``authorization`` and
``x-request-id`` only. The handler audits and refuses it (``refused_metadata``),
so the Python processes stay the only audit writer; the socket is the front's
(a private folder), so the report is trusted.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from google.rpc import status_pb2

from featurestore.services.server.errors import RequestTooLargeError
from featurestore.services.server.interceptors import RPC_LATENCY, failure_status

# Method byte -> gRPC method it stands for (the front maps paths to bytes).
METHODS = {
    1: "/featurestore.v1.FeatureStoreService/GetOnlineFeatures",
    2: "/feast.serving.ServingService/GetOnlineFeatures",
}
_NAMES = {number: method.rsplit("/", 1)[-1] for number, method in METHODS.items()}
_LATENCY = {number: RPC_LATENCY.labels(name) for number, name in _NAMES.items()}
MAX_METADATA_BYTES = 8 * 1024
"""grpc-python's default limit on a call's metadata, so the socket accepts no
more than the gRPC port does."""
Metadata = tuple[tuple[str, str], ...]
"""The caller's metadata: (lowercase key, value) pairs in arrival order."""
Handler = Callable[[bytes, Metadata], bytes]
_OK = b"\x00"
REFUSED_METADATA = 255
"""The method byte of the front's refusal report (see the module docstring)."""


class _MalformedFrameError(Exception):
    """A frame the front would never send: answered INTERNAL."""


class OnlineSocketServer:
    """Serves ``handlers`` (method byte -> request bytes, metadata -> response bytes).

    One thread per connection, answering its frames in order (the front
    keeps one open per process and pipelines a few reads on it); the socket
    file is replaced if it exists and removed on ``close``.
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
        known = number in METHODS or number == REFUSED_METADATA
        if not known or handler is None:
            return _frame(bytes((grpc.StatusCode.UNIMPLEMENTED.value[0],)))
        name = _NAMES.get(number, "RefusedMetadata")
        started = time.perf_counter()
        try:
            metadata, body = split_request(frame)
            return _frame(_OK + handler(body, metadata))
        except _MalformedFrameError as exc:
            code = grpc.StatusCode.INTERNAL.value[0]
            status = status_pb2.Status(code=code, message=str(exc))
            return _frame(bytes((code,)) + status.SerializeToString())
        except Exception as exc:
            code, status = failure_status(name, exc)
            return _frame(bytes((code.value[0],)) + status.SerializeToString())
        finally:
            if number in _LATENCY:
                _LATENCY[number].observe(time.perf_counter() - started)


def refused_metadata(body: bytes) -> tuple[str, RequestTooLargeError]:
    """The method of a refusal report's body and the error to refuse it with:
    RESOURCE_EXHAUSTED, worded as the front words it.

    Raises:
        _MalformedFrameError: the body is not ``<size> <full method>``.
    """
    size, _, method = body.decode("ascii", "replace").partition(" ")
    if not size.isdigit() or not method.startswith("/"):
        raise _MalformedFrameError("malformed refusal: not '<size> <method>'")
    return method, RequestTooLargeError(
        f"request metadata of {size} bytes is over {MAX_METADATA_BYTES} bytes",
        limit="MAX_METADATA_BYTES",
    )


def split_request(frame: bytes) -> tuple[Metadata, bytes]:
    """The metadata and request message of a request frame (after the method byte).

    Raises:
        RequestTooLargeError: The metadata block is over ``MAX_METADATA_BYTES``.
    """
    size = int.from_bytes(frame[1:3], "big")
    if size > MAX_METADATA_BYTES:
        raise RequestTooLargeError(
            f"request metadata of {size} bytes is over {MAX_METADATA_BYTES}",
            limit="MAX_METADATA_BYTES",
        )
    end = 3 + size
    if len(frame) < end:
        raise _MalformedFrameError("frame shorter than its metadata")
    pairs, at = [], 3
    try:
        # Inline rather than a function per field: it runs for every entry
        # of every online read's metadata.
        while at < end:
            key_end = at + 2 + int.from_bytes(frame[at : at + 2], "big")
            value_end = (
                key_end + 2 + int.from_bytes(frame[key_end : key_end + 2], "big")
            )
            if value_end > end:  # key_end > end makes value_end > end too
                raise _MalformedFrameError(
                    "malformed metadata: a field runs past the block"
                )
            pairs.append(
                (
                    frame[at + 2 : key_end].decode("ascii").lower(),
                    frame[key_end + 2 : value_end].decode("ascii"),
                )
            )
            at = value_end
    except UnicodeDecodeError as exc:
        raise _MalformedFrameError(f"malformed metadata: {exc}") from None
    return tuple(pairs), frame[end:]


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
