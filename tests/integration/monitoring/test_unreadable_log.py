"""One feature table (or profile table, or serving log) whose Delta log cannot
be read: TABLE_UNREADABLE for that table alone, in Prometheus, over gRPC and in
the CLI, never INTERNAL, a lost scrape or a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from click.testing import CliRunner, Result
from deltalake import write_deltalake
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64, String
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.cli import cli
from featurestore.services.monitoring import read_drift, read_profiles
from featurestore.services.monitoring._schema import profile_location, to_table
from featurestore.services.monitoring.assess import Assessment
from featurestore.services.monitoring.snapshot import (
    open_snapshot,
    profile_dataset,
    reference_from_snapshot,
)
from featurestore.services.project import Project
from featurestore.v1 import monitoring_service_pb2 as pb
from featurestore.v1 import monitoring_service_pb2_grpc as pb_grpc
from tests.integration.monitoring._monitored import scrape
from tests.integration.serving._repo import Served, serve
from tests.unit.monitoring._support import CONTRACT_YAML, rows, write_versions

pytestmark = pytest.mark.integration

YAML = """project: unreadable_it
registry: {root}/registry.db
provider: local
online_store: {{type: sqlite, path: {root}/online.db}}
offline_store: {{type: featurestore.services.offline.DeltaOfflineStore}}
entity_key_serialization_version: 3
"""
GOOD, BAD = "shop", "mall"
GARBAGE = '{"add": {garbage\n'


@dataclass
class Damaged:
    """A project whose ``mall`` table and profile table have a corrupt newest
    commit, beside a healthy ``shop``."""

    repo: Path
    data: Path
    contracts: Path
    project: Project
    store: FeatureStore


def _contract_yaml(table: str) -> str:
    return CONTRACT_YAML.replace("name: shop\n", f"name: {table}\n", 1)


def _profile(project: Project, table: str) -> None:
    """Versions 0 and 1 (shifted) of ``table``, each profiled as a publish."""
    location = project.table_uri(table)
    write_versions(location, rows(60), rows(60, shift=1.0, seed=2))
    from featurestore.services.contracts import parse_contract

    settings = parse_contract(_contract_yaml(table), f"{table}/1.0.0.yaml").drift
    ref = reference_from_snapshot(open_snapshot(location, 0), 0, settings)
    previous = None
    for version in (0, 1):
        assessment = Assessment(
            table,
            profile_dataset(open_snapshot(location, version), settings, ref),
            settings, ref, previous,
        )  # fmt: skip
        at = datetime(2026, 2, 1, tzinfo=UTC)
        write_deltalake(
            profile_location(location),
            to_table(assessment.rows(version, source="publish", run_id="r", at=at)),
            mode="append",
        )
        previous = read_profiles(project, table, version)[0]


def damage(table: Path) -> None:
    """Overwrite the newest commit of the Delta table at ``table`` with garbage."""
    newest = sorted((table / "_delta_log").glob("*.json"))[-1]
    newest.write_text(GARBAGE)


@pytest.fixture
def damaged(tmp_path: Path) -> Damaged:
    repo, data, contracts = tmp_path / "repo", tmp_path / "data", tmp_path / "c"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(YAML.format(root=tmp_path))
    (repo / "featurestore.yaml").write_text(
        f"data_dir: {data}\ncontracts_dir: {contracts}\n"
    )
    project = Project.load(repo)
    shop = Entity(name="shop", join_keys=["shop_id"], value_type=ValueType.INT64)
    views = []
    for table in (GOOD, BAD):
        (contracts / table).mkdir(parents=True)
        (contracts / table / "1.0.0.yaml").write_text(_contract_yaml(table))
        _profile(project, table)
        views.append(
            FeatureView(
                name=table,
                entities=[shop],
                schema=[
                    Field(name="amount", dtype=Float64),
                    Field(name="visits", dtype=Int64),
                    Field(name="city", dtype=String),
                ],
                source=FileSource(
                    name=table,
                    path=project.table_uri(table),
                    file_format=DeltaFormat(),
                    timestamp_field="event_timestamp",
                ),
                tags={"contract": table},
            )
        )
    store = FeatureStore(repo_path=str(repo))
    store.apply([shop, *views])
    bad = Path(project.table_uri(BAD))
    damage(bad)
    damage(Path(profile_location(str(bad))))
    return Damaged(repo, data, contracts, project, store)


@pytest.fixture
def served(damaged: Damaged) -> Iterator[Served]:
    running = serve(
        damaged.store, False, contracts_dir=damaged.contracts, data_dir=damaged.data
    )
    yield running
    running.stop()


def _verdicts(samples: dict, view: str) -> dict[str, float]:
    return {
        dict(labels)["verdict"]: value
        for (name, labels), value in samples.items()
        if name == "feature_freshness_verdict" and dict(labels)["view"] == view
    }


def test_metrics_keep_the_healthy_views(
    served: Served,
    damaged: Damaged,
    metrics_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        samples = scrape(metrics_port)
    # The healthy view keeps every series: its events (January) are late.
    assert _verdicts(samples, GOOD) == {"ok": 0.0, "late": 1.0, "unknown": 0.0}
    assert samples[("feature_sla_ok", (("view", GOOD),))] == 0.0
    assert ("feature_freshness_seconds", (("view", GOOD),)) in samples
    drift = {
        dict(labels)["view"]
        for (name, labels), _ in samples.items()
        if name == "feature_drift_score"
    }
    assert GOOD in drift and BAD not in drift
    latest = [
        s for s in read_drift(damaged.project, GOOD, 1) if s.against == "baseline"
    ]
    for score in latest:
        labels = (("feature", score.feature), ("metric", score.metric),
                  ("view", GOOD))  # fmt: skip
        assert samples[("feature_drift_score", labels)] == score.score
    # The damaged one says unknown (alert on it), and has no SLA sample.
    assert _verdicts(samples, BAD) == {"ok": 0.0, "late": 0.0, "unknown": 1.0}
    assert ("feature_sla_ok", (("view", BAD),)) not in samples
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(BAD in m and "TABLE_UNREADABLE" in m for m in warned), warned


def _unreadable(caught: pytest.ExceptionInfo[grpc.RpcError], tmp: Path) -> None:
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "TABLE_UNREADABLE"
    assert info.metadata["table"] == f"{BAD}_profile"
    assert str(tmp) not in caught.value.details()  # no server path


def test_grpc_names_the_unreadable_table(
    served: Served, damaged: Damaged, tmp_path: Path
) -> None:
    stub = pb_grpc.MonitoringServiceStub(served.channel)
    listed = stub.ListFreshness(pb.ListFreshnessRequest()).freshness
    by_view = {f.feature_view: f for f in listed}
    assert sorted(by_view) == [BAD, GOOD]
    assert by_view[GOOD].verdict == pb.FRESHNESS_VERDICT_LATE
    assert by_view[BAD].verdict == pb.FRESHNESS_VERDICT_UNKNOWN
    assert by_view[BAD].reason.startswith("TABLE_UNREADABLE: ")
    assert str(tmp_path) not in by_view[BAD].reason
    one = stub.GetFreshness(pb.GetFreshnessRequest(name=BAD)).freshness
    assert one.verdict == pb.FRESHNESS_VERDICT_UNKNOWN
    assert one.reason == by_view[BAD].reason
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListProfiles(pb.ListProfilesRequest(parent=BAD))
    _unreadable(caught, tmp_path)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListDriftScores(pb.ListDriftScoresRequest(parent=BAD))
    _unreadable(caught, tmp_path)
    good = stub.ListProfiles(pb.ListProfilesRequest(parent=GOOD)).profiles
    assert [p.version for p in good] == [0, 1]


def _run(damaged: Damaged, *args: str) -> Result:
    return CliRunner().invoke(
        cli, [*args, "--repo", str(damaged.repo)], prog_name="featurestore"
    )


def _one_line(result: Result, location: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"error: TABLE_UNREADABLE: cannot read the Delta log of {location}: "
    ), lines[0]
    assert "Traceback" not in result.output


def test_cli_one_line_per_unreadable_table(damaged: Damaged) -> None:
    bad = damaged.project.table_uri(BAD)
    every = _run(damaged, "monitor", "freshness", "--json")
    assert every.exception is None or isinstance(every.exception, SystemExit)
    assert every.exit_code == 1, every.output  # shop is late, as without mall
    got = {f["view"]: f for f in json.loads(every.stdout)}
    assert got[GOOD]["verdict"] == "late"
    assert got[BAD]["verdict"] == "unknown"
    assert got[BAD]["reason"].startswith("TABLE_UNREADABLE: ")
    _one_line(_run(damaged, "monitor", "freshness", BAD), bad)
    _one_line(_run(damaged, "monitor", "profiles", BAD), profile_location(bad))
    _one_line(_run(damaged, "monitor", "drift", BAD), profile_location(bad))
    _one_line(_run(damaged, "monitor", "backfill", BAD), bad)
    log = damaged.data / "serving_logs" / GOOD
    for _ in range(2):
        write_deltalake(log, pa.table({"x": [1]}), mode="append")
    damage(log)
    _one_line(_run(damaged, "monitor", "skew", GOOD), str(log))
