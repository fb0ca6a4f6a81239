"""MonitoringService behind the guard: credentials, DESCRIBE per view, the audit,
directly and through fs-front."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from feast.feature_view import FeatureView
from feast.permissions.action import AuthzedAction
from feast.permissions.permission import Permission
from feast.permissions.policy import RoleBasedPolicy
from feast.project import Project
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.auth import add_key
from featurestore.v1 import monitoring_service_pb2 as pb
from featurestore.v1 import monitoring_service_pb2_grpc as pb_grpc
from tests.integration.monitoring._monitored import make_monitored_repo
from tests.integration.serving._repo import Served, serve, wait_for

pytestmark = pytest.mark.integration

PERMISSIONS = [
    Permission(
        name="describe-customers",
        types=[Project, FeatureView],
        name_patterns=["customer_stats", "serving_it"],
        actions=[AuthzedAction.DESCRIBE],
        policy=RoleBasedPolicy(roles=["reader"]),
    ),
]


class Secured:
    def __init__(self, served: Served, keys: dict[str, str], audit: Path) -> None:
        self.served, self.keys, self.audit = served, keys, audit
        self.stub = pb_grpc.MonitoringServiceStub(served.channel)

    def as_(self, who: str | None) -> tuple[tuple[str, str], ...]:
        return () if who is None else (("authorization", f"Bearer {self.keys[who]}"),)


@pytest.fixture
def secured(tmp_path: Path, transport: bool) -> Iterator[Secured]:
    store, contracts = make_monitored_repo(tmp_path)
    store.apply(PERMISSIONS)
    key_file = tmp_path / "keys.yaml"
    keys = {
        "reader": add_key(key_file, "alice", ["reader"]),
        "nobody": add_key(key_file, "eve", []),
    }
    audit = tmp_path / "audit.jsonl"
    served = serve(
        store,
        transport,
        contracts_dir=contracts,
        auth="api_keys",
        api_keys_file=key_file,
        audit_log=audit,
    )
    yield Secured(served, keys, audit)
    served.stop()


def _code(call) -> str:
    try:
        call()
    except grpc.RpcError as err:
        return err.code().name
    return "OK"


def test_freshness_needs_describe_on_the_view(secured: Secured) -> None:
    stub = secured.stub

    def get(name: str, who: str | None):
        request = pb.GetFreshnessRequest(name=name)
        return lambda: stub.GetFreshness(request, metadata=secured.as_(who))

    assert _code(get("customer_stats", None)) == "UNAUTHENTICATED"
    assert _code(get("customer_stats", "reader")) == "OK"
    assert _code(get("merchant_risk", "reader")) == "PERMISSION_DENIED"
    assert _code(get("customer_stats", "nobody")) == "PERMISSION_DENIED"
    assert _code(get("", "reader")) == "INVALID_ARGUMENT"
    with pytest.raises(grpc.RpcError) as caught:
        get("merchant_risk", "reader")()
    info = error_details_pb2.ErrorInfo()
    status = rpc_status.from_call(caught.value)
    assert status is not None and status.details[0].Unpack(info)
    assert info.metadata["action"] == "DESCRIBE"
    assert info.metadata["resource"] == "FeatureView 'merchant_risk'"


def test_list_shows_only_describable_views(secured: Secured) -> None:
    request = pb.ListFreshnessRequest()
    assert _code(lambda: secured.stub.ListFreshness(request)) == "UNAUTHENTICATED"
    seen = secured.stub.ListFreshness(request, metadata=secured.as_("reader"))
    assert [f.feature_view for f in seen.freshness] == ["customer_stats"]
    hidden = secured.stub.ListFreshness(request, metadata=secured.as_("nobody"))
    assert list(hidden.freshness) == []


def test_monitoring_calls_are_audited(secured: Secured) -> None:
    request = pb.GetFreshnessRequest(name="merchant_risk")
    _code(lambda: secured.stub.GetFreshness(request, metadata=secured.as_("nobody")))

    def lines() -> list[dict[str, object]]:
        if not secured.audit.exists():
            return []
        return [json.loads(x) for x in secured.audit.read_text().splitlines()]

    wait_for(lambda: len(lines()) >= 1)
    (line,) = lines()
    assert line["method"] == "/featurestore.v1.MonitoringService/GetFreshness"
    assert (line["principal"], line["decision"]) == ("eve", "deny")
    assert line["resources"] == ["FeatureView:merchant_risk"]


def test_profiles_and_drift_need_describe_on_the_view(secured: Secured) -> None:
    stub = secured.stub
    calls = {
        "ListProfiles": lambda view, md: stub.ListProfiles(
            pb.ListProfilesRequest(parent=view), metadata=md
        ),
        "ListDriftScores": lambda view, md: stub.ListDriftScores(
            pb.ListDriftScoresRequest(parent=view), metadata=md
        ),
    }
    for name, call in calls.items():
        codes = [
            _code(lambda view=view, who=who, call=call: call(view, secured.as_(who)))
            for view, who in (
                ("customer_stats", None),
                ("merchant_risk", "reader"),
                ("customer_stats", "nobody"),
                # Allowed, but nothing is profiled: NOT_FOUND, past the guard.
                ("customer_stats", "reader"),
                ("", "reader"),
            )
        ]
        assert codes == [
            "UNAUTHENTICATED",
            "PERMISSION_DENIED",
            "PERMISSION_DENIED",
            "NOT_FOUND",
            "INVALID_ARGUMENT",
        ], name
