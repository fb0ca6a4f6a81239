"""ListProfiles and ListDriftScores over gRPC, directly and through fs-front: the
profiles and scores the monitoring readers give, behind DESCRIBE per view."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from deltalake import DeltaTable, write_deltalake
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat, ParquetFormat
from feast.types import Float64, Int64, String

from featurestore.services.monitoring import read_drift, read_profiles
from featurestore.services.monitoring._schema import profile_location, to_table
from featurestore.services.monitoring.assess import Assessment
from featurestore.services.monitoring.snapshot import (
    open_snapshot,
    profile_dataset,
    reference_from_snapshot,
)
from featurestore.services.project import Project
from featurestore.v1 import feature_store_service_pb2 as fs_pb
from featurestore.v1 import feature_store_service_pb2_grpc as fs_grpc
from featurestore.v1 import monitoring_service_pb2 as pb
from featurestore.v1 import monitoring_service_pb2_grpc as pb_grpc
from tests.integration.monitoring._monitored import scrape
from tests.integration.serving._repo import Served, serve
from tests.unit.monitoring._support import contract, rows, write_versions

pytestmark = pytest.mark.integration

DRIFT = """customProperties:
  - property: drift
    value:
      on_drift: warn
      columns:
        city: {metric: js, warn: 0.01, fail: 0.9}
