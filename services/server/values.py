"""Conversions between our Value proto, Feast's ValueProto and Python values."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import numpy as np
from feast.field import Field
from feast.protos.feast.types.Value_pb2 import Value as FeastValue
from feast.type_map import NULL_TIMESTAMP_INT_VALUE
from feast.types import PrimitiveFeastType
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

from featurestore.services.server.errors import FailedPreconditionError, RequestError
from featurestore.v1 import common_pb2

# Which of our oneof fields carries each Feast join-key type.
_KEY_FIELD = {
    PrimitiveFeastType.INT64: "int64_value",
    PrimitiveFeastType.INT32: "int64_value",
    PrimitiveFeastType.STRING: "string_value",
    PrimitiveFeastType.BYTES: "bytes_value",
    PrimitiveFeastType.BOOL: "bool_value",
    PrimitiveFeastType.FLOAT64: "double_value",
    PrimitiveFeastType.FLOAT32: "double_value",
    PrimitiveFeastType.UNIX_TIMESTAMP: "timestamp_value",
}


def key_value_field(dtype: object) -> str:
    """The field of our ``Value`` that carries a join key of Feast type ``dtype``
    (e.g. "int64_value"); empty for a type no join key can have."""
    field: str = _KEY_FIELD.get(dtype, "")  # type: ignore[call-overload]
    return field


def key_column(
    name: str, dtype: object, values: Sequence[common_pb2.Value]
) -> list[Any]:
    """Python values of one join-key column, checked against the key's type.

    A timestamp key is a UTC datetime of whole seconds, the unit Feast keys
    UNIX_TIMESTAMP entities by.

    Raises:
        RequestError: a value is null or of another type than the join key,
            or a timestamp key has a fraction of a second.
    """
    expected = _KEY_FIELD.get(dtype)  # type: ignore[call-overload]
    out: list[Any] = []
    for i, value in enumerate(values):
        kind = value.WhichOneof("kind")
        if kind != expected:
            got = kind or "null"
            raise RequestError(
                f"entities[{name}]",
                f"join key {name!r} row {i}: expected {expected}, got {got}",
                reason="JOIN_KEY_TYPE_MISMATCH",
                expected=str(expected),
                got=got,
            )
        if kind == "timestamp_value":
            out.append(_whole_seconds(name, i, value.timestamp_value))
        else:
            out.append(getattr(value, kind))
    return out


def _whole_seconds(name: str, row: int, moment: Timestamp) -> datetime:
    # Feast truncates a key to its epoch second: a fraction would read the
    # entity of another instant than the one asked for, so it is refused.
    if moment.nanos:
        raise RequestError(
            f"entities[{name}]",
            f"join key {name!r} row {row}: a timestamp key is whole seconds "
            f"(Feast keys UNIX_TIMESTAMP entities by epoch second), got "
            f"{moment.nanos} ns past the second",
            reason="JOIN_KEY_NOT_WHOLE_SECONDS",
            nanos=str(moment.nanos),
        )
    try:
        instant: datetime = moment.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):  # was INTERNAL: a plain ValueError
        raise RequestError(
            f"entities[{name}]",
            f"join key {name!r} row {row}: a timestamp key must lie in "
            f"0001-01-01..9999-12-31, got {moment.seconds} seconds from the epoch",
            reason="TIMESTAMP_OUT_OF_RANGE",
            seconds=str(moment.seconds),
        ) from None
    return instant


_FEAST_TO_OURS = {
    "int64_val": "int64_value",
    "int32_val": "int64_value",
    "double_val": "double_value",
    "float_val": "double_value",
    "string_val": "string_value",
    "bool_val": "bool_value",
    "bytes_val": "bytes_value",
}
# Feast's list kinds and ours, following the scalars (Int32 -> int64, Float32
# -> double); timestamp lists are converted apart (their null marker).
_FEAST_LISTS_TO_OURS = {
    "int64_list_val": "int64_list_value",
    "int32_list_val": "int64_list_value",
    "double_list_val": "double_list_value",
    "float_list_val": "double_list_value",
    "string_list_val": "string_list_value",
    "bool_list_val": "bool_list_value",
    "bytes_list_val": "bytes_list_value",
}
_NULL = common_pb2.Value()

SERVABLE_TYPES = frozenset(
    {
        ValueType.INT32, ValueType.INT64, ValueType.FLOAT, ValueType.DOUBLE,
        ValueType.STRING, ValueType.BYTES, ValueType.BOOL, ValueType.UNIX_TIMESTAMP,
        ValueType.PDF_BYTES, ValueType.IMAGE_BYTES,  # stored as bytes_val
        ValueType.INT32_LIST, ValueType.INT64_LIST, ValueType.FLOAT_LIST,
        ValueType.DOUBLE_LIST, ValueType.STRING_LIST, ValueType.BYTES_LIST,
        ValueType.BOOL_LIST, ValueType.UNIX_TIMESTAMP_LIST,
    }
)  # fmt: skip
"""Feast value types our ``Value`` carries; a feature of any other is refused."""


class UnservableValueError(FailedPreconditionError):
    """A stored Feast value of a kind our ``Value`` has no field for."""

    def __init__(self, kind: str) -> None:
        super().__init__(
            f"the online store holds a Feast {kind} value, which featurestore.v1 "
            "cannot carry: the feature's type changed since it was "
            "materialised? Materialise it again, or read it through Feast's "
            "ServingService",
            reason="VALUE_TYPE_UNSUPPORTED",
            kind=kind,
        )


def check_servable(view: str, features: Sequence[Field]) -> None:
    """Refuse a feature whose type our ``Value`` cannot carry (a map, a set...).

    Raises:
        FailedPreconditionError: VALUE_TYPE_UNSUPPORTED naming the first such
            feature and its type.
    """
    for feature in features:
        if feature.dtype.to_value_type() not in SERVABLE_TYPES:
            name = f"{view}:{feature.name}"
            raise FailedPreconditionError(
                f"feature {name} is of type {feature.dtype}, which "
                "featurestore.v1 cannot carry (it carries Int32, Int64, Float32, "
                "Float64, String, Bytes, Bool and UnixTimestamp values and "
                "Arrays of them): read it through Feast's ServingService on "
                "this server, or leave it out of the request",
                reason="VALUE_TYPE_UNSUPPORTED",
                subject=name,
                feature=name,
                dtype=str(feature.dtype),
            )


def from_feast(value: FeastValue | None) -> common_pb2.Value:
    """Our Value for a Feast ValueProto: a scalar or a list, null for none.

    Feast stores a null timestamp as ``NULL_TIMESTAMP_INT_VALUE`` (NaT as an
    int64) and reads it back as None: a null here too, and a null element of
    a timestamp list (listed in ``null_indexes``). An empty list stays one.

    Raises:
        UnservableValueError: a kind our Value has no field for (a map, a set).
    """
    if value is None:
        return _NULL
    kind = value.WhichOneof("val")
    if kind in _FEAST_TO_OURS:
        return common_pb2.Value(**{_FEAST_TO_OURS[kind]: getattr(value, kind)})
    if kind == "unix_timestamp_val":
        if value.unix_timestamp_val == NULL_TIMESTAMP_INT_VALUE:
            return _NULL
        out = common_pb2.Value()
        out.timestamp_value.FromSeconds(value.unix_timestamp_val)
        return out
    out = common_pb2.Value()
    if kind in _FEAST_LISTS_TO_OURS:
        ours = getattr(out, _FEAST_LISTS_TO_OURS[kind])
        ours.SetInParent()  # an empty list is a list, not a null
        ours.values.extend(getattr(value, kind).val)
    elif kind == "unix_timestamp_list_val":
        stamps = out.timestamp_list_value
        stamps.SetInParent()
        for i, seconds in enumerate(value.unix_timestamp_list_val.val):
            stamp = stamps.values.add()
            if seconds == NULL_TIMESTAMP_INT_VALUE:
                stamps.null_indexes.append(i)
            else:
                stamp.seconds = seconds
    elif kind not in (None, "null_val"):
        raise UnservableValueError(kind)
    return out


def to_python(value: common_pb2.Value) -> Any:
    """The Python value of one of our Values (None for null, a list for a list)."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "timestamp_value":
        return value.timestamp_value.ToDatetime(tzinfo=UTC)
    if kind == "timestamp_list_value":
        nulls = set(value.timestamp_list_value.null_indexes)
        return [
            None if i in nulls else stamp.ToDatetime(tzinfo=UTC)
            for i, stamp in enumerate(value.timestamp_list_value.values)
        ]
    if kind.endswith("_list_value"):
        return list(getattr(value, kind).values)
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
    if isinstance(value, datetime):  # pandas' Timestamp and NaT too
        return _instant(_datetime_nanos(value))
    if isinstance(value, np.datetime64):
        return _instant(_datetime64_nanos(value))
    if hasattr(value, "item"):  # numpy scalars
        return from_python(value.item())
    raise TypeError(f"cannot send a value of type {type(value).__name__}")


