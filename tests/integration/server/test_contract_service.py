"""ContractService over a real server: list, get, validate rows, compatibility."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pyarrow as pa
import pytest

from featurestore.services.client import FeatureStoreClient
from featurestore.services.contracts import ContractRegistry
from featurestore.v1 import contract_service_pb2 as pb
from featurestore.v1 import contract_service_pb2_grpc as pb_grpc
from tests.integration.server._served import REPO, TS, ServedRepo

pytestmark = pytest.mark.integration


def _stub(served: ServedRepo) -> pb_grpc.ContractServiceStub:
    return pb_grpc.ContractServiceStub(served.channel)


def test_list_and_get_return_the_yaml_verbatim(served_repo: ServedRepo) -> None:
    listed = _stub(served_repo).ListContracts(pb.ListContractsRequest(), timeout=5)
    assert [c.name for c in listed.contracts] == ["customer_spend", "merchant_risk"]
    got = (
        _stub(served_repo)
        .GetContract(
            pb.GetContractRequest(name="customer_spend", version="1.0.0"), timeout=5
        )
        .contract
    )
    source = REPO / "feature_repo" / "contracts" / "customer_spend" / "1.0.0.yaml"
    assert got.yaml == source.read_text()
    assert got.owner == "risk-features@example.com"
    # `freshness: 7d` comes back as the resolved ODCS latency SLA.
    assert got.freshness_sla.max_age.ToTimedelta() == timedelta(days=7)
    assert got.freshness_sla.event_time_column == "event_timestamp"
    assert not got.freshness_sla.HasField("frequency")
    assert not got.drift.HasField("baseline_version")
    settings = {s.column: s for s in got.drift.columns}
    assert sorted(settings) == sorted(
        ["spend_1h", "count_1h", "spend_24h", "count_24h", "spend_7d", "count_7d"]
    )
    spend = settings["spend_24h"]
    assert (spend.kind, spend.metric, spend.warn, spend.fail, spend.bins) == (
        "numeric",
        "psi",
        0.1,
        0.2,
        10,
    )
    assert (spend.on_drift, spend.enabled) == ("warn", True)


def _rows() -> pa.Table:
    when = pa.array([datetime(2026, 11, 1, tzinfo=UTC)] * 3, TS)
    return pa.table(
        {
            "customer_id": pa.array([1, 0, 2], pa.int64()),
            "event_timestamp": when,
            "created_timestamp": when,
            "spend_1h": [1.0, 1.0, -5.0],
            "count_1h": pa.array([1, 1, 1], pa.int64()),
            "spend_24h": [1.0, 1.0, 1.0],
            "count_24h": pa.array([1, 1, 1], pa.int64()),
            "spend_7d": [1.0, 1.0, 1.0],
            "count_7d": pa.array([1, 1, 1], pa.int64()),
        }
    )


def test_validate_rows_gives_per_row_reasons(served_repo: ServedRepo) -> None:
    with FeatureStoreClient(served_repo.address) as client:
        reply = client.validate_rows("customer_spend", _rows())
    assert [v.passed for v in reply.verdicts] == [True, False, False]
    assert [(r.column, r.check) for r in reply.verdicts[1].reasons] == [
        ("customer_id", "greater_than_or_equal_to")
    ]
    assert [(r.column, r.check) for r in reply.verdicts[2].reasons] == [
        ("spend_1h", "greater_than_or_equal_to")
    ]
    assert reply.failed_rows == 2
    assert not reply.publishable  # 2 of 3 rows fail; the contract allows 5 %


def test_validate_rows_agrees_with_the_library(served_repo: ServedRepo) -> None:
    from featurestore.services.contracts import table_reasons

    contract = ContractRegistry(REPO / "feature_repo" / "contracts").get(
        "customer_spend"
    )
    expected = table_reasons(contract, _rows()).to_pylist()
    with FeatureStoreClient(served_repo.address) as client:
        reply = client.validate_rows("customer_spend", _rows())
    got = [
        [{"column": r.column, "check": r.check} for r in v.reasons]
        for v in reply.verdicts
    ]
    assert got == expected


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (
            pb.ValidateRowsRequest(contract="nope", arrow_ipc=b"x"),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            pb.ValidateRowsRequest(
                contract="customer_spend", version="9.9.9", arrow_ipc=b"x"
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            pb.ValidateRowsRequest(contract="customer_spend", arrow_ipc=b"garbage"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.ValidateRowsRequest(contract="customer_spend"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
    ids=["unknown-contract", "unknown-version", "not-arrow", "empty"],
)
def test_validate_rows_bad_input(
    served_repo: ServedRepo, request_: pb.ValidateRowsRequest, code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _stub(served_repo).ValidateRows(request_, timeout=5)
    assert info.value.code() == code


def test_validate_rows_rejects_wrong_schema_and_empty_batch(
    served_repo: ServedRepo,
) -> None:
    from featurestore.services.server.arrow_ipc import write_ipc

    wrong = _rows().drop(["count_7d"])
    empty = _rows().slice(0, 0)
    for table in (wrong, empty):
        with pytest.raises(grpc.RpcError) as info:
            _stub(served_repo).ValidateRows(
                pb.ValidateRowsRequest(
                    contract="customer_spend", arrow_ipc=write_ipc(table)
                ),
                timeout=5,
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_check_compatibility_of_a_version_with_itself_and_unknown(
    served_repo: ServedRepo,
) -> None:
    same = _stub(served_repo).CheckCompatibility(
        pb.CheckCompatibilityRequest(name="merchant_risk", old_version="1.0.0"),
        timeout=5,
    )
    assert list(same.changes) == []
    assert not same.version_bump_ok  # the version did not increase
    with pytest.raises(grpc.RpcError) as info:
        _stub(served_repo).CheckCompatibility(
            pb.CheckCompatibilityRequest(name="merchant_risk", old_version="0.1.0"),
            timeout=5,
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_validate_rows_is_not_publishable_below_min_rows(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    # The contract's min_rows refuses a batch the job's gate would refuse,
    # though every row passes (min_rows 4 against 3 rows; 3 is enough).
    import yaml

    from featurestore.services.server.app import create_server
    from featurestore.services.server.settings import ServerSettings

    good = _rows().set_column(0, "customer_id", pa.array([1, 2, 3], pa.int64()))
    good = good.set_column(3, "spend_1h", pa.array([1.0, 1.0, 1.0]))
    source = REPO / "feature_repo" / "contracts" / "customer_spend" / "1.0.0.yaml"
    publishable = {}
    for min_rows in (3, 4):
        contracts = tmp_path / f"contracts-{min_rows}"
        (contracts / "customer_spend").mkdir(parents=True)
        data = yaml.safe_load(source.read_text()) | {"min_rows": min_rows}
        (contracts / "customer_spend" / "1.0.0.yaml").write_text(yaml.safe_dump(data))
        settings = ServerSettings(
            repo_path=served_repo.repo,
            contracts_dir=contracts,
            data_dir=served_repo.data,
        )
        server = create_server(settings, "127.0.0.1:0")
        try:
            with FeatureStoreClient(f"127.0.0.1:{server.port}") as client:
                reply = client.validate_rows("customer_spend", good)
        finally:
            server.stop(0)
        assert (reply.rows, reply.failed_rows) == (3, 0)
        publishable[min_rows] = reply.publishable
    assert publishable == {3: True, 4: False}


# -- one unreadable contract hides only itself (AIP-217 unreachable) ------------

BROKEN = ["broken_yaml", "typo_table", "unreadable"]
"""The partly broken folder's contracts that cannot be read, by name."""


