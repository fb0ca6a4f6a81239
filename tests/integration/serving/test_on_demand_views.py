"""An on-demand feature view is refused as not served, never as unknown.

The registry holds it, Feast's SDK computes it at request time; this service
neither stores nor computes it. Both online APIs, the historical one, the
catalogue and ``training-set`` answered NOT_FOUND / FEATURE_VIEW_NOT_FOUND
("unknown feature view"), and the console offered a service over it, then 404.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from click.testing import CliRunner
from feast.protos.feast.serving import ServingService_pb2 as spb
from feast.protos.feast.serving.ServingService_pb2_grpc import ServingServiceStub
from feast.protos.feast.types.Value_pb2 import RepeatedValue
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.auth import add_key
from featurestore.services.cli import cli
from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import monitoring_service_pb2 as mpb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from featurestore.v1.monitoring_service_pb2_grpc import MonitoringServiceStub
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
from tests.integration.serving.test_permission_tags import PERMISSIONS, TAGGED
from tests.integration.ui._console import Browserless, start_console
from tests.integration.ui._project import ConsoleProject

pytestmark = pytest.mark.integration

ON_DEMAND = """
import pandas as pd
from feast import RequestSource
from feast.on_demand_feature_view import on_demand_feature_view

multiplier = RequestSource(
    name="multiplier", schema=[Field(name="multiplier", dtype=Float64)]
)

@on_demand_feature_view(
    sources=[customer_stats_view, multiplier],
    schema=[Field(name="spend_x", dtype=Float64)], mode="pandas",
)
def spend_odfv(inputs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"spend_x": inputs["spend"] * inputs["multiplier"]})

