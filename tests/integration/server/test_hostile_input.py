"""Hostile input gets a clear status with a reason, never INTERNAL."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import common_pb2
from featurestore.v1 import contract_service_pb2 as cpb
from featurestore.v1 import contract_service_pb2_grpc as cpb_grpc
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.server._served import NOW, TS, ServedRepo, customer_spend_rows

pytestmark = pytest.mark.integration

INVALID = grpc.StatusCode.INVALID_ARGUMENT
CONTRACT = "customer_spend"


def _ipc(**columns: pa.Array) -> bytes:
    return write_ipc(pa.table(columns))


def _good() -> bytes:
    return _ipc(
        customer_id=pa.array([1], pa.int64()), event_timestamp=pa.array([NOW], TS)
    )


def _file(table: pa.Table) -> bytes:
    """An Arrow IPC *file* (magic, stream, footer, magic), as pyarrow writes it."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _half(first: int) -> pa.Table:
    """Two customer_spend rows from ``first`` on, in buffers of their own."""
    rows = customer_spend_rows()
    return pa.Table.from_pylist(rows.slice(first, 2).to_pylist(), rows.schema)


def _two_files() -> bytes:
    """Two files of one layout, concatenated: the last footer's offsets land
    on the first file's batches, so pyarrow reads the first file's rows."""
    return _file(_half(0)) + _file(_half(2))


def _bad_offsets() -> bytes:
    """A valid-looking stream whose string offsets run past the data."""
    data = _ipc(
        customer_id=pa.array(["hello", "world"]),
        event_timestamp=pa.array([NOW, NOW], TS),
    )
    good = np.array([0, 5, 10], np.int32).tobytes()
    assert data.count(good) == 1
    return data.replace(good, np.array([0, 5, 1 << 20], np.int32).tobytes())


def _twice_named() -> bytes:
    """customer_id twice (Arrow IPC allows repeated names)."""
    ids = pa.array([1], pa.int64())
    table = pa.table(
        [ids, ids, pa.array([NOW], TS)],
        names=["customer_id", "customer_id", "event_timestamp"],
    )
    return write_ipc(table)


def _timestamps(values: list[int], unit: str) -> bytes:
    return _ipc(
        customer_id=pa.array([1] * len(values), pa.int64()),
        event_timestamp=pa.array(values, pa.timestamp(unit, tz="UTC")),
    )


HISTORICAL = [
    ("truncated-ipc", {"entity_rows_arrow": _good()[:-30]}, "ARROW_INVALID"),
    ("garbage-ipc", {"entity_rows_arrow": b"\xff\xff\xff\xff" + b"\x7f" * 64},
     "ARROW_INVALID"),
    ("bad-offsets", {"entity_rows_arrow": _bad_offsets()}, "ARROW_INVALID"),
    ("two-streams", {"entity_rows_arrow": _good() + _good()}, "ARROW_INVALID"),
    ("two-files", {"entity_rows_arrow": _two_files()}, "ARROW_INVALID"),
    ("trailing-garbage", {"entity_rows_arrow": _good() + b"\x00garbage"},
     "ARROW_INVALID"),
    ("year-9999", {"entity_rows_arrow": _timestamps([253_370_764_800], "s")},
     "TIMESTAMP_OUT_OF_RANGE"),
    ("year-1", {"entity_rows_arrow": _timestamps([-62_135_596_800], "s")},
     "TIMESTAMP_OUT_OF_RANGE"),
    ("float-key", {"entity_rows_arrow": _ipc(
        customer_id=pa.array([1.0]), event_timestamp=pa.array([NOW], TS))},
     "INVALID_REQUEST"),
    ("string-key", {"entity_rows_arrow": _ipc(
        customer_id=pa.array(["1"]), event_timestamp=pa.array([NOW], TS))},
     "INVALID_REQUEST"),
    ("null-key", {"entity_rows_arrow": _ipc(
        customer_id=pa.nulls(1), event_timestamp=pa.array([NOW], TS))},
     "INVALID_REQUEST"),
    ("pin-year-10000", {"entity_rows_arrow": _good(), "pins": {
        "customer_spend": common_pb2.TablePin(
            timestamp=timestamp_pb2.Timestamp(seconds=2**62))}},
     "TIMESTAMP_OUT_OF_RANGE"),
    ("pin-negative-nanos", {"entity_rows_arrow": _good(), "pins": {
        "customer_spend": common_pb2.TablePin(
            timestamp=timestamp_pb2.Timestamp(seconds=1, nanos=-5))}},
     "INVALID_FIELD"),
    ("pin-negative-version", {"entity_rows_arrow": _good(), "pins": {
        "customer_spend": common_pb2.TablePin(version=-1)}}, "INVALID_FIELD"),
    ("duplicate-column", {"entity_rows_arrow": _twice_named()},
     "DUPLICATE_COLUMN"),
    ("overlong-path", {"entity_rows_path": "x" * 5000}, "INVALID_PATH"),
    ("nul-path", {"entity_rows_path": "a\x00b"}, "INVALID_PATH"),
]  # fmt: skip