@pytest.fixture(scope="module")
def partly_broken(
    served_repo: ServedRepo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[pb_grpc.ContractServiceStub, Path]]:
    """A server over the repo's two contracts plus three that cannot be read:
    a YAML syntax error, a typo in a field name, a folder where the file goes."""
    from featurestore.services.server.app import create_server
    from featurestore.services.server.settings import ServerSettings

    contracts = tmp_path_factory.mktemp("partly_broken") / "contracts"
    shutil.copytree(REPO / "feature_repo" / "contracts", contracts)
    (contracts / "broken_yaml").mkdir()
    (contracts / "broken_yaml" / "1.0.0.yaml").write_text(
        "name: broken_yaml\nversion: [1.0.0\n"
    )
    good = (contracts / "merchant_risk" / "1.0.0.yaml").read_text()
    (contracts / "typo_table").mkdir()
    (contracts / "typo_table" / "1.0.0.yaml").write_text(
        good.replace("merchant_risk", "typo_table").replace("owner:", "ownr:", 1)
    )
    (contracts / "unreadable" / "1.0.0.yaml").mkdir(parents=True)
    settings = ServerSettings(
        repo_path=served_repo.repo, contracts_dir=contracts, data_dir=served_repo.data
    )
    server = create_server(settings, "127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield pb_grpc.ContractServiceStub(channel), contracts
    finally:
        channel.close()
        server.stop(0)


def test_list_with_partial_success_names_the_unreadable_contracts(
    partly_broken: tuple[pb_grpc.ContractServiceStub, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One malformed file failed ListContracts for every contract.
    stub, contracts = partly_broken
    with caplog.at_level(logging.WARNING):
        listed = stub.ListContracts(
            pb.ListContractsRequest(return_partial_success=True), timeout=10
        )
    assert [c.name for c in listed.contracts] == ["customer_spend", "merchant_risk"]
    assert list(listed.unreachable) == BROKEN
    assert listed.next_page_token == ""
    assert str(contracts).encode() not in listed.SerializeToString()
    # The server's log tells the operator why, by reason and relative file.
    logged = [r.args for r in caplog.records if "unreachable" in r.msg]
    assert [(name, reason) for name, reason, _ in logged] == [
        ("broken_yaml", "INVALID_YAML"),
        ("typo_table", "INVALID_FIELD"),
        ("unreadable", "INVALID_YAML"),
    ]


def test_paging_names_every_contract_once_either_listed_or_unreachable(
    partly_broken: tuple[pb_grpc.ContractServiceStub, Path],
) -> None:
    stub, _ = partly_broken
    pages, token = [], ""
    while True:
        reply = stub.ListContracts(
            pb.ListContractsRequest(
                page_size=2, page_token=token, return_partial_success=True
            ),
            timeout=10,
        )
        pages.append(([c.name for c in reply.contracts], list(reply.unreachable)))
        token = reply.next_page_token
        if not token:
            break
    # Names in order, page_size of them per page, each in one of the two lists.
    assert pages == [
        (["customer_spend"], ["broken_yaml"]),
        (["merchant_risk"], ["typo_table"]),
        ([], ["unreadable"]),
    ]


def test_list_without_partial_success_fails_as_before(
    partly_broken: tuple[pb_grpc.ContractServiceStub, Path],
) -> None:
    # A client that does not know `unreachable` must not take a partial list
    # for the whole (AIP-217, adopting partial success): the default is as before.
    stub, _ = partly_broken
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListContracts(pb.ListContractsRequest(), timeout=10)
    # The server's own file is at fault, not the request (AIP-193).
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _error_info(caught.value)[0] == "INVALID_YAML"  # broken_yaml's


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("broken_yaml", "INVALID_YAML"),
        ("typo_table", "INVALID_FIELD"),
        ("unreadable", "INVALID_YAML"),
    ],
)
def test_get_contract_of_an_unreachable_one_says_why_without_server_paths(
    partly_broken: tuple[pb_grpc.ContractServiceStub, Path], name: str, reason: str
) -> None:
    stub, contracts = partly_broken
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetContract(pb.GetContractRequest(name=name), timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    got_reason, metadata, message = _error_info(caught.value)
    assert (got_reason, metadata["file"]) == (reason, f"{name}/1.0.0.yaml")
    # The metadata of a folder read as a file held the absolute path.
    for text in (message, *metadata.values()):
        assert str(contracts.parent) not in text


def _error_info(error: grpc.RpcError) -> tuple[str, dict[str, str], str]:
    """ErrorInfo reason and metadata, and the status message."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info.reason, dict(info.metadata), status.message


# -- a server folder that is no valid contract name is the server's fault --------


@pytest.fixture(scope="module")
def badly_named(
    served_repo: ServedRepo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[pb_grpc.ContractServiceStub]:
    """A server over the repo's contracts plus a folder `bad name` (a space)
    holding a valid contract file."""
    from featurestore.services.server.app import create_server
    from featurestore.services.server.settings import ServerSettings

    contracts = tmp_path_factory.mktemp("badly_named") / "contracts"
    shutil.copytree(REPO / "feature_repo" / "contracts", contracts)
    shutil.copytree(contracts / "merchant_risk", contracts / "bad name")
    settings = ServerSettings(
        repo_path=served_repo.repo, contracts_dir=contracts, data_dir=served_repo.data
    )
    server = create_server(settings, "127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield pb_grpc.ContractServiceStub(channel)
    finally:
        channel.close()
        server.stop(0)


def test_list_with_a_badly_named_folder_is_failed_precondition(
    badly_named: pb_grpc.ContractServiceStub,
) -> None:
    # The caller sent no name, yet heard INVALID_ARGUMENT on field `name`.
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    with pytest.raises(grpc.RpcError) as caught:
        badly_named.ListContracts(pb.ListContractsRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    reason, metadata, _ = _error_info(caught.value)
    assert (reason, metadata) == ("INVALID_NAME", {"contract": "bad name"})
    status = rpc_status.from_call(caught.value)
    assert status is not None
    failure = error_details_pb2.PreconditionFailure()
    assert status.details[1].Unpack(failure)
    assert [(v.type, v.subject) for v in failure.violations] == [
        ("INVALID_NAME", "bad name")
    ]
    partial = badly_named.ListContracts(
        pb.ListContractsRequest(return_partial_success=True), timeout=10
    )
    assert list(partial.unreachable) == ["bad name"]
    # The same name from the caller is still the caller's mistake.
    with pytest.raises(grpc.RpcError) as asked:
        badly_named.GetContract(pb.GetContractRequest(name="bad name"), timeout=10)
    assert asked.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_info(asked.value)[:2] == ("INVALID_NAME", {"field": "name"})


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.CheckCompatibilityRequest(old_version="1.0.0"), "name"),
        (pb.CheckCompatibilityRequest(name="merchant_risk"), "old_version"),
        (pb.CheckCompatibilityRequest(new_version="1.0.0"), "name"),
    ],
    ids=["no-name", "no-old-version", "neither"],
)
def test_check_compatibility_names_the_missing_field(
    served_repo: ServedRepo, request_: pb.CheckCompatibilityRequest, field: str
) -> None:
    # Without `name` the error named `old_version`, which was set.
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    with pytest.raises(grpc.RpcError) as caught:
        _stub(served_repo).CheckCompatibility(request_, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_info(caught.value)[:2] == ("INVALID_FIELD", {"field": field})
    status = rpc_status.from_call(caught.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details[1].Unpack(bad)
    assert [v.field for v in bad.field_violations] == [field]
