"""ViewRequest construction and reader construction errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig

from featurestore.services.online import (
    FeatureStatus,
    JoinKeyType,
    PackedDoubles,
    Reason,
    UnsupportedOnlineStoreError,
    ViewRequest,
    ViewResult,
    build_online_reader,
)
from tests.unit.online import _world as w


def test_from_feature_view_takes_keys_types_ttl() -> None:
    req = ViewRequest.from_feature_view(w.user_item_view)
    assert req.join_keys == ("user_id", "item_id")
    assert req.join_key_types == (JoinKeyType.STRING, JoinKeyType.INT64)
    assert req.features == ("score", "clicked")
    assert req.ttl is None  # timedelta(0) means no TTL in Feast
    assert ViewRequest.from_feature_view(w.driver_stats_view).ttl == timedelta(hours=2)


def test_versioned_tables_are_rejected(tmp_path) -> None:
    config = RepoConfig(
        project="p",
        provider="local",
        registry={
            "path": str(tmp_path / "r.db"),
            "enable_online_feature_view_versioning": True,
        },
        online_store=SqliteOnlineStoreConfig(path=str(tmp_path / "o.db")),
    )
    with pytest.raises(UnsupportedOnlineStoreError) as info:
        build_online_reader(config)
    assert info.value.reason is Reason.UNSUPPORTED_ONLINE_STORE


class _FreshRows(Sequence[tuple[bytes, ...]]):
    """Rows as PackedDoubles hands them out: a new tuple on every access."""

    def __init__(self, rows: list[list[bytes]]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return tuple(self._rows[index])


def test_values_of_rows_made_on_access_are_each_rows_own() -> None:
    # A freed row tuple goes back to CPython's tuple free list and the next
    # row gets its address: a parse cache keyed by id() alone gave row 2 the
    # values of row 0 (found by test_random_double_reads_match_feast).
    rows = [[ValueProto(double_val=float(i)).SerializeToString()] for i in range(6)]
    result = ViewResult(
        "v", ("a",), [w.NOW] * 6, _FreshRows(rows), [FeatureStatus.PRESENT] * 6
    )
    assert [row[0].double_val for row in result.values] == [0.0, 1, 2, 3, 4, 5]


def test_values_of_a_packed_block_with_absent_rows() -> None:
    doubles = [[1.5, -2.0], [3.25, 4.0], [9.0, 0.5]]
    cells = np.frombuffer(
        b"".join(
            ValueProto(double_val=x).SerializeToString() for r in doubles for x in r
        ),
        np.uint8,
    ).reshape(3, 2, 9)
    present = np.array([True, False, True])
    ok, absent = FeatureStatus.PRESENT, FeatureStatus.NOT_FOUND
    result = ViewResult(
        "v", ("a", "b"), [w.NOW, None, w.NOW], PackedDoubles(cells, present),
        [ok, absent, ok],
    )  # fmt: skip
    got = [[None if v is None else v.double_val for v in row] for row in result.values]
    assert got == [[1.5, -2.0], [None, None], [9.0, 0.5]]
    assert result.statuses == [[ok, ok], [absent, absent], [ok, ok]]
