"""Encode Arrow columns into serialised Feast ``ValueProto`` bytes (pure)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

_F32 = struct.Struct("<f")
_U64_MASK = (1 << 64) - 1


def _varint(n: int) -> bytes:
    n &= _U64_MASK  # negative ints are 10-byte two's complement varints
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_field(tag: int, encode: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    prefix = bytes((tag,))

    def enc(v: Any) -> bytes:
        b = encode(v)
        return prefix + _varint(len(b)) + b

    return enc


# Field numbers of feast.types.Value: bytes 1, string 2, int32 3, int64 4,
# double 5, float 6, bool 7; tag = field << 3 | wire type. `val` is a oneof,
# so a zero value is still written (tag plus payload), unlike plain proto3.
_LEN_ENCODERS: dict[ValueType, Callable[[Any], bytes]] = {
    ValueType.BYTES: _len_field(0x0A, bytes),
    ValueType.STRING: _len_field(0x12, lambda v: v.encode("utf8")),
}
# Fixed-width wire types: tag, then the little-endian payload of this dtype.
_FIXED: dict[ValueType, tuple[int, str]] = {
    ValueType.DOUBLE: (0x29, "<f8"),
    ValueType.FLOAT: (0x35, "<f4"),
    ValueType.BOOL: (0x38, "u1"),
}
_VARINT_TAGS = {ValueType.INT32: 0x18, ValueType.INT64: 0x20}
_FLOATS = (ValueType.DOUBLE, ValueType.FLOAT)


Frame = Callable[[int], tuple[bytes, bytes]]
"""Given a payload's length, the bytes to put before and after it."""


def _bare(length: int) -> tuple[bytes, bytes]:
    return b"", b""


def encode_column(
    column: pa.Array | pa.ChunkedArray, value_type: ValueType
) -> list[bytes]:
    """Serialise a column exactly as Feast's ``python_values_to_proto_values`` would.

    Nulls (and NaN floats, as Feast does) become the empty ``ValueProto`` (b"").
    Numbers and bools are encoded for the whole column at once with numpy;
    strings and bytes per value; other types go through Feast's conversion.

    Args:
        column: The Arrow column.
        value_type: The feature's Feast value type.

    Returns:
        One serialised ``ValueProto`` per row.
    """
    return _encode(column, value_type, _bare)


def resp_field_values(
    column: pa.Array | pa.ChunkedArray, value_type: ValueType, field: bytes
) -> list[bytes]:
    """Per row, ``field`` and the row's ``ValueProto`` as two RESP bulk strings.

    The bytes a Redis ``HSET key ... field value ...`` carries for this feature,
    so a whole command is a join of such pieces (no per-argument packing).

    Args:
        column: The Arrow column.
        value_type: The feature's Feast value type.
        field: The hash field name.

    Returns:
        ``$<len>\\r\\n<field>\\r\\n$<len>\\r\\n<value>\\r\\n`` per row.
    """
    head = b"$%d\r\n%s\r\n" % (len(field), field)
    return _encode(column, value_type, lambda n: (head + b"$%d\r\n" % n, b"\r\n"))


def _encode(
    column: pa.Array | pa.ChunkedArray, value_type: ValueType, frame: Frame
) -> list[bytes]:
    if value_type in _FIXED:
        tag, dtype = _FIXED[value_type]
        data, valid = _numpy(column, dtype, value_type in _FLOATS)
        return _fixed_width(tag, data, valid, frame)
    if value_type in _VARINT_TAGS:
        data, valid = _numpy(column, "<i8", False)
        return _varints(_VARINT_TAGS[value_type], data, valid, frame)
    encode = _LEN_ENCODERS.get(value_type)
    if encode is None:
        values = column.to_numpy(zero_copy_only=False)
        encoded = [
            v.SerializeToString()
            for v in python_values_to_proto_values(values, value_type)
        ]
    else:
        encoded = [b"" if v is None else encode(v) for v in column.to_pylist()]
    if frame is _bare:
        return encoded
    frames: dict[int, tuple[bytes, bytes]] = {}
    out = []
    for v in encoded:
        before, after = frames.get(len(v)) or frames.setdefault(len(v), frame(len(v)))
        out.append(before + v + after)
    return out


