"""Decoding the SQLite block read's blobs, with records built by SQLite itself."""

from __future__ import annotations

import apsw
import pytest
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.services.online._sqlite_block import (
    ordered_doubles,
    record_cells,
    stamp_value,
)

_SQLITE = apsw.Connection(":memory:")
# Lengths whose length + 1 crosses a UTF-8 width, or that char() cannot write
# as itself: surrogates (55,295-57,342) and U+FFFD (65,532).
_EDGE_LENGTHS = [0, 1, 9, 125, 126, 127, 2046, 2047, 55294, 55295, 57342, 57343]
_UNREADABLE = range(55295, 57343)


def _cell(j: int, value: bytes) -> bytes:
    """One cell exactly as the block query writes it."""
    return bytes(
        _SQLITE.execute(
            "SELECT CAST(char(?, length(?) + 1) || ? AS BLOB)", (j + 1, value, value)
        ).get
    )


@st.composite
def rows(draw: st.DrawFn) -> tuple[int, dict[int, bytes]]:
    nf = draw(st.integers(1, 8))
    positions = draw(st.lists(st.integers(0, nf - 1), unique=True, max_size=nf))
    lengths = st.one_of(st.integers(0, 300), st.sampled_from(_EDGE_LENGTHS))
    values = {j: bytes([draw(st.integers(0, 255))]) * draw(lengths) for j in positions}
    return nf, values


@settings(max_examples=150, deadline=None)
@given(row=rows(), data=st.data())
def test_record_cells_reads_back_what_sqlite_wrote(row, data) -> None:
    nf, values = row
    order = data.draw(st.permutations(sorted(values)))
    record = b"".join(_cell(j, values[j]) for j in order)
    got = record_cells(record, nf)
    if any(len(v) in _UNREADABLE for v in values.values()):
        assert got is None
    else:
        assert got == [values.get(j) for j in range(nf)]


@pytest.mark.parametrize("size", [65532, 1114111])
def test_lengths_char_writes_as_the_replacement_character_are_refused(
    size: int,
) -> None:
    record = _cell(0, b"x" * size)
    assert "\ufffd".encode() in record[:4]
    assert record_cells(record, 1) is None


def test_a_truncated_record_is_refused() -> None:
    record = _cell(0, b"abcdef")
    assert record_cells(record[:-1], 1) is None
    assert record_cells(record[:1], 1) is None


@given(
    cells=st.lists(
        st.lists(st.floats(allow_nan=False), min_size=3, max_size=3),
        min_size=1,
        max_size=5,
    ),
    data=st.data(),
)
def test_double_cells_are_put_in_request_order(cells, data) -> None:
    # SQLite picks the order of a key's cells; small tables and the bench
    # table get different plans, so shuffle here.
    records, expected = [], []
    for row in cells:
        framed = [
            _cell(j, ValueProto(double_val=x).SerializeToString())
            for j, x in enumerate(row)
        ]
        records.append(b"".join(data.draw(st.permutations(framed))))
        expected.append(b"".join(c[2:] for c in framed))
    block = ordered_doubles(records, 3)
    assert block is not None
    assert [row.tobytes() for row in block] == expected


@pytest.mark.parametrize(
    "value",
    [
        ValueProto(int64_val=2**50).SerializeToString(),  # 9 bytes, other tag
        ValueProto(float_val=0.5).SerializeToString(),
        b"",
    ],
)
def test_a_cell_that_is_not_a_double_is_not_a_block(value: bytes) -> None:
    double = ValueProto(double_val=2.5).SerializeToString()
    record = _cell(0, double) + _cell(1, value)
    assert ordered_doubles([record], 2) is None
    assert record_cells(record, 2) == [double, value]


def test_a_missing_position_is_not_a_block() -> None:
    double = ValueProto(double_val=2.5).SerializeToString()
    # Same length as two cells, but position 0 twice and no position 1.
    assert ordered_doubles([_cell(0, double) * 2], 2) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [(b"1717243200", 1717243200), (b"-5", -5), (b"1717243200.5", 1717243200.5)],
)
def test_stamp_value_gives_numbers_back(text: bytes, value: object) -> None:
    assert stamp_value(text) == value
    assert type(stamp_value(text)) is type(value)


def test_stamp_value_keeps_text() -> None:
    assert stamp_value(b"2024-06-01 12:00:00") == "2024-06-01 12:00:00"