odfv_service = FeatureService(
    name="odfv_service", features=[customer_stats_view[["spend"]], spend_odfv]
)
"""
REASON = "ON_DEMAND_VIEW_NOT_SERVED"


def odfv_repo(root: Path, definitions: str = DEFINITIONS, extra: str = ""):
    """The serving repo plus spend_odfv and odfv_service, by a real `feast apply`."""
    store = make_repo(root, sqlite_online(root))
    write_online(store)
    repo = Path(store.repo_path)
    (repo / "definitions.py").write_text(definitions + ON_DEMAND)
    if extra:
        (repo / "permissions.py").write_text(extra)
    feast = Path(sys.executable).parent / "feast"
    subprocess.run([str(feast), "apply"], cwd=repo, check=True, capture_output=True)
    store.refresh_registry()
    return store


@pytest.fixture
def served(tmp_path: Path, transport: bool) -> Iterator[Served]:
    running = serve(odfv_repo(tmp_path), transport)
    yield running
    running.stop()


def _refusal(call) -> tuple[grpc.StatusCode, error_details_pb2.ErrorInfo, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return caught.value.code(), info, caught.value.details() or ""


def _assert_not_served(call) -> None:
    code, info, message = _refusal(call)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert (info.reason, dict(info.metadata)) == (REASON, {"view": "spend_odfv"})
    assert "'spend_odfv' is an on-demand feature view" in message


def test_every_api_says_it_is_not_served(served):
    # It was NOT_FOUND "unknown feature view: 'spend_odfv'".
    ours = FeatureStoreServiceStub(served.channel)
    ids = common_pb2.ValueList(values=[common_pb2.Value(int64_value=3)])
    for selection in ({"feature_service": "odfv_service"},
                      {"features": ["spend_odfv:spend_x"]}):  # fmt: skip
        request = pb.GetOnlineFeaturesRequest(
            entities={"customer_id": ids}, **selection
        )
        _assert_not_served(lambda r=request: ours.GetOnlineFeatures(r, timeout=10))
        entity = pa.table(
            {
                "customer_id": pa.array([3], pa.int64()),
                "event_timestamp": pa.array([NOW], TS),
            }
        )
        historical = pb.GetHistoricalFeaturesRequest(
            entity_rows_arrow=write_ipc(entity), **selection
        )
        _assert_not_served(
            lambda r=historical: list(ours.GetHistoricalFeatures(r, timeout=20))
        )
    feast = ServingServiceStub(served.channel)
    keys = {"customer_id": RepeatedValue(val=[ValueProto(int64_val=3)])}
    refs = spb.FeatureList(val=["spend_odfv:spend_x"])
    for selection in ({"feature_service": "odfv_service"}, {"features": refs}):
        request = spb.GetOnlineFeaturesRequest(entities=keys, **selection)
        _assert_not_served(lambda r=request: feast.GetOnlineFeatures(r, timeout=10))
    get = pb.GetFeatureViewRequest(name="spend_odfv")
    _assert_not_served(lambda: ours.GetFeatureView(get, timeout=10))
    # An unknown view is still unknown.
    get = pb.GetFeatureViewRequest(name="no_such_view")
    assert _refusal(lambda: ours.GetFeatureView(get, timeout=10))[0] == (
        grpc.StatusCode.NOT_FOUND
    )


def test_a_caller_who_may_not_describe_it_learns_nothing(tmp_path):
    # Permission before existence: judged as an unknown view (no tags), so
    # team a's reader is denied, as for any view it may not read.
    store = odfv_repo(tmp_path, TAGGED, PERMISSIONS)
    key = add_key(tmp_path / "keys.yaml", "alice", ["reader"])
    served = serve(store, auth="api_keys", api_keys_file=tmp_path / "keys.yaml")
    try:
        stub = FeatureStoreServiceStub(served.channel)
        md = (("authorization", f"Bearer {key}"),)
        ids = common_pb2.ValueList(values=[common_pb2.Value(int64_value=3)])
        request = pb.GetOnlineFeaturesRequest(
            entities={"customer_id": ids}, features=["spend_odfv:spend_x"]
        )
        code, _, message = _refusal(
            lambda: stub.GetOnlineFeatures(request, metadata=md, timeout=10)
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "on-demand" not in message
        get = pb.GetFeatureViewRequest(name="spend_odfv")
        code, _, message = _refusal(
            lambda: stub.GetFeatureView(get, metadata=md, timeout=10)
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "on-demand" not in message
    finally:
        served.stop()


def test_training_set_says_it_is_not_served(tmp_path):
    # It was FEATURE_VIEW_NOT_FOUND.
    store = odfv_repo(tmp_path)
    entities = tmp_path / "entities.parquet"
    pa.table(
        {
            "customer_id": pa.array([3], pa.int64()),
            "event_timestamp": pa.array([NOW], TS),
        }
    ).to_pandas().to_parquet(entities)
    for selection in (["--feature-service", "odfv_service"],
                      ["--features", "spend_odfv:spend_x"]):  # fmt: skip
        result = CliRunner().invoke(
            cli,
            ["training-set", "--repo", str(store.repo_path), "--entities",
             str(entities), "--out", str(tmp_path / "set.parquet"), *selection],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert f"{REASON}: feature view 'spend_odfv' is an on-demand" in result.stderr
        assert not (tmp_path / "set.parquet").exists()


def test_the_console_does_not_offer_it(tmp_path):
    # The lookup page offered odfv_service, then answered 404; so did
    # /views/spend_odfv.
    repo = Path(odfv_repo(tmp_path).repo_path)
    console = start_console(ConsoleProject(repo, repo / "data"))
    try:
        client = Browserless(console)
        page = client.request("/lookup").body
        offered = re.findall(r'value="service:([^"]+)"', page)
        assert offered == ["scoring"]
        assert "Not offered: odfv_service" in page
        # Every page counts and lists the services the lookup offers: home
        # said 2 feature service(s), customer_stats' page "odfv_service, scoring".
        home = client.request("/").body
        counted = re.search(r"(\d+) feature service\(s\) in project", home).group(1)
        assert int(counted) == len(offered)
        assert "Not offered: odfv_service" in home
        view = client.request("/views/customer_stats").body
        listed = re.search(r'<dd id="services">([^<]*)</dd>', view).group(1)
        assert listed.split(", ") == offered
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        for target in ("service:odfv_service", "view:spend_odfv"):
            form = {"csrf": csrf, "target": target, "key:customer_id": "3"}
            answer = client.request("/lookup", form)
            assert answer.status == 400, target
            assert "is an on-demand feature view" in answer.body
        answer = client.request("/views/spend_odfv")
        assert answer.status == 400
        assert "is an on-demand feature view" in answer.body
    finally:
        console.stop()


def _historical(pins: dict[str, int]) -> pb.GetHistoricalFeaturesRequest:
    entity = pa.table(
        {
            "customer_id": pa.array([3], pa.int64()),
            "event_timestamp": pa.array([NOW], TS),
        }
    )
    return pb.GetHistoricalFeaturesRequest(
        entity_rows_arrow=write_ipc(entity),
        features=["customer_stats:spend"],
        pins={v: common_pb2.TablePin(version=n) for v, n in pins.items()},
    )


def test_a_pin_or_freshness_of_it_says_it_is_not_served(served):
    # A pin said NOT_FOUND "feature view 'spend_odfv' is not registered".
    ours = FeatureStoreServiceStub(served.channel)
    request = _historical({"spend_odfv": 0})
    _assert_not_served(lambda: list(ours.GetHistoricalFeatures(request, timeout=20)))
    monitoring = MonitoringServiceStub(served.channel)
    fresh = mpb.GetFreshnessRequest(name="spend_odfv")
    _assert_not_served(lambda: monitoring.GetFreshness(fresh, timeout=10))
    # An unknown view is still unknown, and a pin of a stored view still reads.
    unknown = _historical({"no_such_view": 0})
    code, info, _ = _refusal(lambda: list(ours.GetHistoricalFeatures(unknown)))
    assert (code, info.reason) == (grpc.StatusCode.NOT_FOUND, "FEATURE_VIEW_NOT_FOUND")
    pinned = list(ours.GetHistoricalFeatures(_historical({"merchant_risk": 0})))
    assert pinned[-1].HasField("manifest")


OFFLINE_PERMISSIONS = """
from feast.feature_view import FeatureView
from feast.permissions.action import AuthzedAction
from feast.permissions.permission import Permission
from feast.permissions.policy import RoleBasedPolicy