"""
YAML = """project: profiles_it
registry: {root}/registry.db
provider: local
online_store: {{type: sqlite, path: {root}/online.db}}
offline_store: {{type: featurestore.services.offline.DeltaOfflineStore}}
entity_key_serialization_version: 3
"""


def _profile(project: Project) -> None:
    """Versions 0 and 1 (shifted) of shop, each profiled as a publish would."""
    location = project.table_uri("shop")
    write_versions(location, rows(600), rows(600, shift=1.0, seed=2))
    settings = contract(DRIFT).drift
    ref = reference_from_snapshot(open_snapshot(location, 0), 0, settings)
    at = datetime(2026, 2, 1, tzinfo=UTC)
    previous = None
    for version in (0, 1):
        assessment = Assessment(
            "shop",
            profile_dataset(open_snapshot(location, version), settings, ref),
            settings,
            ref,
            previous,
        )
        write_deltalake(
            profile_location(location),
            to_table(assessment.rows(version, source="publish", run_id=f"r{version}",
                                     at=at)),
            mode="append",
        )  # fmt: skip
        previous = read_profiles(project, "shop", version)[0]
    # Version 2: a table-property commit, never profiled (version 1's rows).
    DeltaTable(location).alter.set_table_properties({"delta.appendOnly": "false"})


@pytest.fixture
def profiled(tmp_path: Path, transport: bool) -> Iterator[tuple[Served, Project]]:
    repo, data = tmp_path / "repo", tmp_path / "data"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(YAML.format(root=tmp_path))
    project = Project.load(repo, env={"FS_DATA_DIR": str(data)})
    _profile(project)
    shop = Entity(name="shop", join_keys=["shop_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name="shop",
        entities=[shop],
        schema=[Field(name="amount", dtype=Float64),
                Field(name="visits", dtype=Int64), Field(name="city", dtype=String)],
        source=FileSource(name="shop", path=project.table_uri("shop"),
                          file_format=DeltaFormat(), timestamp_field="event_timestamp"),
        tags={"contract": "shop"},
    )  # fmt: skip
    unprofiled = FeatureView(
        name="elsewhere",
        entities=[shop],
        schema=[Field(name="amount", dtype=Float64)],
        source=FileSource(name="elsewhere", path=str(tmp_path / "other"),
                          file_format=DeltaFormat(), timestamp_field="event_timestamp"),
    )  # fmt: skip
    flat = FeatureView(
        name="flat",
        entities=[shop],
        schema=[Field(name="amount", dtype=Float64)],
        source=FileSource(name="flat", path=str(tmp_path / "flat.parquet"),
                          file_format=ParquetFormat(),
                          timestamp_field="event_timestamp"),
    )  # fmt: skip
    store = FeatureStore(repo_path=str(repo))
    store.apply([shop, view, unprofiled, flat])
    served = serve(store, transport, data_dir=data)
    yield served, project
    served.stop()


def test_profiles_are_the_readers(profiled: tuple[Served, Project]) -> None:
    served, project = profiled
    stub = pb_grpc.MonitoringServiceStub(served.channel)
    got = stub.ListProfiles(pb.ListProfilesRequest(parent="shop")).profiles
    expected = read_profiles(project, "shop")
    assert [p.version for p in got] == [p.version for p in expected] == [0, 1]
    for message, profile in zip(got, expected, strict=True):
        assert message.feature_view == "shop" and message.table == "shop"
        assert message.run_id == profile.run_id
        assert message.row_count == profile.row_count == 600
        assert message.source == pb.PROFILE_SOURCE_PUBLISH
        assert message.profile_time.ToDatetime(UTC) == profile.profiled_at
        assert message.reference_version == profile.reference_version
        for column, want in zip(message.columns, profile.columns, strict=True):
            assert column.feature == want.feature
            assert column.null_count == want.null_count
            assert list(column.counts) == list(want.counts)
            assert list(column.reference_counts) == list(want.reference_counts)
            assert list(column.edges) == list(want.edges)
            assert list(column.categories) == list(want.categories)
            assert list(column.bucket_labels) == list(want.bucket_labels)
            assert (column.mean if column.HasField("mean") else None) == want.mean
    one = stub.ListProfiles(pb.ListProfilesRequest(parent="shop", version=1))
    assert [p.version for p in one.profiles] == [1]
    first = stub.ListProfiles(pb.ListProfilesRequest(parent="shop", page_size=1))
    assert [p.version for p in first.profiles] == [0] and first.next_page_token
    # A token pages only the request it was issued for (AIP-158): another
    # version, another list, another method each refuse it.
    token = first.next_page_token
    for other in (
        lambda: stub.ListProfiles(
            pb.ListProfilesRequest(parent="shop", version=0, page_token=token)
        ),
        lambda: stub.ListDriftScores(
            pb.ListDriftScoresRequest(parent="shop", page_token=token)
        ),
        lambda: fs_grpc.FeatureStoreServiceStub(served.channel).ListFeatureViews(
            fs_pb.ListFeatureViewsRequest(page_token=token)
        ),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            other()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "issued for another request" in refused.value.details()


def test_drift_scores_are_the_readers(profiled: tuple[Served, Project]) -> None:
    served, project = profiled
    stub = pb_grpc.MonitoringServiceStub(served.channel)
    got = stub.ListDriftScores(pb.ListDriftScoresRequest(parent="shop", version=1))
    expected = read_drift(project, "shop", 1)
    assert len(got.drift_scores) == len(expected) > 0
    names = {"psi": pb.DRIFT_METRIC_PSI, "js": pb.DRIFT_METRIC_JS}
    for message, score in zip(got.drift_scores, expected, strict=True):
        assert (message.version, message.feature) == (score.version, score.feature)
        assert message.score == score.score
        assert message.metric == names[score.metric]
        assert message.reference_version == score.reference_version
        assert (message.warn, message.fail) == (score.warn, score.fail)
        verdict = pb.DriftVerdict.Name(message.verdict)
        assert verdict == f"DRIFT_VERDICT_{score.verdict.upper()}"
    city = [s for s in got.drift_scores if s.feature == "city"]
    assert {s.metric for s in city} == {pb.DRIFT_METRIC_JS}


def test_drift_gauges_over_http(
    profiled: tuple[Served, Project], metrics_port: int
) -> None:
    _, project = profiled
    samples = scrape(metrics_port)
    latest = read_drift(project, "shop", 1)
    assert latest
    for score in latest:
        if score.against != "baseline":
            continue
        labels = (("feature", score.feature), ("metric", score.metric),
                  ("view", "shop"))  # fmt: skip
        assert samples[("feature_drift_score", labels)] == score.score
    gauges = [k for k in samples if k[0] == "feature_drift_score"]
    assert {dict(k[1])["view"] for k in gauges} == {"shop"}


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (pb.ListProfilesRequest(), "INVALID_ARGUMENT", "INVALID_FIELD"),
        (pb.ListProfilesRequest(parent="nope"), "NOT_FOUND", "FEATURE_VIEW_NOT_FOUND"),
        (pb.ListProfilesRequest(parent="shop", version=7), "NOT_FOUND",
         "TABLE_NOT_FOUND"),  # no version 7: not a backfill's to profile
        (pb.ListProfilesRequest(parent="shop", version=-1), "INVALID_ARGUMENT",
         "INVALID_FIELD"),
        # A source outside the data root, or not Delta: no feature table, so
        # no backfill could profile it (the old hint said to run one).
        (pb.ListProfilesRequest(parent="elsewhere"), "NOT_FOUND",
         "FEATURE_TABLE_NOT_FOUND"),
        (pb.ListDriftScoresRequest(parent="elsewhere"), "NOT_FOUND",
         "FEATURE_TABLE_NOT_FOUND"),
        (pb.ListProfilesRequest(parent="flat"), "NOT_FOUND",
         "FEATURE_TABLE_NOT_FOUND"),
        (pb.ListDriftScoresRequest(parent="shop", page_token="x"), "INVALID_ARGUMENT",
         "INVALID_FIELD"),
        (pb.ListDriftScoresRequest(parent=""), "INVALID_ARGUMENT", "INVALID_FIELD"),
    ],
)  # fmt: skip
def test_client_mistakes(
    profiled: tuple[Served, Project], request_: object, code: str, reason: str
) -> None:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    stub = pb_grpc.MonitoringServiceStub(profiled[0].channel)
    method = (
        stub.ListProfiles
        if isinstance(request_, pb.ListProfilesRequest)
        else stub.ListDriftScores
    )
    with pytest.raises(grpc.RpcError) as caught:
        method(request_)
    assert caught.value.code().name == code
    info = error_details_pb2.ErrorInfo()
    status = rpc_status.from_call(caught.value)
    assert status is not None and status.details[0].Unpack(info)
    assert info.reason == reason
    if reason == "FEATURE_TABLE_NOT_FOUND":
        assert dict(info.metadata) == {"feature_view": request_.parent}  # type: ignore[attr-defined]


def test_no_profile_of_a_maintenance_commit_names_its_publish(
    profiled: tuple[Served, Project],
) -> None:
    # It advised `featurestore monitor backfill shop`, which never profiles a
    # VACUUM, OPTIMIZE or table-property commit.
    stub = pb_grpc.MonitoringServiceStub(profiled[0].channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListProfiles(pb.ListProfilesRequest(parent="shop", version=2))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    details = caught.value.details() or ""
    assert "SET TBLPROPERTIES commit" in details and "version 1" in details
    assert "backfill" not in details
