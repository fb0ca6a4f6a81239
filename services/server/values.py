"""Conversions between our Value proto, Feast's ValueProto and Python values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as FeastValue
from feast.types import PrimitiveFeastType

from featurestore.v1 import common_pb2
from services.server.errors import RequestError

# Which of our oneof fields carries each Feast join-key type.
_KEY_FIELD = {
    PrimitiveFeastType.INT64: "int64_value",
    PrimitiveFeastType.INT32: "int64_value",
    PrimitiveFeastType.STRING: "string_value",
    PrimitiveFeastType.BYTES: "bytes_value",
    PrimitiveFeastType.BOOL: "bool_value",
    PrimitiveFeastType.FLOAT64: "double_value",
    PrimitiveFeastType.FLOAT32: "double_value",
}


def key_column(
    name: str, dtype: object, values: Sequence[common_pb2.Value]
) -> list[Any]:
    """Python values of one join-key column, checked against the key's type.

    Raises:
        RequestError: a value is null or of another type than the join key.
    """
    expected = _KEY_FIELD.get(dtype)  # type: ignore[call-overload]
    out: list[Any] = []
    for i, value in enumerate(values):
        kind = value.WhichOneof("kind")
        if kind != expected:
            raise RequestError(
                f"entities[{name}]",
                f"join key {name!r} row {i}: expected {expected}, got {kind or 'null'}",
                reason="JOIN_KEY_TYPE_MISMATCH",
                expected=str(expected),
                got=str(kind),
            )
        out.append(getattr(value, kind))
    return out


_FEAST_TO_OURS = {
    "int64_val": "int64_value",
    "int32_val": "int64_value",
    "double_val": "double_value",
    "float_val": "double_value",
    "string_val": "string_value",
    "bool_val": "bool_value",
    "bytes_val": "bytes_value",
}
_NULL = common_pb2.Value()


def from_feast(value: FeastValue | None) -> common_pb2.Value:
    """Our Value for a Feast ValueProto (scalars; null for anything else)."""
    if value is None:
        return _NULL
    kind = value.WhichOneof("val")
    if kind in _FEAST_TO_OURS:
        return common_pb2.Value(**{_FEAST_TO_OURS[kind]: getattr(value, kind)})
    if kind == "unix_timestamp_val":
        out = common_pb2.Value()
        out.timestamp_value.FromSeconds(value.unix_timestamp_val)
        return out
    return _NULL


def to_python(value: common_pb2.Value) -> Any:
    """The Python value of one of our Values (None for null)."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "timestamp_value":
        return value.timestamp_value.ToDatetime(tzinfo=UTC)
    return getattr(value, kind)


def from_python(value: Any) -> common_pb2.Value:
    """One of our Values for a Python scalar (client side)."""
    if value is None:
        return common_pb2.Value()
    if isinstance(value, bool):
        return common_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return common_pb2.Value(int64_value=value)
    if isinstance(value, float):
        return common_pb2.Value(double_value=value)
    if isinstance(value, str):
        return common_pb2.Value(string_value=value)
    if isinstance(value, bytes):
        return common_pb2.Value(bytes_value=value)
    if isinstance(value, datetime):
        out = common_pb2.Value()
        out.timestamp_value.FromDatetime(value.astimezone(UTC))
        return out
    if hasattr(value, "item"):  # numpy scalars
        return from_python(value.item())
    raise TypeError(f"cannot send a value of type {type(value).__name__}")