def _numpy(
    column: pa.Array | pa.ChunkedArray, dtype: str, nan_is_null: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Values (nulls filled with 0) in ``dtype``, and the not-null mask."""
    valid = np.asarray(column.is_valid(), dtype=bool)
    filled = pc.fill_null(column, False if dtype == "u1" else 0)
    data = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=dtype)
    if nan_is_null:
        valid &= ~np.isnan(data)
    return data, valid


def _to_bytes(payload: np.ndarray, before: bytes, after: bytes) -> list[bytes]:
    """One ``before + row + after`` bytes object per row of a uint8 grid."""
    # A void view of each row becomes one `bytes` object in C (unlike "S",
    # void keeps trailing NULs).
    rows, width = payload.shape
    grid = np.empty((rows, len(before) + width + len(after)), np.uint8)
    grid[:, : len(before)] = np.frombuffer(before, np.uint8)
    grid[:, len(before) : len(before) + width] = payload
    grid[:, len(before) + width :] = np.frombuffer(after, np.uint8)
    out: list[bytes] = grid.view(f"V{grid.shape[1]}").ravel().tolist()
    return out


def _fixed_width(
    tag: int, data: np.ndarray, valid: np.ndarray, frame: Frame
) -> list[bytes]:
    width = data.dtype.itemsize + 1
    payload = np.empty((len(data), width), np.uint8)
    payload[:, 0] = tag
    payload[:, 1:] = data.view(np.uint8).reshape(len(data), width - 1)
    out = _to_bytes(payload, *frame(width))
    null = b"".join(frame(0))
    for i in np.flatnonzero(~valid).tolist():
        out[i] = null
    return out


def _varints(
    tag: int, data: np.ndarray, valid: np.ndarray, frame: Frame
) -> list[bytes]:
    # Protobuf varints of two's complement uint64 (negatives take 10 bytes),
    # built as a grid of tag + up to ten 7-bit groups, then cut per length.
    u = data.view(np.uint64)
    groups = np.ones(len(u), np.int64)
    for k in range(1, 10):
        groups += (u >> np.uint64(7 * k)) != 0
    grid = np.zeros((len(u), 11), np.uint8)
    grid[:, 0] = tag
    for k in range(10):
        low = ((u >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        grid[:, k + 1] = low | ((groups > k + 1).astype(np.uint8) << 7)
    out = np.empty(len(u), dtype=object)
    for n in np.unique(groups).tolist():
        rows = np.flatnonzero(groups == n)
        out[rows] = _to_bytes(grid[rows, : n + 1], *frame(n + 1))
    out[~valid] = b"".join(frame(0))
    encoded: list[bytes] = out.tolist()
    return encoded


def value_text(
    column: pa.Array | pa.ChunkedArray, value_type: ValueType
) -> list[str | None]:
    """The SQLite ``value_text`` column Feast derives from each value.

    Args:
        column: The Arrow column.
        value_type: The feature's Feast value type.

    Returns:
        Text per row, None for nulls and non-text types (as Feast's
        ``extract_text_and_num``).
    """
    if value_type is ValueType.STRING:
        strings: list[str | None] = column.to_pylist()
        return strings
    if value_type in (ValueType.INT32, ValueType.INT64):
        # Arrow's decimal formatting of integers equals str(int).
        ints: list[str | None] = pc.cast(column, pa.string()).to_pylist()
        return ints
    if value_type is ValueType.BOOL:
        return [None if v is None else str(v) for v in column.to_pylist()]
    if value_type in _FLOATS:
        # The proto holds the column's own precision; Feast prints it as a
        # Python float (a float32 widened to double), i.e. repr().
        data, valid = _numpy(column, _FIXED[value_type][1], True)
        texts: list[str | None] = list(map(repr, data.astype(np.float64).tolist()))
        for i in np.flatnonzero(~valid).tolist():
            texts[i] = None
        return texts
    return [None] * len(column)
