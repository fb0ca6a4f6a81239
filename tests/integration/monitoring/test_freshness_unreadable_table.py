"""One local feature table that cannot be read (a file gone or unreadable):
that view alone is freshness ``unknown`` in ListFreshness and ``monitor
freshness``, the others are judged; GetFreshness of it is UNAVAILABLE naming the
view. No answer names the table's location on the server.

The tester made the table unreadable with ``chmod 000``, which root ignores; the
table's ``_delta_log`` folder replaced by a file fails the same read (an
``OSError`` from delta-rs) for any user.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from feast import FeatureStore
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.cli import cli
from featurestore.v1 import monitoring_service_pb2 as pb
from featurestore.v1 import monitoring_service_pb2_grpc as pb_grpc
from tests.integration.monitoring._monitored import make_monitored_repo
from tests.integration.serving._repo import Served, serve

pytestmark = pytest.mark.integration

BAD, GOOD = "customer_stats", "merchant_risk"
"""customer_stats is made unreadable; merchant_risk stays late, as always."""


def _make_unreadable(store: FeatureStore) -> None:
    log = Path(store.repo_path) / "data" / BAD / "_delta_log"
    shutil.rmtree(log)
    log.write_text("not a Delta log folder\n")


@pytest.fixture
def broken(tmp_path: Path, transport: bool) -> Iterator[Served]:
    store, contracts = make_monitored_repo(tmp_path)
    served = serve(
        store, transport, contracts_dir=contracts, data_dir=tmp_path / "data"
    )
    _make_unreadable(store)
    yield served
    served.stop()


def test_list_judges_the_others_and_get_names_the_view(
    broken: Served, tmp_path: Path
) -> None:
    stub = pb_grpc.MonitoringServiceStub(broken.channel)
    listed = stub.ListFreshness(pb.ListFreshnessRequest()).freshness
    by_view = {f.feature_view: f for f in listed}
    assert sorted(by_view) == [BAD, GOOD]
    assert by_view[GOOD].verdict == pb.FRESHNESS_VERDICT_LATE
    assert by_view[BAD].verdict == pb.FRESHNESS_VERDICT_UNKNOWN
    assert by_view[BAD].reason.startswith("STORAGE_UNAVAILABLE: ")
    assert repr(BAD) in by_view[BAD].reason
    assert str(tmp_path) not in by_view[BAD].reason
    good = stub.GetFreshness(pb.GetFreshnessRequest(name=GOOD)).freshness
    assert good.verdict == pb.FRESHNESS_VERDICT_LATE
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetFreshness(pb.GetFreshnessRequest(name=BAD))
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "STORAGE_UNAVAILABLE"
    assert info.metadata["view"] == BAD
    assert repr(BAD) in caught.value.details()
    assert str(tmp_path) not in caught.value.details()
    assert str(tmp_path) not in str(status)


def test_cli_lists_the_others_and_names_the_unreadable_view(tmp_path: Path) -> None:
    store, _ = make_monitored_repo(tmp_path)
    _make_unreadable(store)
    repo = ["--repo", store.repo_path]
    every = CliRunner().invoke(cli, ["monitor", "freshness", "--json", *repo])
    assert every.exit_code == 1, every.output  # merchant_risk is late, as before
    got = {f["view"]: f for f in json.loads(every.stdout)}
    assert got[GOOD]["verdict"] == "late"
    assert got[BAD]["verdict"] == "unknown"
    assert got[BAD]["reason"].startswith("STORAGE_UNAVAILABLE: ")
    named = CliRunner().invoke(cli, ["monitor", "freshness", BAD, *repo])
    assert named.exit_code == 2, named.output
    lines = named.stderr.strip().splitlines()
    assert len(lines) == 1, named.stderr
    assert lines[0].startswith("error: STORAGE_UNAVAILABLE: "), lines[0]
    assert repr(BAD) in lines[0] and "Traceback" not in named.output