offline = Permission(
    name="offline-customers", types=[FeatureView], name_patterns=["customer_stats"],
    actions=[AuthzedAction.READ_OFFLINE], policy=RoleBasedPolicy(roles=["tcp", "tr"]),
)
describe = Permission(
    name="describe", types=[FeatureView], actions=[AuthzedAction.DESCRIBE],
    policy=RoleBasedPolicy(roles=["tr"]),
)
"""


def test_a_pin_or_freshness_of_it_is_hidden_from_who_may_not_describe_it(tmp_path):
    # As for a reference: judged as an unknown view (Catalog.stand_in), so
    # only a caller who may DESCRIBE such a view learns what it is.
    store = odfv_repo(tmp_path, extra=OFFLINE_PERMISSIONS)
    keys = tmp_path / "keys.yaml"
    blind, trainer = add_key(keys, "tc", ["tcp"]), add_key(keys, "tr", ["tr"])
    served = serve(store, auth="api_keys", api_keys_file=keys)
    try:
        ours = FeatureStoreServiceStub(served.channel)
        monitoring = MonitoringServiceStub(served.channel)
        fresh = mpb.GetFreshnessRequest(name="spend_odfv")
        for key, allowed in ((blind, False), (trainer, True)):
            md = (("authorization", f"Bearer {key}"),)
            pin = _historical({"spend_odfv": 0})
            calls = (
                lambda r=pin, m=md: list(
                    ours.GetHistoricalFeatures(r, metadata=m, timeout=20)
                ),
                lambda m=md: monitoring.GetFreshness(fresh, metadata=m, timeout=10),
            )
            for call in calls:
                if allowed:
                    _assert_not_served(call)
                    continue
                code, _, message = _refusal(call)
                assert code == grpc.StatusCode.PERMISSION_DENIED
                assert "on-demand" not in message
        # The blind caller reads what it may: the refusal is the pin's.
        md = (("authorization", f"Bearer {blind}"),)
        read = list(ours.GetHistoricalFeatures(_historical({}), metadata=md))
        assert read[-1].HasField("manifest")
    finally:
        served.stop()


def test_monitor_freshness_says_it_is_not_served(tmp_path):
    # It was FEATURE_VIEW_NOT_FOUND "unknown feature view 'spend_odfv'".
    store = odfv_repo(tmp_path)
    for command in ("freshness", "skew"):
        result = CliRunner().invoke(
            cli, ["monitor", command, "spend_odfv", "--repo", str(store.repo_path)]
        )
        assert result.exit_code == 2, result.output
        assert f"{REASON}: feature view 'spend_odfv' is an on-demand" in result.stderr
    unknown = CliRunner().invoke(
        cli, ["monitor", "freshness", "nope", "--repo", str(store.repo_path)]
    )
    assert unknown.exit_code == 2
    assert "FEATURE_VIEW_NOT_FOUND: unknown feature view 'nope'" in unknown.stderr
