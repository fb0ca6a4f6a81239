"""The Unix-socket protocol between fs-front and the server processes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from featurestore.services.server.errors import RequestError
from featurestore.services.server.ipc import (
    MAX_METADATA_BYTES,
    Metadata,
    OnlineSocketServer,
)


def _reject(body: bytes, metadata: Metadata) -> bytes:
    raise RequestError("entities", "no entity rows", reason="NO_ENTITY_ROWS")


def _metadata_back(body: bytes, metadata: Metadata) -> bytes:
    return repr(metadata).encode() + b"|" + body


@pytest.fixture
def server(tmp_path: Path) -> Iterator[OnlineSocketServer]:
    running = OnlineSocketServer(
        tmp_path / "online.sock",
        {1: lambda body, metadata: body[::-1], 2: _reject},
    )
    yield running
    running.close()


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[OnlineSocketServer]:
    """Method 1 answers with the metadata it was given, then the body."""
    running = OnlineSocketServer(tmp_path / "echo.sock", {1: _metadata_back})
    yield running
    running.close()


def _exchange(path: str, frame: bytes, chunk: int = 1 << 20) -> bytes:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(path)
        for start in range(0, len(frame), chunk):
            conn.sendall(frame[start : start + chunk])
        head = conn.recv(4, socket.MSG_WAITALL)
        return conn.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL)


def _frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def _request(method: int, body: bytes, metadata: Metadata = ()) -> bytes:
    """A request frame as the front builds it (see the ipc module docstring)."""
    block = b"".join(
        len(k).to_bytes(2, "big") + k.encode() + len(v).to_bytes(2, "big") + v.encode()
        for k, v in metadata
    )
    return _frame(bytes([method]) + len(block).to_bytes(2, "big") + block + body)


def test_a_reply_is_ok_then_the_handlers_bytes(server: OnlineSocketServer) -> None:
    # Sent a byte at a time: frames are read whole however they arrive.
    reply = _exchange(server.path, _request(1, b"request"), chunk=1)
    assert reply == b"\x00tseuqer"


def test_an_error_is_its_code_then_the_status_with_details(
    server: OnlineSocketServer,
) -> None:
    reply = _exchange(server.path, _request(2, b"anything"))
    assert reply[0] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    status = status_pb2.Status.FromString(reply[1:])
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "no entity rows" in status.message
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details)
    assert info.reason == "NO_ENTITY_ROWS"


def test_an_unknown_method_is_unimplemented(server: OnlineSocketServer) -> None:
    assert _exchange(server.path, _request(9, b"x")) == bytes(
        (grpc.StatusCode.UNIMPLEMENTED.value[0],)
    )


def test_one_connection_carries_many_calls(server: OnlineSocketServer) -> None:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(server.path)
        for n in range(50):
            conn.sendall(_request(1, bytes([n]) * n))
            head = conn.recv(4, socket.MSG_WAITALL)
            assert conn.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL) == (
                b"\x00" + bytes([n]) * n
            )


def test_the_callers_metadata_reaches_the_handler_intact(
    echo: OnlineSocketServer,
) -> None:
    metadata = (
        ("authorization", "Bearer abc.def-ghi"),
        ("x-request-id", "r-1"),
        ("x-request-id", "r-2"),  # repeated keys keep their order
        ("empty", ""),
    )
    reply = _exchange(echo.path, _request(1, b"body", metadata))
    assert reply == b"\x00" + repr(metadata).encode() + b"|body"
    # No metadata at all: an empty tuple, the body intact.
    assert _exchange(echo.path, _request(1, b"body")) == b"\x00()|body"


def test_metadata_over_the_limit_is_resource_exhausted(
    echo: OnlineSocketServer,
) -> None:
    at_limit = (("x-pad", "a" * (MAX_METADATA_BYTES - 4 - len("x-pad"))),)
    reply = _exchange(echo.path, _request(1, b"body", at_limit))
    assert reply[0] == 0
    over = (("x-pad", "a" * (MAX_METADATA_BYTES - 3 - len("x-pad"))),)
    reply = _exchange(echo.path, _request(1, b"body", over))
    assert reply[0] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    status = status_pb2.Status.FromString(reply[1:])
    assert str(MAX_METADATA_BYTES) in status.message


def test_a_malformed_metadata_block_is_internal(echo: OnlineSocketServer) -> None:
    # A key length running past the block (the front never sends this).
    reply = _exchange(echo.path, _frame(b"\x01\x00\x03\x00\x09ab"))
    assert reply[0] == grpc.StatusCode.INTERNAL.value[0]
    assert "malformed" in status_pb2.Status.FromString(reply[1:]).message


def test_close_removes_the_socket_file(tmp_path: Path) -> None:
    path = tmp_path / "online.sock"
    path.write_text("stale")  # a file left by a killed process is replaced
    running = OnlineSocketServer(path, {})
    assert path.is_socket()
    running.close()
    assert not path.exists()
