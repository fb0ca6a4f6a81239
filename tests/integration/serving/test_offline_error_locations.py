"""Errors about a feature view's Delta table name the view, never where the
table lives, in the message and in ErrorInfo metadata (direct and via fs-front)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import NOW, TS, Served, wait_for

pytestmark = pytest.mark.integration

CUSTOMER = pa.table(
    {"customer_id": pa.array([3], pa.int64()), "event_timestamp": pa.array([NOW], TS)}
)
MERCHANT = pa.table({"merchant_id": ["M1"], "event_timestamp": pa.array([NOW], TS)})


def _view(name: str, path: str, created: str = "created_timestamp") -> FeatureView:
    return FeatureView(
        name=name,
        entities=[
            Entity(
                name="customer", join_keys=["customer_id"], value_type=ValueType.INT64
            )
        ],
        ttl=timedelta(days=1),
        schema=[Field(name="spend", dtype=Float64)],
        source=FileSource(
            name=name,
            path=path,
            file_format=DeltaFormat(),
            timestamp_field="event_timestamp",
            created_timestamp_column=created,
        ),
    )


def _request(
    feature: str, entity: pa.Table = CUSTOMER, pins: dict[str, int] | None = None
) -> pb.GetHistoricalFeaturesRequest:
    return pb.GetHistoricalFeaturesRequest(
        features=[feature],
        entity_rows_arrow=write_ipc(entity),
        pins={v: common_pb2.TablePin(version=n) for v, n in (pins or {}).items()},
    )


def _refusal(
    served: Served, request: pb.GetHistoricalFeaturesRequest
) -> tuple[str, str, dict[str, str]]:
    """(reason, message, ErrorInfo metadata), once the registry refresh has
    the request's view."""
    stub = FeatureStoreServiceStub(served.channel)
    caught: list[grpc.RpcError] = []

    def refused() -> bool:
        try:
            list(stub.GetHistoricalFeatures(request, timeout=20))
        except grpc.RpcError as err:
            caught[:] = [err]
            return _info(err).reason != "FEATURE_VIEW_NOT_FOUND"
        raise AssertionError(f"{request.features} was served")

    wait_for(refused, timeout_s=20)
    info = _info(caught[0])
    return info.reason, caught[0].details() or "", dict(info.metadata)


def _info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


def test_table_errors_name_the_view_not_the_location(sqlite_served: Served) -> None:
    repo = Path(sqlite_served.store.repo_path)
    # merchant_risk loses a data file behind Delta's back.
    next((repo / "data" / "merchant_risk").glob("*.parquet")).unlink()
    sqlite_served.store.apply(
        [
            _view("no_table", "data/never_written"),
            _view("typo", "data/customer_stats", created="created_at"),
        ]
    )
    cases = {
        "VERSION_NOT_FOUND": (
            "customer_stats",
            _request("customer_stats:spend", pins={"customer_stats": 999}),
        ),
        "TABLE_NOT_FOUND": ("no_table", _request("no_table:spend")),
        "FEATURE_COLUMN_MISSING": ("typo", _request("typo:spend")),
        "STORAGE_UNAVAILABLE": (
            "merchant_risk",
            _request("merchant_risk:fraud_rate", MERCHANT),
        ),
    }
    for expected, (view, request) in cases.items():
        reason, message, metadata = _refusal(sqlite_served, request)
        assert reason == expected, message
        assert f"'{view}'" in message, message
        assert metadata.get("view") == view, metadata
        assert "path" not in metadata, (expected, metadata)
        for text in (message, *metadata.values()):
            assert str(repo.parent) not in text, (expected, text)
            assert "data/" not in text, (expected, text)
