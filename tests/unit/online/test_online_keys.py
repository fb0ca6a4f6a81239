"""Entity key serialisation equals Feast's serialize_entity_key byte for byte."""

from __future__ import annotations

import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.services.online import (
    InvalidEntityRowsError,
    JoinKeyType,
    Reason,
    UnsupportedJoinKeyTypeError,
)
from featurestore.services.online._keys import encode_entity_keys

_FIELD = {
    JoinKeyType.INT64: "int64_val",
    JoinKeyType.INT32: "int32_val",
    JoinKeyType.STRING: "string_val",
    JoinKeyType.BYTES: "bytes_val",
    JoinKeyType.UNIX_TIMESTAMP: "unix_timestamp_val",
}
_VALUES = {
    JoinKeyType.INT64: st.integers(-(2**63), 2**63 - 1),
    JoinKeyType.INT32: st.integers(-(2**31), 2**31 - 1),
    JoinKeyType.STRING: st.text(max_size=12),
    JoinKeyType.BYTES: st.binary(max_size=12),
    JoinKeyType.UNIX_TIMESTAMP: st.integers(0, 2**40),
}


@st.composite
def _key_sets(
    draw: st.DrawFn,
) -> tuple[tuple[str, ...], tuple[JoinKeyType, ...], list[list[object]]]:
    names = tuple(
        draw(
            st.lists(
                st.text("abcxyz_", min_size=1, max_size=6),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
    )
    types = tuple(draw(st.sampled_from(list(_FIELD))) for _ in names)
    rows = draw(st.lists(st.tuples(*(_VALUES[t] for t in types)), max_size=5))
    return names, types, [list(r) for r in rows]


# The machine is shared; generation speed is not what this test checks.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_key_sets(), st.sampled_from([2, 3]))
def test_matches_feast_serialize_entity_key(key_set, version) -> None:
    names, types, rows = key_set
    columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    ours = encode_entity_keys(names, types, columns, version)
    for row, got in zip(rows, ours, strict=True):
        proto = EntityKeyProto(
            join_keys=list(names),
            entity_values=[
                ValueProto(**{_FIELD[t]: v}) for t, v in zip(types, row, strict=True)
            ],
        )
        assert got == serialize_entity_key(
            proto, entity_key_serialization_version=version
        )


def test_infers_types_from_python_values() -> None:
    [key] = encode_entity_keys(("a", "b"), None, {"b": [b"\x00"], "a": ["x"]}, 3)
    proto = EntityKeyProto(
        join_keys=["b", "a"],
        entity_values=[ValueProto(bytes_val=b"\x00"), ValueProto(string_val="x")],
    )
    assert key == serialize_entity_key(proto)
    [ikey] = encode_entity_keys(("id",), None, {"id": [7]}, 3)
    assert ikey == serialize_entity_key(
        EntityKeyProto(join_keys=["id"], entity_values=[ValueProto(int64_val=7)])
    )


@pytest.mark.parametrize("value", [1.5, True, None])
def test_float_bool_none_keys_are_unsupported(value) -> None:
    # Feast's serialize_entity_key rejects double/float/bool values too.
    with pytest.raises(UnsupportedJoinKeyTypeError) as info:
        encode_entity_keys(("k",), None, {"k": [value]}, 3)
    assert info.value.reason is Reason.UNSUPPORTED_JOIN_KEY_TYPE


def test_missing_or_uneven_columns_are_invalid() -> None:
    with pytest.raises(InvalidEntityRowsError) as info:
        encode_entity_keys(("a",), None, {"b": [1]}, 3)
    assert info.value.metadata == {"join_key": "a"}
    with pytest.raises(InvalidEntityRowsError):
        encode_entity_keys(("a", "b"), None, {"a": [1], "b": [1, 2]}, 3)
