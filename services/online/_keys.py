"""Serialise entity keys byte-for-byte as Feast's ``serialize_entity_key`` does."""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache

from featurestore.services.online.errors import (
    InvalidEntityRowsError,
    UnsupportedJoinKeyTypeError,
)
from featurestore.services.online.model import JoinKeyType

_U32 = struct.Struct("<I")
_TYPE_LEN = struct.Struct("<II")
_INT64_V3 = struct.Struct("<IIq")
_INT64_V1 = struct.Struct("<IIl")
_INT32 = struct.Struct("<IIi")

_ValueEncoder = Callable[[object], bytes]


def _encode_string(v: object) -> bytes:
    if v is None:  # str() would make it the key "None"
        raise TypeError("null join key")
    b = str(v).encode("utf8")
    return _TYPE_LEN.pack(JoinKeyType.STRING, len(b)) + b


def _encode_bytes(v: object) -> bytes:
    b: bytes = bytes(v)  # type: ignore[call-overload]
    return _TYPE_LEN.pack(JoinKeyType.BYTES, len(b)) + b


def _encode_int32(v: object) -> bytes:
    return _INT32.pack(JoinKeyType.INT32, 4, int(v))  # type: ignore[call-overload]


def _encode_int64(v: object) -> bytes:
    return _INT64_V3.pack(JoinKeyType.INT64, 8, int(v))  # type: ignore[call-overload]


def _encode_int64_v1(v: object) -> bytes:
    return _INT64_V1.pack(JoinKeyType.INT64, 4, int(v))  # type: ignore[call-overload]


def _encode_unix_ts(v: object) -> bytes:
    # Feast stores UNIX_TIMESTAMP keys as whole epoch seconds.
    secs = int(v.timestamp()) if isinstance(v, datetime) else int(v)  # type: ignore[call-overload]
    return _INT64_V3.pack(JoinKeyType.UNIX_TIMESTAMP, 8, secs)


def _encoder_for(key_type: JoinKeyType, version: int) -> _ValueEncoder:
    if key_type is JoinKeyType.INT64:
        return _encode_int64_v1 if version <= 1 else _encode_int64
    return {
        JoinKeyType.STRING: _encode_string,
        JoinKeyType.BYTES: _encode_bytes,
        JoinKeyType.INT32: _encode_int32,
        JoinKeyType.UNIX_TIMESTAMP: _encode_unix_ts,
    }[key_type]


def infer_join_key_type(join_key: str, value: object) -> JoinKeyType:
    """Infer a join key's type from one Python value, as Feast would.

    Args:
        join_key: Column name, for the error.
        value: A sample value.

    Returns:
        The key type (``int`` maps to INT64).

    Raises:
        UnsupportedJoinKeyTypeError: For float, bool and other types Feast's
            entity key serialisation rejects.
    """
    if value is None:  # a null names no entity
        raise UnsupportedJoinKeyTypeError(join_key, "null")
    # bool first: it is an int subclass, and Feast cannot serialise BOOL keys.
    if isinstance(value, bool) or not isinstance(value, int | str | bytes | datetime):
        raise UnsupportedJoinKeyTypeError(join_key, type(value).__name__)
    if isinstance(value, int):
        return JoinKeyType.INT64
    if isinstance(value, str):
        return JoinKeyType.STRING
    if isinstance(value, bytes):
        return JoinKeyType.BYTES
    return JoinKeyType.UNIX_TIMESTAMP


@lru_cache(maxsize=1024)
def _header(sorted_keys: tuple[str, ...], version: int) -> bytes:
    parts = [_U32.pack(len(sorted_keys))] if version > 2 else []
    for k in sorted_keys:
        kb = k.encode("utf8")
        if version > 2:
            parts.append(_TYPE_LEN.pack(JoinKeyType.STRING, len(kb)))
        else:
            parts.append(_U32.pack(JoinKeyType.STRING))
        parts.append(kb)
    return b"".join(parts)


@lru_cache(maxsize=1024)
def _plan(
    join_keys: tuple[str, ...], types: tuple[JoinKeyType, ...], version: int
) -> tuple[bytes, tuple[tuple[str, _ValueEncoder], ...]]:
    order = sorted(range(len(join_keys)), key=lambda i: join_keys[i])
    sorted_keys = tuple(join_keys[i] for i in order)
    encoders = tuple((join_keys[i], _encoder_for(types[i], version)) for i in order)
    return _header(sorted_keys, version), encoders


def encode_entity_keys(
    join_keys: tuple[str, ...],
    types: tuple[JoinKeyType, ...] | None,
    rows: Mapping[str, Sequence[object]],
    version: int,
) -> list[bytes]:
    """Serialise every entity row's key for one view.

    Args:
        join_keys: The view's join key names.
        types: Value type per join key, or None to infer from the first row.
        rows: Column name to values; all join key columns have equal length.
        version: Feast ``entity_key_serialization_version``.

    Returns:
        One serialised key per entity row.

    Raises:
        InvalidEntityRowsError: A join key column is missing or lengths differ.
        UnsupportedJoinKeyTypeError: A value type Feast cannot serialise, or
            a null (it names no entity; type "null").
    """
    columns = _columns(join_keys, rows)
    if types is None:
        types = tuple(
            infer_join_key_type(k, c[0]) if c else JoinKeyType.STRING
            for k, c in zip(join_keys, columns, strict=True)
        )
    header, encoders = _plan(join_keys, types, version)
    by_name = dict(zip(join_keys, columns, strict=True))
    try:
        if len(encoders) == 1:
            name, enc = encoders[0]
            return [header + enc(v) for v in by_name[name]]
        cols = [(by_name[name], enc) for name, enc in encoders]
        return [
            header + b"".join(enc(col[i]) for col, enc in cols)
            for i in range(len(cols[0][0]))
        ]
    except (TypeError, ValueError, struct.error) as exc:
        # Looked for only once encoding failed: no scan on the hot path.
        for key, column in zip(join_keys, columns, strict=True):
            if None in column:
                raise UnsupportedJoinKeyTypeError(key, "null") from exc
        raise UnsupportedJoinKeyTypeError(",".join(join_keys), str(exc)) from exc


def _columns(
    join_keys: tuple[str, ...], rows: Mapping[str, Sequence[object]]
) -> list[Sequence[object]]:
    columns = []
    for k in join_keys:
        col = rows.get(k)
        if col is None:
            raise InvalidEntityRowsError(
                f"entity rows have no join key column {k!r}", join_key=k
            )
        columns.append(col)
    if len({len(c) for c in columns}) > 1:
        raise InvalidEntityRowsError(
            "join key columns have different lengths", join_keys=",".join(join_keys)
        )
    return columns