def _status(error: grpc.RpcError) -> tuple[str, dict[str, str]]:
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info.reason, dict(info.metadata)


def _serving(served: ServedRepo) -> None:
    health = health_pb2_grpc.HealthStub(served.channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("fields", "reason"),
    [case[1:] for case in HISTORICAL],
    ids=[case[0] for case in HISTORICAL],
)
def test_hostile_historical_requests_are_invalid_argument(
    served_repo: ServedRepo, fields: dict[str, object], reason: str
) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(served_repo.channel)
    request = pb.GetHistoricalFeaturesRequest(
        features=["customer_spend:spend_1h"], **fields
    )
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.GetHistoricalFeatures(request, timeout=30))
    assert caught.value.code() == INVALID, caught.value.details()
    assert _status(caught.value)[0] == reason
    _serving(served_repo)


def test_an_out_of_range_timestamp_names_the_column_and_the_range(
    served_repo: ServedRepo,
) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(served_repo.channel)
    request = pb.GetHistoricalFeaturesRequest(
        features=["customer_spend:spend_1h"],
        entity_rows_arrow=_timestamps([253_370_764_800], "s"),
    )
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.GetHistoricalFeatures(request, timeout=30))
    _, metadata = _status(caught.value)
    assert metadata["column"] == "event_timestamp"
    assert metadata["min"] < "1678" < "2262" < metadata["max"]


def test_a_pin_with_nanos_out_of_range_says_so(served_repo: ServedRepo) -> None:
    # It said "a pinned timestamp must lie in 0001-01-01..9999-12-31" of a
    # time in 1970.
    stub = pb_grpc.FeatureStoreServiceStub(served_repo.channel)
    pin = common_pb2.TablePin(timestamp=timestamp_pb2.Timestamp(seconds=1, nanos=-5))
    request = pb.GetHistoricalFeaturesRequest(
        features=["customer_spend:spend_1h"],
        entity_rows_arrow=_good(),
        pins={"customer_spend": pin},
    )
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.GetHistoricalFeatures(request, timeout=30))
    assert _status(caught.value) == ("INVALID_FIELD", {"field": "pins", "nanos": "-5"})
    assert "nanos" in caught.value.details()
    assert "0001-01-01" not in caught.value.details()


VALIDATE = [
    ("truncated-ipc", _good()[:-30], "ARROW_INVALID"),
    ("garbage-ipc", b"\xff\xff\xff\xff" + b"\x01" * 64, "ARROW_INVALID"),
    ("bad-offsets", _bad_offsets(), "ARROW_INVALID"),
    ("two-streams", _good() + _good(), "ARROW_INVALID"),
    ("two-files", _two_files(), "ARROW_INVALID"),
    ("trailing-garbage", _good() + b"\x00garbage", "ARROW_INVALID"),
    ("duplicate-column", _twice_named(), "DUPLICATE_COLUMN"),
]