def _instant(nanos: int | None) -> common_pb2.Value:
    """A timestamp Value of ``nanos`` since the epoch (null for None)."""
    out = common_pb2.Value()
    if nanos is not None:
        seconds, part = divmod(nanos, 1_000_000_000)
        out.timestamp_value.seconds, out.timestamp_value.nanos = seconds, part
    return out


def _datetime_nanos(value: datetime) -> int | None:
    """Nanoseconds since the epoch of an aware datetime (None for pandas' NaT).

    Raises:
        ValueError: ``value`` is naive: which instant it means depends on the
            machine's time zone, so it is refused rather than guessed.
    """
    if value != value:  # pandas' NaT, a datetime equal to nothing
        return None
    if value.utcoffset() is None:
        raise ValueError(
            f"naive datetime {value.isoformat()} has no time zone, so its instant "
            "depends on the machine's: attach one, e.g. "
            "datetime(..., tzinfo=UTC) or pd.Timestamp(...).tz_localize('UTC')"
        )
    delta = value - _EPOCH
    nanos = (delta.days * 86_400 + delta.seconds) * 1_000_000_000
    # pandas' Timestamp keeps nanoseconds past the microsecond.
    return nanos + delta.microseconds * 1000 + getattr(value, "nanosecond", 0)


# Nanoseconds per numpy datetime64 unit of fixed length (Y and M are not).
_UNIT_NANOS = {
    "W": 7 * 86_400 * 10**9,
    "D": 86_400 * 10**9,
    "h": 3600 * 10**9,
    "m": 60 * 10**9,
    "s": 10**9,
    "ms": 10**6,
    "us": 10**3,
    "ns": 1,
}
_SUBNANO_UNITS = {"ps": 10**3, "fs": 10**6, "as": 10**9}


