"""Arrow IPC in and out of protobuf bytes fields."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from featurestore.services.server.errors import (
    RequestError,
    RequestTooLargeError,
    ResourceExhaustedError,
)


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
            describe invalid arrays, or bytes follow the stream's end, or
            a file's footer does not describe the stream before it, as
            when two files are concatenated (ARROW_INVALID); a column name repeats
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
            f"{field} is not a valid Arrow IPC {_kind(data)}: {str(exc)[:200]}",
            reason="ARROW_INVALID",
        ) from exc
    _check_unique_columns(table, field)
    return table


def _kind(data: bytes | pa.Buffer) -> str:
    """What the bytes claim to be: an IPC file starts with its magic."""
    return "file" if bytes(data[: len(_FILE_MAGIC)]) == _FILE_MAGIC else "stream"


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
    stream_bytes, file = buffer, None
    if _kind(buffer) == "file":
        file = pa.ipc.open_file(buffer)
        stream_bytes = _file_stream(buffer)
    source = pa.BufferReader(stream_bytes)
    stream = pa.ipc.open_stream(source)
    kept, rows = [], 0
    for batch in stream:
        rows += batch.num_rows
        if max_rows is not None and rows > max_rows:
            raise RequestTooLargeError(
                f"{field} has more than {max_rows} rows (setting {limit})",
                rows=f">{max_rows}",
                limit=str(max_rows),
                setting=limit,
            )
        kept.append(batch)
    extra = stream_bytes.size - source.tell()
    if file is None and extra:
        _refuse_trailing_bytes(field, extra)
    if file is not None:
        _check_footer(field, file, stream.schema, extra, len(kept))
    return pa.Table.from_batches(kept, schema=stream.schema)


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


# An IPC file: "ARROW1", padding to 8 bytes, an IPC stream, the footer (the
# schema and where each record batch is), its int32 length, "ARROW1".
_FILE_MAGIC = b"ARROW1"
_FILE_STREAM_START = 8


def _file_stream(buffer: pa.Buffer) -> pa.Buffer:
    """The bytes between a file's leading magic and its footer: an IPC stream.

    pyarrow reads a file from its end, by the last footer's block offsets,
    so a file appended to another read as one file (the second footer's
    offsets point into the first file), serving one file's rows or failing
    by chance. Reading the stream before the footer and asking it to end
    where the footer begins finds the join. Call after ``pa.ipc.open_file``
    accepted the buffer (the footer length is then in range).
    """
    tail = buffer.size - len(_FILE_MAGIC) - 4
    footer_size = int.from_bytes(buffer[tail : tail + 4].to_pybytes(), "little")
    size = max(0, tail - footer_size - _FILE_STREAM_START)
    return buffer.slice(_FILE_STREAM_START, size)


def _check_footer(
    field: str, file: pa.RecordBatchFileReader, schema: pa.Schema, extra: int, read: int
) -> None:
    """Refuse a file whose footer does not describe the stream before it.

    Raises:
        RequestError: ARROW_INVALID, with the bytes found between the first
            stream's end and the last footer, and both batch counts.
    """
    listed = file.num_record_batches
    if extra:
        what = (
            f"{extra} bytes lie between the end of its first record batches "
            "and its footer (two files concatenated?)"
        )
    elif listed != read:
        what = f"its footer lists {listed} record batches but it holds {read}"
    elif not file.schema.equals(schema):
        what = "its footer's schema is not the schema of its record batches"
    else:
        return
    raise RequestError(
        field,
        f"{field} is not one Arrow IPC file: {what}; send one Arrow IPC file or "
        "stream holding every row",
        reason="ARROW_INVALID",
        trailing_bytes=str(extra),
        footer_batches=str(listed),
        read_batches=str(read),
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


def ipc_chunks(
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    max_piece_bytes: int,
    max_row_bytes: int,
) -> Iterator[bytes]:
    """Yield one IPC stream as pieces: each batch (the schema with the first),
    then end-of-stream, every piece at most ``max_piece_bytes``.

    A batch whose IPC message is larger is sent as row slices that fit, so a
    client with gRPC's default 4 MiB receive limit reads every piece. A
    single row larger than ``max_piece_bytes`` goes alone, up to
    ``max_row_bytes`` (what the server may send at all). Memory stays bounded
    by one batch; concatenating the pieces gives a valid Arrow IPC stream.

    Raises:
        ResourceExhaustedError: a row's IPC message exceeds ``max_row_bytes``
            (ROW_TOO_LARGE, naming the row and the limit).
    """
    pieces = _Pieces()
    writer = pa.ipc.new_stream(pa.PythonFile(pieces, mode="w"), schema)
    # The schema message goes out with the first batch: leave room for it.
    budget = max_piece_bytes - schema.serialize().size
    first_row = 0
    for batch in batches:
        for part in _fitting(batch, budget, max_row_bytes, first_row):
            writer.write_batch(part)
            budget = max_piece_bytes
            yield pieces.take()
        first_row += batch.num_rows
    writer.close()
    yield pieces.take()


def _fitting(
    batch: pa.RecordBatch, budget: int, max_row_bytes: int, first_row: int
) -> Iterator[pa.RecordBatch]:
    """``batch`` as consecutive slices whose IPC messages fit in ``budget``.

    Slices are sized by the batch's bytes per row, then halved where rows are
    uneven; a row alone larger than ``budget`` is yielded alone.
    """
    size = pa.ipc.get_record_batch_size(batch)
    if size <= budget:
        yield batch
        return
    if batch.num_rows <= 1:
        _check_row(size, max_row_bytes, first_row)
        yield batch
        return
    rows = max(1, min(batch.num_rows // 2, batch.num_rows * budget // size))
    for start in range(0, batch.num_rows, rows):
        part = batch.slice(start, rows)
        yield from _fitting(part, budget, max_row_bytes, first_row + start)


def _check_row(size: int, max_row_bytes: int, row: int) -> None:
    """Refuse a row the server cannot send (grpc would fail the call unnamed).

    Raises:
        ResourceExhaustedError: ROW_TOO_LARGE when ``size`` > ``max_row_bytes``.
    """
    if size > max_row_bytes:
        raise ResourceExhaustedError(
            f"training-set row {row} takes {size} bytes as Arrow IPC, more than "
            f"the {max_row_bytes} bytes one response message may hold; leave its "
            "largest columns (long strings, lists) out of the entity rows or the "
            "features",
            reason="ROW_TOO_LARGE",
            row=str(row),
            row_bytes=str(size),
            limit=str(max_row_bytes),
        )