@pytest.mark.parametrize(
    ("data", "reason"), [c[1:] for c in VALIDATE], ids=[c[0] for c in VALIDATE]
)
def test_hostile_arrow_in_validate_rows_is_invalid_argument(
    served_repo: ServedRepo, data: bytes, reason: str
) -> None:
    stub = cpb_grpc.ContractServiceStub(served_repo.channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ValidateRows(
            cpb.ValidateRowsRequest(contract=CONTRACT, arrow_ipc=data), timeout=30
        )
    assert caught.value.code() == INVALID
    assert _status(caught.value)[0] == reason
    _serving(served_repo)


def test_bytes_after_the_stream_name_the_field_and_ask_for_one_stream(
    served_repo: ServedRepo,
) -> None:
    # Rows after the first stream's end were dropped without a word: a
    # ValidateRows of 1 + 1 rows judged 1, a training set lost entity rows.
    stub = cpb_grpc.ContractServiceStub(served_repo.channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ValidateRows(
            cpb.ValidateRowsRequest(contract=CONTRACT, arrow_ipc=_good() + _good()),
            timeout=30,
        )
    assert caught.value.code() == INVALID
    assert _status(caught.value) == (
        "ARROW_INVALID",
        {"field": "arrow_ipc", "trailing_bytes": str(len(_good()))},
    )
    assert "one Arrow IPC stream" in caught.value.details()


def test_concatenated_files_are_refused_and_one_file_is_read(
    served_repo: ServedRepo,
) -> None:
    # Two IPC files back to back read as one: pyarrow follows the second
    # footer, whose batch offsets point into the first file, so ValidateRows
    # of 2 + 2 rows judged the first file's 2 rows.
    stub = cpb_grpc.ContractServiceStub(served_repo.channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ValidateRows(
            cpb.ValidateRowsRequest(contract=CONTRACT, arrow_ipc=_two_files()),
            timeout=30,
        )
    assert caught.value.code() == INVALID
    reason, metadata = _status(caught.value)
    assert reason == "ARROW_INVALID"
    assert metadata["field"] == "arrow_ipc"
    assert metadata["trailing_bytes"] == str(len(_file(_half(2))))
    assert "one Arrow IPC file" in caught.value.details()

    # A broken file is called a file (it was "not a valid Arrow IPC stream").
    with pytest.raises(grpc.RpcError) as caught:
        stub.ValidateRows(
            cpb.ValidateRowsRequest(contract=CONTRACT, arrow_ipc=_file(_half(2))[:-30]),
            timeout=30,
        )
    assert caught.value.code() == INVALID
    assert "arrow_ipc is not a valid Arrow IPC file" in caught.value.details()

    one_file = _file(customer_spend_rows())
    reply = stub.ValidateRows(
        cpb.ValidateRowsRequest(contract=CONTRACT, arrow_ipc=one_file), timeout=30
    )
    assert reply.rows == 4 and len(reply.verdicts) == 4


NAMES = ["x" * 5000, "../customer_spend", "..", "customer_spend/../customer_spend",
         "a\x00b", "*"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES, ids=range(len(NAMES)))
def test_unsafe_contract_names_are_invalid_in_every_rpc(
    served_repo: ServedRepo, name: str
) -> None:
    stub = cpb_grpc.ContractServiceStub(served_repo.channel)
    calls = [
        lambda: stub.GetContract(cpb.GetContractRequest(name=name), timeout=10),
        lambda: stub.GetContract(
            cpb.GetContractRequest(name=CONTRACT, version=name), timeout=10
        ),
        lambda: stub.CheckCompatibility(
            cpb.CheckCompatibilityRequest(name=name, old_version="1.0.0"), timeout=10
        ),
        lambda: stub.CheckCompatibility(
            cpb.CheckCompatibilityRequest(name=CONTRACT, old_version=name), timeout=10
        ),
        lambda: stub.ValidateRows(
            cpb.ValidateRowsRequest(contract=name, arrow_ipc=_good()), timeout=10
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == INVALID, caught.value.details()
        assert _status(caught.value)[0] == "INVALID_NAME"


def test_a_valid_timestamp_near_the_range_ends_is_served(
    served_repo: ServedRepo,
) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(served_repo.channel)
    edges = [datetime(1678, 1, 1, tzinfo=UTC), datetime(2262, 1, 1, tzinfo=UTC)]
    request = pb.GetHistoricalFeaturesRequest(
        features=["customer_spend:spend_1h"],
        entity_rows_arrow=_ipc(
            customer_id=pa.array([1, 1], pa.int64()),
            event_timestamp=pa.array(edges, TS),
        ),
    )
    *_, last = stub.GetHistoricalFeatures(request, timeout=30)
    assert last.manifest.row_count == 2


def test_unreadable_entity_files_under_the_root_are_invalid_argument(
    served_repo: ServedRepo,
) -> None:
    folder = served_repo.data / "entities" / "unreadable"
    (folder / "bad_delta" / "_delta_log").mkdir(parents=True)
    (folder / "bad_delta" / "_delta_log" / "00000000000000000000.json").write_text("{")
    (folder / "bad.parquet").write_bytes(b"PAR1 not really PAR1")
    (folder / "mixed").mkdir()
    (folder / "mixed" / "notes.txt").write_text("not parquet")
    twice = pa.ipc.open_stream(_twice_named()).read_all()
    pq.write_table(twice, folder / "twice.parquet")
    stub = pb_grpc.FeatureStoreServiceStub(served_repo.channel)
    for name in ("bad_delta", "bad.parquet", "mixed", "twice.parquet"):
        request = pb.GetHistoricalFeaturesRequest(
            features=["customer_spend:spend_1h"],
            entity_rows_path=f"unreadable/{name}",
        )
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.GetHistoricalFeatures(request, timeout=30))
        assert caught.value.code() == INVALID, (name, caught.value.details())
        assert _status(caught.value)[0] == "ENTITY_PATH_UNREADABLE"
        assert str(served_repo.data.resolve()) not in (caught.value.details() or "")
    _serving(served_repo)