def _datetime64_nanos(value: np.datetime64) -> int | None:
    """Nanoseconds since the epoch of a numpy datetime64 (None for NaT).

    numpy's datetime64 has no time zone and counts from the Unix epoch: it is
    read as UTC, in any unit, in Python integers (``.item()`` would give an
    int for nanoseconds and a date for days).
    """
    if np.isnat(value):
        return None
    unit, count = np.datetime_data(value.dtype)
    if unit in ("Y", "M"):  # calendar units: numpy converts them exactly
        value, unit, count = value.astype("datetime64[s]"), "s", 1
    ticks = int(value.astype(np.int64)) * count
    if unit in _SUBNANO_UNITS:
        return ticks // _SUBNANO_UNITS[unit]
    return ticks * _UNIT_NANOS[unit]


# Wire encoding of online responses. The readers hand over Feast's serialised
# ValueProto bytes; copying them onto the wire (Feast's API) or re-tagging them
# (ours) skips a parse and a message per value, the bulk of a wide read.

_F32S = struct.Struct("<f")
_F64 = struct.Struct("<d")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CACHE_LIMIT = 65536
_ours_cache: dict[bytes, bytes] = {}
_SMALL_VARINTS = [bytes((i,)) for i in range(0x80)]


def varint(n: int) -> bytes:
    """Protobuf base-128 varint of ``n`` (negatives as 64-bit two's complement)."""
    if 0 <= n < 0x80:
        return _SMALL_VARINTS[n]
    n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def length_delimited(tag: bytes, body: bytes) -> bytes:
    """One length-delimited field: tag byte(s), length, body."""
    return tag + varint(len(body)) + body


