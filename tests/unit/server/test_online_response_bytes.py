"""Online responses framed as wire bytes equal the message built field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
import pytest
from feast.protos.feast.serving import ServingService_pb2 as serving_pb
from feast.protos.feast.types.Value_pb2 import Value as FeastValue
from feast.type_map import NULL_TIMESTAMP_INT_VALUE
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.services.online import FeatureStatus, PackedDoubles, ViewResult
from featurestore.services.server.errors import grpc_code
from featurestore.services.server.feast_serving import _feature_vectors
from featurestore.services.server.online_features import (
    _feature_columns,
    _one_row_of_doubles,
)
from featurestore.services.server.values import (
    UnservableValueError,
    from_feast,
    ours_double_columns,
    ours_value_field,
)
from featurestore.v1 import feature_store_service_pb2 as pb

_STATUS = {
    FeatureStatus.PRESENT: pb.FEATURE_STATUS_PRESENT,
    FeatureStatus.NOT_FOUND: pb.FEATURE_STATUS_NOT_FOUND,
    FeatureStatus.OUTSIDE_MAX_AGE: pb.FEATURE_STATUS_OUTSIDE_MAX_AGE,
}
_BASE = datetime(2026, 11, 1, tzinfo=UTC)

int64s = st.integers(-(2**63), 2**63 - 1)
int32s = st.integers(-(2**31), 2**31 - 1)
# Lists as Feast stores them (Float32 ones are re-tagged and widened, the
# others re-tagged or converted): NULL_TIMESTAMP_INT_VALUE marks a null.
lists = st.one_of(
    st.lists(int64s, max_size=4).map(lambda x: FeastValue(int64_list_val={"val": x})),
    st.lists(int32s, max_size=4).map(lambda x: FeastValue(int32_list_val={"val": x})),
    st.lists(st.floats(allow_nan=False), max_size=4).map(
        lambda x: FeastValue(double_list_val={"val": x})
    ),
    st.lists(st.floats(width=32, allow_nan=False), max_size=200).map(
        lambda x: FeastValue(float_list_val={"val": x})
    ),
    st.lists(st.text(max_size=20), max_size=4).map(
        lambda x: FeastValue(string_list_val={"val": x})
    ),
    st.lists(st.binary(max_size=20), max_size=4).map(
        lambda x: FeastValue(bytes_list_val={"val": x})
    ),
    st.lists(st.booleans(), max_size=4).map(
        lambda x: FeastValue(bool_list_val={"val": x})
    ),
    st.lists(st.sampled_from([0, 10**9, NULL_TIMESTAMP_INT_VALUE]), max_size=4).map(
        lambda x: FeastValue(unix_timestamp_list_val={"val": x})
    ),
)
values = st.one_of(
    st.none(),
    st.floats(allow_nan=False).map(lambda x: FeastValue(double_val=x)),
    int64s.map(lambda x: FeastValue(int64_val=x)),
    st.text(max_size=150).map(lambda x: FeastValue(string_val=x)),
    st.booleans().map(lambda x: FeastValue(bool_val=x)),
    lists,
).map(lambda v: None if v is None else v.SerializeToString())


@st.composite
def view_results(draw: st.DrawFn) -> ViewResult:
    nf = draw(st.integers(1, 4))
    n = draw(st.integers(1, 4))
    features = tuple(f"f{j}" for j in range(nf))
    rows, times, statuses = [], [], []
    for _ in range(n):
        if draw(st.booleans()) and draw(st.booleans()):
            rows.append(None)
            times.append(None)
            statuses.append(FeatureStatus.NOT_FOUND)
            continue
        rows.append(tuple(draw(values) for _ in range(nf)))
        times.append(_BASE + timedelta(microseconds=draw(st.integers(0, 10**12))))
        kept = [FeatureStatus.PRESENT, FeatureStatus.OUTSIDE_MAX_AGE]
        statuses.append(draw(st.sampled_from(kept)))
    return ViewResult("v", features, times, rows, statuses)


def _expected(result: ViewResult, full_names: bool) -> pb.GetOnlineFeaturesResponse:
    """The same columns built with the protobuf API, one field at a time."""
    out = pb.GetOnlineFeaturesResponse()
    for j, feature in enumerate(result.features):
        column = out.columns.add(name=f"v__{feature}" if full_names else feature)
        for row, moment, status in zip(
            result.raw_values, result.event_times, result.row_statuses, strict=True
        ):
            raw = None if row is None else row[j]
            value = None if raw is None else FeastValue.FromString(raw)
            column.values.append(from_feast(value))
            if row is not None and raw is None:
                status = FeatureStatus.NOT_FOUND
            column.statuses.append(_STATUS[status])
            stamp = column.event_times.add()
            if moment is not None:
                stamp.FromDatetime(moment)
    return out


@settings(max_examples=300, deadline=None)
@given(result=view_results(), full_names=st.booleans())
def test_framed_columns_equal_the_message_built_field_by_field(
    result: ViewResult, full_names: bool
) -> None:
    got = pb.GetOnlineFeaturesResponse.FromString(
        b"".join(_feature_columns(result, full_names, result.view))
    )
    assert got == _expected(result, full_names)


@pytest.mark.parametrize("n", [1, 3])
def test_a_stored_row_missing_one_feature_reports_only_that_cell(n: int) -> None:
    present = FeastValue(double_val=1.5).SerializeToString()
    rows = [(present, None, present)] * n
    result = ViewResult(
        "v", ("a", "b", "c"), [_BASE] * n, rows, [FeatureStatus.PRESENT] * n
    )
    got = pb.GetOnlineFeaturesResponse.FromString(
        b"".join(_feature_columns(result, False, result.view))
    )
    assert [list(c.statuses) for c in got.columns] == [
        [pb.FEATURE_STATUS_PRESENT] * n,
        [pb.FEATURE_STATUS_NOT_FOUND] * n,
        [pb.FEATURE_STATUS_PRESENT] * n,
    ]


doubles = st.floats(allow_nan=True).map(
    lambda x: FeastValue(double_val=x).SerializeToString()
)


@st.composite
def dense_double_results(draw: st.DrawFn) -> ViewResult:
    """Every entity stored with every feature, all doubles: the numpy path."""
    nf = draw(st.integers(1, 5))
    n = draw(st.integers(2, 6))
    rows = [tuple(draw(doubles) for _ in range(nf)) for _ in range(n)]
    times = [_BASE + timedelta(seconds=draw(st.integers(0, 10**6))) for _ in rows]
    kept = st.sampled_from([FeatureStatus.PRESENT, FeatureStatus.OUTSIDE_MAX_AGE])
    statuses = [draw(kept) for _ in rows]
    return ViewResult("v", tuple(f"f{j}" for j in range(nf)), times, rows, statuses)


@settings(max_examples=200, deadline=None)
@given(result=dense_double_results())
def test_all_double_columns_equal_the_message_built_field_by_field(
    result: ViewResult,
) -> None:
    assert ours_double_columns(result.raw_values) is not None  # type: ignore[arg-type]
    got = pb.GetOnlineFeaturesResponse.FromString(
        b"".join(_feature_columns(result, False, result.view))
    )
    expected = _expected(result, False)
    # NaN != NaN in message equality: compare the serialised forms.
    assert got.SerializeToString() == expected.SerializeToString()


@pytest.mark.parametrize(
    "odd",
    [
        FeastValue(int64_val=2**50).SerializeToString(),  # 9 bytes, not a double
        FeastValue(string_val="seven c").SerializeToString(),  # 9 bytes too
        FeastValue(float_val=1.5).SerializeToString(),
    ],
)
def test_a_column_that_is_not_all_doubles_takes_the_general_path(odd: bytes) -> None:
    double = FeastValue(double_val=2.5).SerializeToString()
    rows = [(double, double), (double, odd), (double, double)]
    assert ours_double_columns(rows) is None
    result = ViewResult("v", ("a", "b"), [_BASE] * 3, rows, [FeatureStatus.PRESENT] * 3)
    got = pb.GetOnlineFeaturesResponse.FromString(
        b"".join(_feature_columns(result, False, result.view))
    )
    assert got == _expected(result, False)


@settings(max_examples=200, deadline=None)
@given(
    row=st.lists(doubles, min_size=1, max_size=6),
    stale=st.booleans(),
    seconds=st.integers(0, 10**9),
    full_names=st.booleans(),
)
def test_one_entity_of_doubles_frames_like_the_message_built_field_by_field(
    row: list[bytes], stale: bool, seconds: int, full_names: bool
) -> None:
    status = FeatureStatus.OUTSIDE_MAX_AGE if stale else FeatureStatus.PRESENT
    moment = _BASE + timedelta(seconds=seconds, microseconds=seconds % 7)
    features = tuple(f"f{j}" for j in range(len(row)))
    result = ViewResult("v", features, [moment], [tuple(row)], [status])
    assert _one_row_of_doubles(result, full_names, b"tail", result.view) is not None
    got = b"".join(_feature_columns(result, full_names, result.view))
    # NaN != NaN in message equality: compare the serialised forms.
    assert got == _expected(result, full_names).SerializeToString()


@pytest.mark.parametrize(
    "odd",
    [
        FeastValue(int64_val=2**50).SerializeToString(),  # 9 bytes, not a double
        FeastValue(string_val="seven c").SerializeToString(),  # 9 bytes too
        FeastValue(float_val=1.5).SerializeToString(),
        None,  # stored without this feature
    ],
)
def test_one_entity_not_all_doubles_takes_the_general_path(odd: bytes | None) -> None:
    double = FeastValue(double_val=2.5).SerializeToString()
    result = ViewResult(
        "v", ("a", "b", "c"), [_BASE], [(double, odd, double)], [FeatureStatus.PRESENT]
    )
    assert _one_row_of_doubles(result, False, b"", result.view) is None
    got = pb.GetOnlineFeaturesResponse.FromString(
        b"".join(_feature_columns(result, False, result.view))
    )
    assert got == _expected(result, False)


@st.composite
def packed_results(draw: st.DrawFn) -> ViewResult:
    """A block of doubles as the SQLite reader returns it, some rows absent."""
    nf = draw(st.integers(1, 5))
    n = draw(st.integers(1, 6))
    present = np.array([draw(st.booleans()) for _ in range(n)])
    cells = np.frombuffer(
        b"".join(draw(doubles) for _ in range(n * nf)), np.uint8
    ).reshape(n, nf, 9)
    times = [
        _BASE + timedelta(seconds=draw(st.integers(0, 10**6))) if p else None
        for p in present
    ]
    kept = st.sampled_from([FeatureStatus.PRESENT, FeatureStatus.OUTSIDE_MAX_AGE])
    statuses = [draw(kept) if p else FeatureStatus.NOT_FOUND for p in present]
    features = tuple(f"f{j}" for j in range(nf))
    return ViewResult("v", features, times, PackedDoubles(cells, present), statuses)


def _unpacked(result: ViewResult) -> ViewResult:
    """The same result with its rows as plain tuples (the row-per-value read)."""
    rows = list(result.raw_values)
    return ViewResult(
        result.view, result.features, result.event_times, rows, result.row_statuses
    )


@settings(max_examples=200, deadline=None)
@given(result=packed_results(), full_names=st.booleans())
def test_packed_doubles_frame_like_the_message_built_field_by_field(
    result: ViewResult, full_names: bool
) -> None:
    assert isinstance(result.raw_values, PackedDoubles)
    got = b"".join(_feature_columns(result, full_names, result.view))
    expected = _expected(_unpacked(result), full_names)
    # NaN != NaN in message equality: compare the serialised forms.
    assert got == expected.SerializeToString()


@settings(max_examples=200, deadline=None)
@given(result=packed_results())
def test_packed_doubles_frame_feast_vectors_like_plain_rows(result: ViewResult) -> None:
    got = b"".join(_feature_vectors(result))
    assert got == b"".join(_feature_vectors(_unpacked(result)))
    vectors = serving_pb.GetOnlineFeaturesResponse.FromString(got).results
    assert len(vectors) == len(result.features)
    for j, vector in enumerate(vectors):
        for i, row in enumerate(result.raw_values):
            stored = b"" if row is None else row[j]
            assert vector.values[i].SerializeToString() == stored
            assert vector.statuses[i] == result.row_statuses[i]


@pytest.mark.parametrize(
    "stored",
    [
        FeastValue(map_val={"val": {"k": FeastValue(int64_val=1)}}),
        FeastValue(int64_set_val={"val": [1, 2]}),
        FeastValue(json_val='{"a": 1}'),
    ],
)
def test_a_stored_kind_value_cannot_carry_is_refused_not_nulled(
    stored: FeastValue,
) -> None:
    # It was served as null with the stored row's status (PRESENT).
    raw = stored.SerializeToString()
    with pytest.raises(UnservableValueError) as refused:
        ours_value_field(raw)
    assert grpc_code(refused.value) == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.metadata == {"kind": stored.WhichOneof("val")}
