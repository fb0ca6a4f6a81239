"""The public surface of services.offline is pinned."""

from __future__ import annotations

import featurestore.services.offline as offline


def test_exported_members():
    assert sorted(offline.__all__) == sorted(
        [
            "Cancellation",
            "DeltaOfflineStore", "DeltaOfflineStoreConfig", "DeltaRetrievalJob",
            "EntityColumnMissingError", "FeatureColumnMissingError",
            "FeatureColumnTypeError", "FeatureNotFoundError",
            "FeatureServiceNotFoundError",
            "FeatureViewNotFoundError", "HistoricalRequest", "HistoricalResult",
            "InvalidRequestError", "InvalidTimestampError", "JoinedRows", "Manifest",
            "NaiveTimestampError", "OfflineStoreError", "Reason",
            "RequestCancelledError", "Snapshot",
            "TableNotFoundError", "TableRead", "UnsupportedSourceError",
            "VersionNotFoundError", "ViewInput", "commit_metadata",
            "get_historical_features", "point_in_time_join", "point_in_time_rows",
            "read_snapshot", "replay",
        ]
    )  # fmt: skip
    for name in offline.__all__:
        assert getattr(offline, name).__module__.startswith(
            "featurestore.services.offline"
        )


def test_feast_resolves_the_store_from_its_type():
    from feast.infra.offline_stores.offline_utils import get_offline_store_from_config
    from feast.repo_config import get_offline_config_from_type

    config_cls = get_offline_config_from_type(
        "featurestore.services.offline.DeltaOfflineStore"
    )
    store = get_offline_store_from_config(config_cls())
    assert isinstance(store, offline.DeltaOfflineStore)
    assert store.supports_filter_by_created_timestamp
