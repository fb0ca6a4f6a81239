"""output_path and entity_rows_path on S3: the store's failures and its config.

An object store that does not answer is STORAGE_UNAVAILABLE for a training
set's output and entity rows, as for feature tables (it was INTERNAL for the
output and INVALID_ARGUMENT for the entity rows), directly and through
fs-front. A running server takes those paths' storage options from the
featurestore.yaml it reads for the feature tables, so an edit (a new
endpoint, a rotated key) moves the whole request, never half of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from google.rpc import error_details_pb2, status_pb2

from featurestore.services.project import Project
from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import NOW, TS, serve
from tests.integration.storage._project import (
    SECRET_VARIABLE,
    apply,
    featurestore_yaml,
    write_project,
    write_tables,
)
from tests.processes import free_port
from tests.s3_harness import SECRET_KEY, S3Server, start

pytestmark = [pytest.mark.integration]


def _entities() -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array([3, 7], pa.int64()),
            "merchant_id": pa.array(["M1", "M9"], pa.string()),
            "event_timestamp": pa.array([NOW, NOW], TS),
        }
    )


def _request(**fields: object) -> pb.GetHistoricalFeaturesRequest:
    if "entity_rows_path" not in fields:
        fields["entity_rows_arrow"] = write_ipc(_entities())
    return pb.GetHistoricalFeaturesRequest(feature_service="scoring", **fields)


def _reason(err: grpc.RpcError) -> str:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return ""


@pytest.fixture
def s3_repo(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A project on the S3 harness, its tables written and applied."""
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    monkeypatch.setenv(SECRET_VARIABLE, SECRET_KEY)
    root = s3_server.prefix("paths")
    repo = write_project(tmp_path / "s3", root, s3_server.options(inline_secret=False))
    write_tables(Project.load(repo))
    return repo


@pytest.fixture(params=["grpc-python", "fs-front"])
def transport(request: pytest.FixtureRequest) -> bool:
    """True when clients go through fs-front."""
    return bool(request.param == "fs-front")


@pytest.fixture
def second_s3(tmp_path: Path) -> Iterator[S3Server]:
    """Another S3-compatible server: where an operator moves the store."""
    (tmp_path / "second-s3").mkdir()
    server = start(tmp_path / "second-s3")
    yield server
    server.stop()


def test_an_object_store_that_does_not_answer_is_unavailable_for_both_paths(
    s3_repo: Path, s3_server: S3Server, transport: bool
) -> None:
    root = Project.load(s3_repo).data_dir
    dead = {
        **s3_server.options(inline_secret=False),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nobody listens
        "max_retries": "0",
    }
    store = apply(s3_repo)
    (s3_repo / "featurestore.yaml").write_text(featurestore_yaml(root, dead))
    served = serve(store, transport)
    try:
        stub = FeatureStoreServiceStub(served.channel)
        requests = [
            _request(output_path=path, output_format=fmt)
            for path in (f"{root}/training_sets/a.parquet", "a.parquet")
            for fmt in (pb.OUTPUT_FORMAT_PARQUET, pb.OUTPUT_FORMAT_DELTA)
        ] + [
            _request(entity_rows_path=path)
            for path in (f"{root}/entities/e.parquet", "e.parquet")
        ]
        for request in requests:
            with pytest.raises(grpc.RpcError) as down:
                list(stub.GetHistoricalFeatures(request, timeout=60))
            err = down.value
            assert err.code() == grpc.StatusCode.UNAVAILABLE, (request, err.details())
            assert _reason(err) == "STORAGE_UNAVAILABLE", err.details()
            assert SECRET_KEY not in err.details()
            assert SECRET_KEY not in str(err.trailing_metadata())
        # The server keeps serving.
        views = stub.ListFeatureViews(pb.ListFeatureViewsRequest(), timeout=10)
        assert {v.name for v in views.feature_views} >= {"customer_stats"}
    finally:
        served.stop()


