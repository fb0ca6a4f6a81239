"""The Unix-socket protocol between fs-front and the server processes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from services.server.errors import RequestError
from services.server.ipc import OnlineSocketServer


def _reject(body: bytes) -> bytes:
    raise RequestError("entities", "no entity rows", reason="NO_ENTITY_ROWS")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[OnlineSocketServer]:
    running = OnlineSocketServer(
        tmp_path / "online.sock", {1: lambda body: body[::-1], 2: _reject}
    )
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


def test_a_reply_is_ok_then_the_handlers_bytes(server: OnlineSocketServer) -> None:
    # Sent a byte at a time: frames are read whole however they arrive.
    reply = _exchange(server.path, _frame(b"\x01request"), chunk=1)
    assert reply == b"\x00tseuqer"


def test_an_error_is_its_code_then_the_status_with_details(
    server: OnlineSocketServer,
) -> None:
    reply = _exchange(server.path, _frame(b"\x02anything"))
    assert reply[0] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    status = status_pb2.Status.FromString(reply[1:])
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "no entity rows" in status.message
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details)
    assert info.reason == "NO_ENTITY_ROWS"


def test_an_unknown_method_is_unimplemented(server: OnlineSocketServer) -> None:
    assert _exchange(server.path, _frame(b"\x09x")) == bytes(
        (grpc.StatusCode.UNIMPLEMENTED.value[0],)
    )


def test_one_connection_carries_many_calls(server: OnlineSocketServer) -> None:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(server.path)
        for n in range(50):
            conn.sendall(_frame(b"\x01" + bytes([n]) * n))
            head = conn.recv(4, socket.MSG_WAITALL)
            assert conn.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL) == (
                b"\x00" + bytes([n]) * n
            )


def test_close_removes_the_socket_file(tmp_path: Path) -> None:
    path = tmp_path / "online.sock"
    path.write_text("stale")  # a file left by a killed process is replaced
    running = OnlineSocketServer(path, {})
    assert path.is_socket()
    running.close()
    assert not path.exists()