def timestamp_body(moment: datetime | None) -> bytes:
    """A ``google.protobuf.Timestamp`` as ``Timestamp.FromDatetime`` serialises it."""
    if moment is None:
        return b""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    nanos = delta.microseconds * 1000
    return (b"\x08" + varint(seconds) if seconds else b"") + (
        b"\x10" + varint(nanos) if nanos else b""
    )


# Our ``values`` entry (field 2) for a double, up to its 8 payload bytes:
# length 9, then double_value (field 2, fixed64).
OURS_DOUBLE_ENTRY = b"\x12\x09\x11"


def all_feast_doubles(joined: bytes, count: int) -> bool:
    """Whether ``joined`` is exactly ``count`` serialised Feast doubles."""
    # A ValueProto starting with tag 0x29 (double_val) is exactly 9 bytes, so
    # the tags at every 9th byte and the total length prove every cell is one.
    return len(joined) == 9 * count and joined[::9] == b"\x29" * count


def ours_value_field(raw: bytes | None) -> bytes:
    """A serialised Feast ValueProto as a ``values`` (field 2) entry of our column.

    Equal to framing ``from_feast(ValueProto.FromString(raw))``: scalars keep
    their payload under our field number; anything else is converted once and
    cached (feature values repeat).
    """
    if not raw:
        return b"\x12\x00"
    n = len(raw)
    tag = raw[0]
    if tag == 0x29 and n == 9:  # double_val -> double_value
        return OURS_DOUBLE_ENTRY + raw[1:]
    if tag == 0x35 and n == 5:  # float_val -> double_value (widened)
        return OURS_DOUBLE_ENTRY + _F64.pack(_F32S.unpack_from(raw, 1)[0])
    if tag == 0x12 and n < 128 and raw[1] == n - 2:  # string_val -> string_value
        return b"\x12" + bytes((n,)) + b"\x1a" + raw[1:]
    if tag in _LIST_TAGS:
        # Lists are not cached: an embedding is large and differs per entity.
        ours = _ours_list(raw)
        if ours is None:
            ours = from_feast(FeastValue.FromString(raw)).SerializeToString()
        return length_delimited(b"\x12", ours)
    hit = _ours_cache.get(raw)
    if hit is None:
        if len(_ours_cache) >= _CACHE_LIMIT:
            _ours_cache.clear()
        ours = from_feast(FeastValue.FromString(raw)).SerializeToString()
        hit = _ours_cache[raw] = length_delimited(b"\x12", ours)
    return hit


# First tag byte of Feast's list kinds (fields 11-18, length-delimited; 16-18
# take a second byte, 0x01).
_LIST_TAGS = frozenset({0x5A, 0x62, 0x6A, 0x72, 0x7A, 0x82, 0x8A, 0x92})
# Feast list kinds whose message body is byte for byte ours (a repeated field
# 1 of the same wire type): Feast tag -> our tag (fields 7-11 of our Value).
_SAME_BODY = {
    b"\x7a": b"\x3a",  # double_list_val -> double_list_value
    b"\x72": b"\x42",  # int64_list_val -> int64_list_value
    b"\x62": b"\x4a",  # string_list_val -> string_list_value
    b"\x5a": b"\x52",  # bytes_list_val -> bytes_list_value
    b"\x8a\x01": b"\x5a",  # bool_list_val -> bool_list_value
}
_FLOAT_LIST_TAG = b"\x82\x01"
_DOUBLE_LIST_TAG = b"\x3a"