@pytest.fixture
def refusing_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """An S3 server that checks signatures after creating its bucket: the
    harness's access key is unknown to it, so every request is refused."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "1")
    (tmp_path / "refusing-s3").mkdir()
    server = start(tmp_path / "refusing-s3")
    yield server
    server.stop()


def test_an_object_store_that_refuses_the_credentials_is_unavailable(
    s3_repo: Path, refusing_s3: S3Server
) -> None:
    # The tester's case: AWS Error ACCESS_DENIED during HeadObject.
    root = refusing_s3.prefix("refused")
    store = apply(s3_repo)
    options = refusing_s3.options(inline_secret=False)
    (s3_repo / "featurestore.yaml").write_text(featurestore_yaml(root, options))
    served = serve(store)
    try:
        stub = FeatureStoreServiceStub(served.channel)
        for request in (
            _request(
                output_path=f"{root}/training_sets/a.parquet",
                output_format=pb.OUTPUT_FORMAT_PARQUET,
            ),
            _request(entity_rows_path=f"{root}/entities/e.parquet"),
        ):
            with pytest.raises(grpc.RpcError) as down:
                list(stub.GetHistoricalFeatures(request, timeout=60))
            err = down.value
            assert err.code() == grpc.StatusCode.UNAVAILABLE, err.details()
            assert _reason(err) == "STORAGE_UNAVAILABLE", err.details()
            assert SECRET_KEY not in err.details()
    finally:
        served.stop()


def test_output_and_entity_paths_follow_an_edited_storage_config(
    s3_repo: Path, s3_server: S3Server, second_s3: S3Server
) -> None:
    # The operator copies the store to a second server and points
    # featurestore.yaml at it while the server runs: the entity rows are read
    # from, and the training set written to, the same store as the features.
    project = Project.load(s3_repo)
    root = project.data_dir
    served = serve(apply(s3_repo), registry_refresh_seconds=0.2)
    try:
        moved = {**second_s3.options(inline_secret=False)}
        (s3_repo / "featurestore.yaml").write_text(featurestore_yaml(root, moved))
        second = Project.load(s3_repo)
        write_tables(second)
        where = f"{root}/entities/labels"
        write_deltalake(
            where,
            _entities(),
            storage_options=second.storage_options.for_location(where),
        )
        stub = FeatureStoreServiceStub(served.channel)
        out = f"{root}/training_sets/moved.parquet"
        request = _request(output_path=out, output_format=pb.OUTPUT_FORMAT_PARQUET)
        replies = list(stub.GetHistoricalFeatures(request, timeout=60))
        assert replies[-1].manifest.row_count == 2
        prefix = root.removeprefix(f"s3://{s3_server.bucket}/")
        assert f"{prefix}/training_sets/moved.parquet" in second_s3.keys(prefix)
        assert s3_server.keys(f"{prefix}/training_sets") == []
        replies = list(
            stub.GetHistoricalFeatures(_request(entity_rows_path=where), timeout=60)
        )
        assert replies[-1].manifest.row_count == 2
    finally:
        served.stop()


def test_monitoring_follows_an_edited_storage_config(
    s3_repo: Path, second_s3: S3Server
) -> None:
    # GetFreshness (and profiles, drift) kept the storage options read at
    # startup: after the move it read the old store, or failed once its
    # credentials were rotated away. The second store's rows are a day older.
    from datetime import timedelta

    import pyarrow.compute as pc

    from featurestore.v1 import monitoring_service_pb2 as mpb
    from featurestore.v1.monitoring_service_pb2_grpc import MonitoringServiceStub
    from tests.integration.serving._repo import customer_rows

    root = Project.load(s3_repo).data_dir
    served = serve(apply(s3_repo), registry_refresh_seconds=0.2)
    try:
        stub = MonitoringServiceStub(served.channel)
        ask = mpb.GetFreshnessRequest(name="customer_stats")
        newest = pc.max(customer_rows()["event_timestamp"]).as_py()
        before = stub.GetFreshness(ask, timeout=60).freshness
        assert before.newest_event_time.ToDatetime(UTC) == newest
        moved = {**second_s3.options(inline_secret=False)}
        (s3_repo / "featurestore.yaml").write_text(featurestore_yaml(root, moved))
        rows = customer_rows()
        older = pc.subtract(rows["event_timestamp"], pa.scalar(timedelta(days=1)))
        index = rows.schema.get_field_index("event_timestamp")
        write_tables(
            Project.load(s3_repo), rows.set_column(index, "event_timestamp", older)
        )
        after = stub.GetFreshness(ask, timeout=60).freshness
        assert after.newest_event_time.ToDatetime(UTC) == newest - timedelta(days=1)
    finally:
        served.stop()
