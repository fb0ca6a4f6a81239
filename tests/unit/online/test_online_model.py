"""ViewRequest construction and reader construction errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.repo_config import RepoConfig

from services.online import (
    JoinKeyType,
    Reason,
    UnsupportedOnlineStoreError,
    ViewRequest,
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