def _ours_list(raw: bytes) -> bytes | None:
    """Our serialised Value for a Feast list value, re-tagged without a parse.

    Doubles, int64s, strings, bytes and bools keep their body; packed floats
    are widened to doubles in one numpy pass (a 768-float embedding). None
    for any other list, or an encoding not laid out as Feast's serialiser
    lays it out: ``from_feast`` converts those.
    """
    tag = raw[:1] if raw[0] < 0x80 else raw[:2]
    size, start = _read_varint(raw, len(tag))
    if start + size != len(raw):
        return None
    ours = _SAME_BODY.get(tag)
    if ours is not None:
        return ours + raw[len(tag) :]
    if tag != _FLOAT_LIST_TAG:
        return None
    if size == 0:
        return _DOUBLE_LIST_TAG + b"\x00"
    if raw[start] != 0x0A:  # packed field 1
        return None
    packed, at = _read_varint(raw, start + 1)
    if at + packed != len(raw) or packed % 4:
        return None
    doubles = np.frombuffer(raw, "<f4", packed // 4, at).astype("<f8").tobytes()
    return length_delimited(_DOUBLE_LIST_TAG, length_delimited(b"\x0a", doubles))


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at ``data[at:]`` and the position after it (-1, end: none)."""
    value = shift = 0
    while at < len(data):
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7
    return -1, len(data)


def ours_values_field(raws: Sequence[bytes | None]) -> bytes:
    """The ``values`` entries of our column for a column of Feast value bytes."""
    if len(raws) > 1 and None not in raws:
        doubles = _double_columns(b"".join(raws), len(raws), 1)  # type: ignore[arg-type]
        if doubles is not None:
            return doubles[0]
    return b"".join([ours_value_field(raw) for raw in raws])


def ours_double_columns(rows: Sequence[Sequence[bytes]]) -> list[bytes] | None:
    """Every feature column's ``values`` entries when all cells are Feast doubles.

    ``rows`` holds, per entity row, one stored value per feature (none
    missing). Equal to ``ours_values_field`` of each column, built in one
    numpy pass instead of a transposition and a join per column (100 x 50:
    0.10 vs 0.43 ms). Returns None when any value is not a double.
    """
    n, nf = len(rows), len(rows[0]) if rows else 0
    return _double_columns(b"".join(chain.from_iterable(rows)), n, nf)


def _double_columns(joined: bytes, n: int, nf: int) -> list[bytes] | None:
    """Re-tag ``n`` rows x ``nf`` Feast doubles (row-major) as our columns."""
    if not n or not all_feast_doubles(joined, n * nf):
        return None
    cells = np.frombuffer(joined, np.uint8).reshape(n, nf, 9)
    return ours_packed_columns(cells, None)


def ours_packed_columns(cells: np.ndarray, present: np.ndarray | None) -> list[bytes]:
    """Our ``values`` entries per feature for a block of Feast doubles.

    Args:
        cells: (rows, features, 9) serialised Feast doubles (``PackedDoubles``).
        present: Per row, whether it is stored (else a null value); None: all.
    """
    return framed_columns(cells[:, :, 1:], present, OURS_DOUBLE_ENTRY, b"\x12\x00")


def framed_columns(
    payload: np.ndarray, present: np.ndarray | None, prefix: bytes, absent: bytes
) -> list[bytes]:
    """Per feature, ``prefix + payload`` of each row joined: one bytes per column.

    Args:
        payload: (rows, features, k) bytes of each cell.
        present: Per row, False to write ``absent`` instead of the cell; None
            when every row is present.
        prefix: Field tag, length and any inner tag before each payload.
        absent: The whole entry of an absent row (an empty value).

    Returns:
        Per feature, the concatenated entries of its column.
    """
    n, nf, size = payload.shape
    width = len(prefix) + size
    out = np.empty((nf, n, width), np.uint8)
    out[:, :, : len(prefix)] = np.frombuffer(prefix, np.uint8)
    out[:, :, len(prefix) :] = payload.transpose(1, 0, 2)
    if present is None or present.all():
        return [column.tobytes() for column in out]
    absent_rows = ~present
    out[:, absent_rows, : len(absent)] = np.frombuffer(absent, np.uint8)
    keep = np.ones((n, width), bool)
    keep[absent_rows, len(absent) :] = False
    return [column.tobytes() for column in out[:, keep]]
