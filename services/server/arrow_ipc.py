"""Arrow IPC in and out of protobuf bytes fields."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from services.server.errors import RequestError


def read_ipc(data: bytes, field: str) -> pa.Table:
    """Decode an Arrow IPC stream (or file) from a request field.

    Raises:
        RequestError: the bytes are empty or not Arrow IPC.
    """
    if not data:
        raise RequestError(field, f"{field} is empty: send an Arrow IPC stream")
    try:
        return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    except pa.ArrowInvalid:
        try:
            return pa.ipc.open_file(pa.py_buffer(data)).read_all()
        except pa.ArrowInvalid as exc:
            raise RequestError(
                field,
                f"{field} is not an Arrow IPC stream: {exc}",
                reason="ARROW_INVALID",
            ) from exc


def write_ipc(table: pa.Table) -> bytes:
    """Encode a table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


class _Pieces:
    """A write-only file that hands out what was written since the last take."""

    def __init__(self) -> None:
        self.closed = False
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def ipc_chunks(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    """Yield one IPC stream as pieces: the schema, each batch, then end-of-stream.

    Memory stays bounded by one batch; concatenating the pieces gives a valid
    Arrow IPC stream.
    """
    pieces = _Pieces()
    writer = pa.ipc.new_stream(pa.PythonFile(pieces, mode="w"), schema)
    for batch in batches:
        writer.write_batch(batch)
        yield pieces.take()
    writer.close()
    yield pieces.take()
