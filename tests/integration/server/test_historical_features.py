"""GetHistoricalFeatures over a real server: correct rows, manifest, pins, errors."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import grpc
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.cli import main as cli_main
from featurestore.services.client import FeatureStoreClient, TrainingSet
from featurestore.services.offline import Manifest
from featurestore.services.offline.training_sets import PARQUET, stored_manifest
from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.server._served import NOW, TS, ServedRepo

pytestmark = pytest.mark.integration


def _entities() -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array([1, 1, 3, 3, 99], pa.int64()),
            "event_timestamp": pa.array(
                [
                    NOW,  # sees the 1 h old row
                    NOW - timedelta(hours=2),  # before customer 1's only row
                    NOW - timedelta(hours=4),  # sees customer 3's 2-day-old row
                    NOW,  # sees customer 3's 3 h old row
                    NOW,  # no history
                ],
                TS,
            ),
            "label": [True, False, True, False, True],
        }
    )


def test_training_set_is_point_in_time_correct(served_repo: ServedRepo) -> None:
    with FeatureStoreClient(served_repo.address) as client:
        result = client.get_historical_features(
            _entities(), ["customer_spend:spend_1h", "customer_spend:count_1h"]
        )
    table = result.table
    assert table.column("label").to_pylist() == [True, False, True, False, True]
    assert table.column("spend_1h").to_pylist() == [10.0, None, 30.0, 31.0, None]
    assert table.column("count_1h").to_pylist() == [1, None, 1, 2, None]
    (read,) = result.manifest["tables"]
    assert read["view"] == "customer_spend"
    # These tables were written by delta-rs without a contract stamp; manifests of
    # stamped (Spark-published) tables are covered by the offline manifest tests.
    assert read["contract"] is None
    table = served_repo.data / "features" / "customer_spend"
    assert read["version"] == DeltaTable(str(table)).version()
    # Where the server keeps its tables is not the caller's to know: the
    # manifest named the table's absolute path (TableRead.path, manifest_json).
    assert read["path"] == ""
    assert str(served_repo.data) not in json.dumps(result.manifest)


def test_to_pandas_keeps_integers_with_gaps_exact(served_repo: ServedRepo) -> None:
    # It gave float64, as the online path did before: 9007199254740993 came
    # back as ...992.
    with FeatureStoreClient(served_repo.address) as client:
        result = client.get_historical_features(
            _entities(), ["customer_spend:spend_1h", "customer_spend:count_1h"]
        )
    frame = result.to_pandas()
    assert frame["count_1h"].dtype == pd.Int64Dtype()
    assert frame["count_1h"].isna().tolist() == [False, True, False, False, True]
    assert frame["count_1h"].dropna().tolist() == [1, 1, 2]
    # The rest as pandas makes them: no gap, no change.
    assert frame["customer_id"].dtype == "int64"
    assert frame["spend_1h"].dtype == "float64"
    assert frame["event_timestamp"].tolist() == (
        _entities().column("event_timestamp").to_pandas().tolist()
    )
    big = TrainingSet(pa.table({"id": pa.array([2**53 + 1, None])}), {})
    assert big.to_pandas()["id"].tolist()[0] == 2**53 + 1


def test_the_client_leaves_the_timestamp_column_to_the_server(
    served_repo: ServedRepo,
) -> None:
    # Entity rows whose only timestamp column is not event_timestamp: the
    # server takes it, as it does for any client; the Python client sent
    # "event_timestamp" unless told otherwise, and the call failed.
    entity = _entities().rename_columns(["customer_id", "asked_at", "label"])
    with FeatureStoreClient(served_repo.address) as client:
        result = client.get_historical_features(entity, ["customer_spend:spend_1h"])
    assert result.table.column("spend_1h").to_pylist() == [10.0, None, 30.0, 31.0, None]
    assert result.manifest["timestamp_column"] == "asked_at"


def test_pinned_version_replays_after_the_table_changes(
    served_repo: ServedRepo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = served_repo.data / "features" / "merchant_risk"
    entity = pa.table(
        {"merchant_id": ["M0001"], "event_timestamp": pa.array([NOW], TS)}
    )
    with FeatureStoreClient(served_repo.address) as client:
        before = client.get_historical_features(entity, ["merchant_risk:txn_count_30d"])
        pinned_version = before.manifest["tables"][0]["version"]
        newer = pa.table(
            {
                "merchant_id": ["M0001"],
                "event_timestamp": pa.array([NOW - timedelta(minutes=1)], TS),
                "created_timestamp": pa.array([NOW - timedelta(minutes=1)], TS),
                "txn_count_30d": pa.array([41], pa.int64()),
                "fraud_count_30d": pa.array([2], pa.int64()),
                "fraud_rate_30d": [0.05],
            }
        )
        write_deltalake(str(path), newer, mode="append")
        current = client.get_historical_features(
            entity, ["merchant_risk:txn_count_30d"]
        )
        replayed = client.get_historical_features(
            entity,
            ["merchant_risk:txn_count_30d"],
            pins={"merchant_risk": pinned_version},
        )
        # README: the manifest goes back as pins= (it raised ValueError).
        from_manifest = client.get_historical_features(
            entity, ["merchant_risk:txn_count_30d"], pins=before.manifest
        )
        # A pin of a registered view the request does not read changes nothing
        # (it answered NOT_FOUND "feature view 'customer_spend' is not registered").
        unread = client.get_historical_features(
            entity,
            ["merchant_risk:txn_count_30d"],
            pins={"merchant_risk": pinned_version, "customer_spend": 0},
        )
    assert before.pins == {"merchant_risk": pinned_version}
    assert before.table.column("txn_count_30d").to_pylist() == [40]
    assert current.table.column("txn_count_30d").to_pylist() == [41]
    assert replayed.table.equals(before.table)
    assert from_manifest.table.equals(before.table)
    assert unread.table.equals(before.table)


def test_entity_rows_from_a_parquet_path_and_written_output(
    served_repo: ServedRepo,
) -> None:
    folder = served_repo.data / "entities" / "from_parquet"
    folder.mkdir(parents=True)
    pq.write_table(_entities(), folder / "entities.parquet")
    out = served_repo.data / "training_sets" / "from_parquet" / "training.parquet"
    with FeatureStoreClient(served_repo.address) as client:
        result = client.get_historical_features(
            str(folder / "entities.parquet"),
            ["customer_spend:spend_1h"],
            output_path=str(out),
            output_format="parquet",
        )
    assert pq.read_table(out).equals(result.table)
    assert result.table.num_rows == 5
    # Again: refused unless the client says overwrite (it had no such option).
    with FeatureStoreClient(served_repo.address) as client:
        with pytest.raises(grpc.RpcError) as refused:
            client.get_historical_features(
                str(folder / "entities.parquet"), ["customer_spend:spend_1h"],
                output_path=str(out), output_format="parquet",
            )  # fmt: skip
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        again = client.get_historical_features(
            str(folder / "entities.parquet"), ["customer_spend:count_1h"],
            output_path=str(out), output_format="parquet", overwrite=True,
        )  # fmt: skip
    assert pq.read_table(out).equals(again.table)


def test_entity_rows_written_by_spark_read_as_utc(served_repo: ServedRepo) -> None:
    # Spark writes timestamps as INT96 (UTC instants) by default; Arrow alone
    # reads them naive (NAIVE_TIMESTAMP) and past 2262 wraps them. A partitioned
    # folder brings its partition column, as Spark's partitionBy writes it.
    folder = served_repo.data / "entities" / "spark_written"
    for label in (True, False):
        part = folder / f"label={str(label).lower()}"
        part.mkdir(parents=True)
        rows = _entities().filter(pa.compute.equal(_entities()["label"], label))
        pq.write_table(
            rows.drop_columns(["label"]), part / "part-00000.parquet",
            use_deprecated_int96_timestamps=True,
        )  # fmt: skip
    features = ["customer_spend:spend_1h", "customer_spend:count_1h"]
    with FeatureStoreClient(served_repo.address) as client:
        from_path = client.get_historical_features(str(folder), features).table
        sent = client.get_historical_features(_entities(), features).table

    def rows(table: pa.Table) -> list[tuple[object, ...]]:
        columns = ["customer_id", "event_timestamp", "spend_1h", "count_1h"]
        return sorted(zip(*(table.column(c).to_pylist() for c in columns), strict=True))

    assert from_path.schema.field("event_timestamp").type.tz == "UTC"
    assert rows(from_path) == rows(sent)
    assert sorted(from_path.column("label").to_pylist()) == ["false"] * 2 + ["true"] * 3


def _stream(
    served: ServedRepo, entity: pa.Table, batch_size: int, **fields: object
) -> tuple[list[bytes], pb.Manifest]:
    """The raw responses: the IPC pieces in order, and the closing manifest."""
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    request = _with(
        entity,
        features=["customer_spend:spend_1h", "customer_spend:count_1h"],
        batch_size=batch_size,
        **fields,
    )
    responses = list(stub.GetHistoricalFeatures(request, timeout=30))
    assert [r.WhichOneof("chunk") for r in responses[:-1]] == ["arrow_ipc"] * (
        len(responses) - 1
    )
    assert responses[-1].WhichOneof("chunk") == "manifest"
    return [r.arrow_ipc for r in responses[:-1]], responses[-1].manifest


def _batches(pieces: list[bytes]) -> list[pa.RecordBatch]:
    return list(pa.ipc.open_stream(pa.py_buffer(b"".join(pieces))))


def test_stream_comes_in_batches_that_add_up_to_the_whole_join(
    served_repo: ServedRepo,
) -> None:
    pieces_per_size = {}
    for copies in (1, 4):
        entity = pa.concat_tables([_entities()] * copies)  # 5 rows per copy
        whole, whole_manifest = _stream(served_repo, entity, batch_size=1_000)
        pieces, manifest = _stream(served_repo, entity, batch_size=2)

        assert len(_batches(whole)) == 1
        batches = _batches(pieces)
        assert len(batches) == math.ceil(entity.num_rows / 2)
        # Schema + first batch, one piece per further batch, then end-of-stream.
        assert len(pieces) == len(batches) + 1
        assert [b.num_rows for b in batches[:-1]] == [2] * (len(batches) - 1)
        streamed = pa.Table.from_batches(batches)
        assert streamed.equals(pa.Table.from_batches(_batches(whole)))
        assert (
            streamed.column("spend_1h").to_pylist()
            == [
                10.0,
                None,
                30.0,
                31.0,
                None,
            ]
            * copies
        )
        assert manifest.row_count == whole_manifest.row_count == entity.num_rows
        pieces_per_size[entity.num_rows] = len(pieces)
    assert pieces_per_size == {5: 4, 20: 11}


def test_written_output_is_the_streamed_table(served_repo: ServedRepo) -> None:
    folder = served_repo.data / "training_sets" / "written"
    entity = pa.concat_tables([_entities()] * 3)
    parquet, delta = folder / "out.parquet", folder / "out_delta"
    pieces, manifest = _stream(
        served_repo,
        entity,
        batch_size=4,
        output_path=str(parquet),
        output_format=pb.OUTPUT_FORMAT_PARQUET,
    )
    streamed = pa.Table.from_batches(_batches(pieces))
    assert manifest.output_path == str(parquet)
    assert manifest.row_count == entity.num_rows == 15
    assert pq.read_table(parquet).equals(streamed)
    # The manifest written beside the set keeps the tables' locations (for
    # replay by whoever reads the server's disk); the answer names none.
    footer = stored_manifest(parquet, PARQUET)
    written = Manifest.from_json(footer)
    assert [t.path for t in written.tables] == [
        str(served_repo.data / "features" / "customer_spend")
    ]
    assert [t.path for t in manifest.tables] == [""]
    assert written.without_locations() == Manifest.from_json(manifest.manifest_json)
    answered = folder / "answered.manifest.json"
    answered.write_text(manifest.manifest_json)
    entities = folder / "entities.parquet"
    pq.write_table(entity, entities)
    replay_args = ["training-set", "--entities", str(entities), "--replay"]
    replayed = folder / "replayed.parquet"
    assert cli_main([*replay_args, str(answered), "--out", str(replayed)]) == 2
    assert not replayed.exists()
    kept = folder / "kept.manifest.json"
    kept.write_text(footer)
    assert cli_main([*replay_args, str(kept), "--out", str(replayed)]) == 0
    assert pq.read_table(replayed).equals(streamed)
    _, delta_manifest = _stream(
        served_repo,
        entity,
        batch_size=4,
        output_path=str(delta),
        output_format=pb.OUTPUT_FORMAT_DELTA,
    )
    assert delta_manifest.row_count == 15
    assert DeltaTable(str(delta)).to_pyarrow_table().equals(streamed)


def _error(
    served: ServedRepo, request: pb.GetHistoricalFeaturesRequest
) -> grpc.RpcError:
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    with pytest.raises(grpc.RpcError) as info:
        list(stub.GetHistoricalFeatures(request, timeout=30))
    return info.value


def _with(entity: pa.Table, **fields: object) -> pb.GetHistoricalFeaturesRequest:
    request = pb.GetHistoricalFeaturesRequest(
        entity_rows_arrow=write_ipc(entity), **fields
    )
    return request


@pytest.mark.parametrize(
    ("make_request", "code"),
    [
        (
            lambda: _with(
                _entities().drop(["customer_id"]), features=["customer_spend:spend_1h"]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            lambda: _with(
                _entities().set_column(
                    1, "event_timestamp", pa.array([0] * 5, pa.timestamp("us"))
                ),
                features=["customer_spend:spend_1h"],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            lambda: _with(
                _entities().set_column(
                    1, "event_timestamp", pa.array(["2026-01-01"] * 5)
                ),
                features=["customer_spend:spend_1h"],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            lambda: _with(_entities(), features=["nope:spend_1h"]),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            lambda: _with(
                _entities(),
                features=["customer_spend:spend_1h"],
                pins={"customer_spend": common_pb2.TablePin(version=999)},
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            lambda: _with(
                _entities(),
                features=["customer_spend:spend_1h"],
                pins={"nope": common_pb2.TablePin(version=0)},
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            lambda: _with(
                _entities().slice(0, 0), features=["customer_spend:spend_1h"]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            lambda: pb.GetHistoricalFeaturesRequest(
                features=["customer_spend:spend_1h"]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            lambda: pb.GetHistoricalFeaturesRequest(
                entity_rows_arrow=b"not arrow", features=["customer_spend:spend_1h"]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            lambda: pb.GetHistoricalFeaturesRequest(
                entity_rows_path="no/such/path", features=["customer_spend:spend_1h"]
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
    ],
    ids=[
        "missing-join-key",
        "naive-timestamp",
        "string-timestamp",
        "unknown-view",
        "missing-pinned-version",
        "pin-of-an-unknown-view",
        "empty-rows",
        "no-rows",
        "not-arrow",
        "missing-path",
    ],
)
def test_bad_input_is_rejected_and_server_keeps_serving(
    served_repo: ServedRepo, make_request: object, code: grpc.StatusCode
) -> None:
    error = _error(served_repo, make_request())  # type: ignore[operator]
    assert error.code() == code, error.details()
    assert error.details()
    with FeatureStoreClient(served_repo.address) as client:
        ok = client.get_historical_features(_entities(), ["customer_spend:spend_1h"])
    assert ok.table.num_rows == 5


def test_an_unknown_timestamp_column_sends_no_empty_metadata(
    served_repo: ServedRepo,
) -> None:
    # ErrorInfo carried view: "" (the timestamp column is no view's).
    error = _error(
        served_repo,
        _with(
            _entities(),
            features=["customer_spend:spend_1h"],
            timestamp_column="asked_at",
        ),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "ENTITY_COLUMN_MISSING"
    assert dict(info.metadata) == {"column": "asked_at"}
