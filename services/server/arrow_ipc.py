"""Arrow IPC in and out of protobuf bytes fields."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from featurestore.services.server.errors import RequestError, RequestTooLargeError


def read_ipc(
    data: bytes, field: str, max_rows: int | None = None, limit: str = ""
) -> pa.Table:
    """Decode an Arrow IPC stream (or file) from a request field, fully validated.

    Args:
        data: The field's bytes.
        field: The request field, named in errors.
        max_rows: Refuse more rows than this, counted batch by batch.
        limit: The setting behind ``max_rows``, named in the error.

    Raises:
        RequestError: the bytes are empty, not Arrow IPC, truncated, or
            describe invalid arrays, or bytes follow the stream's end
            (ARROW_INVALID); a column name repeats
            (DUPLICATE_COLUMN).
        RequestTooLargeError: more than ``max_rows`` rows.
    """
    if not data:
        raise RequestError(field, f"{field} is empty: send an Arrow IPC stream")
    try:
        table = _read(pa.py_buffer(data), field, max_rows, limit)
        # Offsets and lengths are only trusted after a full validation.
        table.validate(full=True)
    except (pa.ArrowException, OSError) as exc:  # truncation is an OSError
        raise RequestError(
            field,
            f"{field} is not a valid Arrow IPC stream: {str(exc)[:200]}",
            reason="ARROW_INVALID",
        ) from exc
    _check_unique_columns(table, field)
    return table


def _check_unique_columns(table: pa.Table, field: str) -> None:
    """Refuse rows that name a column twice (Arrow and Parquet allow it).

    Raises:
        RequestError: the first repeated name (DUPLICATE_COLUMN).
    """
    seen: set[str] = set()
    for name in table.column_names:
        if name in seen:
            raise RequestError(
                field,
                f"{field} has more than one column named {name[:200]!r}; "
                "send each column once",
                reason="DUPLICATE_COLUMN",
                column=name[:200],
            )
        seen.add(name)


def _read(buffer: pa.Buffer, field: str, max_rows: int | None, limit: str) -> pa.Table:
    source = pa.BufferReader(buffer)
    try:
        stream = pa.ipc.open_stream(source)
        schema, batches = stream.schema, iter(stream)
    except pa.ArrowInvalid:
        file = pa.ipc.open_file(buffer)
        schema, source = file.schema, None
        batches = (file.get_batch(i) for i in range(file.num_record_batches))
    kept, rows = [], 0
    for batch in batches:
        rows += batch.num_rows
        if max_rows is not None and rows > max_rows:
            raise RequestTooLargeError(
                f"{field} has more than {max_rows} rows (setting {limit})",
                rows=f">{max_rows}",
                limit=str(max_rows),
                setting=limit,
            )
        kept.append(batch)
    if source is not None and source.tell() != buffer.size:
        _refuse_trailing_bytes(field, buffer.size - source.tell())
    return pa.Table.from_batches(kept, schema=schema)


def _refuse_trailing_bytes(field: str, extra: int) -> None:
    """A stream ends at its end-of-stream marker; pyarrow would ignore the rest.

    Raises:
        RequestError: always (ARROW_INVALID), counting the bytes after the end.
    """
    raise RequestError(
        field,
        f"{field} has {extra} bytes after the end of its Arrow IPC stream "
        "(a second stream?): send one Arrow IPC stream holding every row",
        reason="ARROW_INVALID",
        trailing_bytes=str(extra),
    )


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
