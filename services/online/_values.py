"""Encode Arrow columns into serialised Feast ``ValueProto`` bytes (pure)."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

_F64 = struct.Struct("<d")
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


def _int_field(tag: int) -> Callable[[Any], bytes]:
    prefix = bytes((tag,))
    return lambda v: prefix + _varint(int(v))


def _len_field(tag: int, encode: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    prefix = bytes((tag,))

    def enc(v: Any) -> bytes:
        b = encode(v)
        return prefix + _varint(len(b)) + b

    return enc


# Field numbers of feast.types.Value: bytes 1, string 2, int32 3, int64 4,
# double 5, float 6, bool 7; tag = field << 3 | wire type.
_ENCODERS: dict[ValueType, Callable[[Any], bytes]] = {
    ValueType.BYTES: _len_field(0x0A, bytes),
    ValueType.STRING: _len_field(0x12, lambda v: v.encode("utf8")),
    ValueType.INT32: _int_field(0x18),
    ValueType.INT64: _int_field(0x20),
    ValueType.DOUBLE: lambda v: b"\x29" + _F64.pack(v),
    ValueType.FLOAT: lambda v: b"\x35" + _F32.pack(v),
    ValueType.BOOL: lambda v: b"\x38\x01" if v else b"\x38\x00",
}
_FLOATS = (ValueType.DOUBLE, ValueType.FLOAT)


def encode_column(
    column: pa.Array | pa.ChunkedArray, value_type: ValueType
) -> list[bytes]:
    """Serialise a column exactly as Feast's ``python_values_to_proto_values`` would.

    Nulls (and NaN floats, as Feast does) become the empty ``ValueProto`` (b"").
    Types without a hand-written encoder go through Feast's own conversion.

    Args:
        column: The Arrow column.
        value_type: The feature's Feast value type.

    Returns:
        One serialised ``ValueProto`` per row.
    """
    encode = _ENCODERS.get(value_type)
    if encode is None:
        values = column.to_numpy(zero_copy_only=False)
        return [
            v.SerializeToString()
            for v in python_values_to_proto_values(values, value_type)
        ]
    if value_type in _FLOATS:
        return [
            b"" if v is None or math.isnan(v) else encode(v) for v in column.to_pylist()
        ]
    return [b"" if v is None else encode(v) for v in column.to_pylist()]


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
    values: list[Any] = column.to_pylist()
    if value_type is ValueType.STRING:
        return values
    if value_type in (ValueType.INT32, ValueType.INT64, ValueType.BOOL):
        return [None if v is None else str(v) for v in values]
    if value_type is ValueType.DOUBLE:
        return [None if v is None or math.isnan(v) else str(v) for v in values]
    if value_type is ValueType.FLOAT:
        # The proto holds a float32; Feast prints it widened back to double.
        return [
            None if v is None or math.isnan(v) else str(_F32.unpack(_F32.pack(v))[0])
            for v in values
        ]
    return [None] * len(values)
