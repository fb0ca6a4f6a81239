"""Arrow column encoding equals Feast's python_values_to_proto_values."""

from __future__ import annotations

import pyarrow as pa
import pytest
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from services.online._values import encode_column, value_text

CASES = [
    (pa.array([0, 1, None, -1, 2**62, -(2**63)], pa.int64()), ValueType.INT64),
    (pa.array([0, 127, 128, None, -5, 2**31 - 1], pa.int32()), ValueType.INT32),
    (pa.array([0.0, -1.5, None, float("nan"), 1e300], pa.float64()), ValueType.DOUBLE),
    (pa.array([0.1, None, float("nan"), -3.25], pa.float32()), ValueType.FLOAT),
    (pa.array(["", "a", None, "ü" * 200]), ValueType.STRING),
    (pa.array([b"", b"\x00\xff", None]), ValueType.BYTES),
    (pa.array([True, None, False]), ValueType.BOOL),
    (pa.array([[1, 2], None, []], pa.list_(pa.int64())), ValueType.INT64_LIST),
]


@pytest.mark.parametrize(("column", "value_type"), CASES)
def test_bytes_and_text_match_feast(column, value_type) -> None:
    protos = python_values_to_proto_values(
        column.to_numpy(zero_copy_only=False), value_type
    )
    assert encode_column(column, value_type) == [p.SerializeToString() for p in protos]
    assert value_text(column, value_type) == [
        extract_text_and_num(p, False)[0] for p in protos
    ]
