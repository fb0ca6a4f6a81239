"""Monitoring when the object store behind an ``s3://`` data root does not answer.

The tables are written to the S3 harness first; then featurestore.yaml points
the endpoint at a closed loopback port. Every ``monitor`` command says so in
one line and exits 2, as ``lineage`` does; the MonitoringService RPCs answer
UNAVAILABLE with STORAGE_UNAVAILABLE. No output names the secret key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.cli import cli
from featurestore.services.project import Project
from featurestore.services.server.app import create_server
from featurestore.services.server.settings import ServerSettings
from featurestore.v1 import monitoring_service_pb2 as pb
from featurestore.v1 import monitoring_service_pb2_grpc as pb_grpc
from tests.integration.monitoring._monitored import CONTRACT
from tests.integration.storage._project import (
    apply,
    featurestore_yaml,
    write_project,
    write_tables,
)
from tests.processes import free_port
from tests.s3_harness import SECRET_KEY, S3Server

pytestmark = [pytest.mark.integration]


@pytest.fixture
def dead_repo(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A project whose tables are on S3, its endpoint now a closed port."""
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    monkeypatch.delenv("FS_REPO_PATH", raising=False)
    options = s3_server.options()  # the secret inline: it must never be printed
    repo = write_project(tmp_path, s3_server.prefix("monitor"), options)
    write_tables(Project.load(repo))
    apply(repo)
    contract = repo / "contracts" / "customer_stats" / "1.0.0.yaml"
    contract.parent.mkdir(parents=True)
    contract.write_text(
        CONTRACT.format(
            name="customer_stats", key="customer_id", key_type="int64", freshness="2h"
        )
    )
    # Nothing listens on a port just found free: the connection is refused.
    dead = {**options, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    data_dir = Project.load(repo).data_dir
    (repo / "featurestore.yaml").write_text(featurestore_yaml(data_dir, dead))
    return repo


@pytest.mark.parametrize(
    "command",
    [
        ["freshness"],
        ["freshness", "--json"],
        ["freshness", "customer_stats"],
        ["profiles", "customer_stats"],
        ["drift", "customer_stats"],
        ["drift", "customer_stats", "--version", "0"],
        ["backfill", "customer_stats"],
        ["skew", "customer_stats", "--since", "2024-01-01"],
    ],
    ids=" ".join,
)
def test_monitor_on_a_store_that_does_not_answer_is_one_line(
    dead_repo: Path, command: list[str]
) -> None:
    started = time.monotonic()
    run = CliRunner().invoke(cli, ["monitor", *command, "--repo", str(dead_repo)])
    assert time.monotonic() - started < 60
    assert run.exit_code == 2, run.output
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: STORAGE_UNAVAILABLE: cannot read s3://")
    assert "Traceback" not in run.output and SECRET_KEY not in run.output


@pytest.fixture
def channel(dead_repo: Path) -> Iterator[grpc.Channel]:
    running = create_server(ServerSettings(repo_path=dead_repo), "127.0.0.1:0")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as chan:
            yield chan
    finally:
        running.stop(0)


def test_monitoring_rpcs_on_a_store_that_does_not_answer_are_unavailable(
    channel: grpc.Channel,
) -> None:
    stub = pb_grpc.MonitoringServiceStub(channel)
    calls = {
        "GetFreshness": lambda: stub.GetFreshness(
            pb.GetFreshnessRequest(name="customer_stats"), timeout=60
        ),
        "ListFreshness": lambda: stub.ListFreshness(
            pb.ListFreshnessRequest(), timeout=60
        ),
        "ListProfiles": lambda: stub.ListProfiles(
            pb.ListProfilesRequest(parent="customer_stats"), timeout=60
        ),
        "ListDriftScores": lambda: stub.ListDriftScores(
            pb.ListDriftScoresRequest(parent="customer_stats"), timeout=60
        ),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE, name
        status = rpc_status.from_call(caught.value)
        assert status is not None, name
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        assert info.reason == "STORAGE_UNAVAILABLE", name
        assert SECRET_KEY not in caught.value.details()
        assert SECRET_KEY not in str(caught.value.trailing_metadata())
