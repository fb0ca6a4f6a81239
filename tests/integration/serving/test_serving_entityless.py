"""Online reads of an entity-less view ask for no key, as Feast's SDK does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from feast.protos.feast.serving import ServingService_pb2 as spb
from feast.protos.feast.serving.ServingService_pb2_grpc import ServingServiceStub
from feast.protos.feast.types.Value_pb2 import RepeatedValue
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from featurestore.services.online.materialize import materialize
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.serving._repo import (
    DEFINITIONS,
    NOW,
    TS,
    Served,
    make_repo,
    serve,
    sqlite_online,
    write_online,
)

pytestmark = pytest.mark.integration

# Feast gives a view with entities=[] its dummy entity (join key __dummy_id).
GLOB = """
glob_view = FeatureView(
    name="glob", entities=[], ttl=timedelta(days=1),
    schema=[Field(name="g", dtype=Float64)],
    source=FileSource(name="glob", path="data/glob", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp"),
)
"""
REFS = ["glob:g", "customer_stats:spend"]


def glob_repo(tmp_path: Path, extra: str = "", names: tuple[str, ...] = ()):
    """The serving repo plus "glob", materialised (Feast's bytes).

    ``extra`` defines more objects (over the repo's and glob's names), and
    those ``names`` are applied too.
    """
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    at = [NOW - timedelta(hours=3), NOW - timedelta(hours=1)]
    write_deltalake(
        str(Path(store.repo_path) / "data" / "glob"),
        pa.table({"g": [1.5, 2.5], "event_timestamp": pa.array(at, TS)}),
    )
    ns: dict[str, object] = {}
    exec(DEFINITIONS + GLOB + extra, ns)
    store.apply([ns[name] for name in ("glob_view", *names)])
    start, end = NOW - timedelta(days=1), NOW + timedelta(minutes=1)
    assert materialize(store.repo_path, start, end, ["glob"]) == {"glob": 1}
    return store


@pytest.fixture
def served(tmp_path: Path, transport: bool) -> Iterator[Served]:
    """The serving repo plus "glob", materialised (Feast's bytes), served."""
    running = serve(glob_repo(tmp_path), transport, registry_refresh_seconds=0.2)
    yield running
    running.stop()


def _ours(served: Served, features: list[str], **keys: list[int | str]):
    entities = {
        name: common_pb2.ValueList(
            values=[
                common_pb2.Value(string_value=v)
                if isinstance(v, str)
                else common_pb2.Value(int64_value=v)
                for v in values
            ]
        )
        for name, values in keys.items()
    }
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    request = pb.GetOnlineFeaturesRequest(features=features, entities=entities)
    return stub.GetOnlineFeatures(request, timeout=10)


def test_our_api_needs_no_dummy_key_and_returns_none(served):
    # It was INVALID_ARGUMENT "feature view 'glob' needs join key '__dummy_id'".
    response = _ours(served, REFS, customer_id=[3, 999])
    columns = {c.name: c for c in response.columns}
    assert list(columns) == ["customer_id", "g", "spend"]
    assert [v.double_value for v in columns["g"].values] == [2.5, 2.5]
    assert list(columns["g"].statuses) == [pb.FEATURE_STATUS_PRESENT] * 2
    assert columns["spend"].values[0].double_value == 30.5
    # Only the entity-less view: the entity rows still count the rows.
    response = _ours(served, ["glob:g"], customer_id=[3, 4, 5])
    assert [c.name for c in response.columns] == ["customer_id", "g"]
    assert [v.double_value for v in response.columns[1].values] == [2.5] * 3
    # The dummy key sent anyway is never echoed (Feast drops it too).
    response = _ours(served, REFS, customer_id=[3], __dummy_id=[""])
    assert [c.name for c in response.columns] == ["customer_id", "g", "spend"]


def test_feast_serving_answers_as_feasts_sdk(served):
    # It was INVALID_ARGUMENT "a requested feature view needs join key
    # '__dummy_id'"; with __dummy_id sent, it came back as a column.
    stub = ServingServiceStub(served.channel)
    ids = RepeatedValue(val=[ValueProto(int64_val=c) for c in (3, 999)])
    ours = stub.GetOnlineFeatures(
        spb.GetOnlineFeaturesRequest(
            features=spb.FeatureList(val=REFS), entities={"customer_id": ids}
        ),
        timeout=10,
    )
    rows = [{"customer_id": 3}, {"customer_id": 999}]
    theirs = served.store.get_online_features(REFS, rows).proto
    names = list(ours.metadata.feature_names.val)
    assert names == ["customer_id", "g", "spend"]
    assert sorted(names) == sorted(theirs.metadata.feature_names.val)
    by_name = dict(zip(theirs.metadata.feature_names.val, theirs.results, strict=True))
    for name, result in zip(names, ours.results, strict=True):
        assert list(result.values) == list(by_name[name].values), name
        assert list(result.statuses) == list(by_name[name].statuses), name


def test_the_catalogue_lists_no_join_key_for_it(served):
    # It was join_keys ['__dummy_id'] (Feast's SDK hides its dummy entity).
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    got = stub.GetFeatureView(pb.GetFeatureViewRequest(name="glob"), timeout=10)
    view = got.feature_view
    assert list(view.join_keys) == served.store.get_feature_view("glob").entities == []
    # Nothing else changes: the answer as before, less the join key.
    assert (view.name, view.ttl.ToTimedelta()) == ("glob", timedelta(days=1))
    assert [(f.name, f.dtype) for f in view.features] == [("g", "Float64")]
    assert view.source_path == ""  # a folder, not a table reference: not sent
    listed = stub.ListFeatureViews(pb.ListFeatureViewsRequest(), timeout=10)
    by_name = {v.name: v for v in listed.feature_views}
    assert by_name["glob"] == view
    assert list(by_name["customer_stats"].join_keys) == ["customer_id"]
