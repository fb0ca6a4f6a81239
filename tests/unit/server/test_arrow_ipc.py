"""ipc_chunks: pieces bounded by bytes, one valid stream when concatenated."""

from __future__ import annotations

import pyarrow as pa
import pytest

from featurestore.services.server.arrow_ipc import ipc_chunks
from featurestore.services.server.errors import ResourceExhaustedError

SCHEMA = pa.schema([("id", pa.int64()), ("text", pa.string())])


def _batch(texts: list[str], first_id: int = 0) -> pa.RecordBatch:
    ids = list(range(first_id, first_id + len(texts)))
    return pa.record_batch([pa.array(ids, pa.int64()), pa.array(texts)], SCHEMA)


def _stream(batches: list[pa.RecordBatch], budget: int, most: int) -> list[bytes]:
    return list(ipc_chunks(iter(batches), SCHEMA, budget, most))


def test_uneven_rows_are_sliced_to_fit_and_reassemble_in_order() -> None:
    texts = ["a" * 10] * 300 + ["b" * 2_000] * 20 + ["c" * 10] * 300
    batches = [_batch(texts), _batch(["d" * 50] * 100, len(texts))]
    pieces = _stream(batches, 8_192, 1 << 20)
    assert max(map(len, pieces)) <= 8_192
    table = pa.ipc.open_stream(b"".join(pieces)).read_all()
    assert table.column("id").to_pylist() == list(range(len(texts) + 100))
    assert table.column("text").to_pylist() == texts + ["d" * 50] * 100


def test_a_row_over_the_budget_goes_alone() -> None:
    pieces = _stream([_batch(["x"] * 10 + ["y" * 20_000] + ["z"] * 10)], 4_096, 1 << 20)
    table = pa.ipc.open_stream(b"".join(pieces)).read_all()
    assert table.num_rows == 21
    (big,) = [p for p in pieces if len(p) > 4_096]
    assert len(big) < 21_000  # the long row without its neighbours


def test_a_row_over_the_send_limit_is_refused_naming_it() -> None:
    batches = [_batch(["x"] * 10), _batch(["x"] * 3 + ["y" * 50_000], 10)]
    with pytest.raises(ResourceExhaustedError) as refused:
        _stream(batches, 4_096, 32_768)
    assert refused.value.reason == "ROW_TOO_LARGE"
    assert refused.value.metadata["row"] == "13"
    assert refused.value.metadata["limit"] == "32768"
