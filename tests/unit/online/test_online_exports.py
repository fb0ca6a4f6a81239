"""The public surface of services.online is pinned."""

from __future__ import annotations

import featurestore.services.online as online


def test_exported_members() -> None:
    assert sorted(online.__all__) == [
        "FeatureStatus",
        "InvalidEntityRowsError",
        "JoinKeyType",
        "OnlineReader",
        "OnlineStoreError",
        "OnlineStoreUnavailableError",
        "OnlineTableNotFoundError",
        "PackedDoubles",
        "Reason",
        "RedisOnlineReader",
        "SqliteOnlineReader",
        "UnsupportedJoinKeyTypeError",
        "UnsupportedOnlineStoreError",
        "ViewRequest",
        "ViewResult",
        "ViewsNotMaterializedError",
        "build_online_reader",
        "client_key_fields",
    ]
    for name in online.__all__:
        assert getattr(online, name) is not None


def test_status_numbers_equal_feast_field_status() -> None:
    from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

    for status in online.FeatureStatus:
        assert FieldStatus.Value(status.name) == status.value
