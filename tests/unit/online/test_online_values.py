"""Arrow column encoding equals Feast's python_values_to_proto_values."""

from __future__ import annotations

import pyarrow as pa
import pytest
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from redis.connection import PythonRespSerializer

from featurestore.services.online._values import (
    encode_column,
    resp_field_values,
    value_text,
)

# Every varint length from 1 to 10 bytes, both signs, and the int64 extremes.
# No null here: Feast's path (to_numpy) turns an int column with nulls into
# float64, which rounds values above 2**53 (we keep them exact).
_INTS = [0, 1, -1, 2**62, -(2**63), 2**63 - 1] + [
    s * (2 ** (7 * k) + d)
    for k in range(1, 10)
    for d in (-1, 0)
    for s in (1, -1)
    if -(2**63) <= s * (2 ** (7 * k) + d) < 2**63
]

CASES = [
    (pa.array(_INTS, pa.int64()), ValueType.INT64),
    (pa.array([0, 127, 128, None, -5, 2**31 - 1, -(2**31)], pa.int32()),
     ValueType.INT32),
    (pa.array([3, None, -(2**40)], pa.int64()), ValueType.INT64),
    (pa.array([0.0, -0.0, -1.5, None, float("nan"), 1e300, float("inf"), 1e-05],
              pa.float64()), ValueType.DOUBLE),
    (pa.array([0.1, None, float("nan"), -3.25, float("-inf"), 0.0], pa.float32()),
     ValueType.FLOAT),
    (pa.chunked_array([[1.5, None], [], [float("nan"), 2.25]]), ValueType.DOUBLE),
    (pa.chunked_array([[1, None], [2**35, -7]], pa.int64()), ValueType.INT64),
    (pa.array(["", "a", None, "ü" * 200]), ValueType.STRING),
    (pa.array([b"", b"\x00\xff", None]), ValueType.BYTES),
    (pa.array([True, None, False]), ValueType.BOOL),
    (pa.chunked_array([[True], [None, False, True]]), ValueType.BOOL),
    (pa.array([[1, 2], None, []], pa.list_(pa.int64())), ValueType.INT64_LIST),
    (pa.array([], pa.float64()), ValueType.DOUBLE),
    (pa.array([], pa.int64()), ValueType.INT64),
]  # fmt: skip


@pytest.mark.parametrize(("column", "value_type"), CASES)
def test_bytes_and_text_match_feast(column, value_type) -> None:
    protos = python_values_to_proto_values(
        column.to_numpy(zero_copy_only=False), value_type
    )
    encoded = encode_column(column, value_type)
    assert encoded == [p.SerializeToString() for p in protos]
    assert all(type(b) is bytes for b in encoded)
    assert value_text(column, value_type) == [
        extract_text_and_num(p, False)[0] for p in protos
    ]


def test_double_payload_is_tag_and_little_endian_bytes() -> None:
    # Pins the wire layout the numpy path relies on (tag 0x29, 8 LE bytes).
    [encoded] = encode_column(pa.array([1.0]), ValueType.DOUBLE)
    assert encoded == b"\x29\x00\x00\x00\x00\x00\x00\xf0\x3f"


@pytest.mark.parametrize(("column", "value_type"), CASES)
def test_resp_pieces_equal_redis_py_packing(column, value_type) -> None:
    # An HSET of one field per row, framed by redis-py's own serializer.
    pack = PythonRespSerializer(6000, lambda v: v).pack
    field = b"\x01\x02\r\n"
    pieces = resp_field_values(column, value_type, field)
    for value, piece in zip(encode_column(column, value_type), pieces, strict=True):
        head = b"*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n"
        assert head + piece == b"".join(pack(b"HSET", b"k", field, value))
