"""A pin of a view the read does not touch tells a caller nothing about which
views exist unless it may DESCRIBE that view (permission before existence)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from feast.feature_view import FeatureView
from feast.permissions.action import AuthzedAction
from feast.permissions.permission import Permission
from feast.permissions.policy import RoleBasedPolicy

from featurestore.services.auth import add_key
from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.serving._repo import (
    NOW,
    TS,
    Served,
    make_repo,
    serve,
    sqlite_online,
    wait_for,
)

pytestmark = pytest.mark.integration

PERMISSIONS = [
    # "tcp" may read customer_stats offline and DESCRIBE nothing.
    Permission(
        name="offline-customers",
        types=[FeatureView],
        name_patterns=["customer_stats"],
        actions=[AuthzedAction.READ_OFFLINE],
        policy=RoleBasedPolicy(roles=["tcp", "trainer"]),
    ),
    Permission(
        name="describe",
        types=[FeatureView],
        actions=[AuthzedAction.DESCRIBE],
        policy=RoleBasedPolicy(roles=["trainer"]),
    ),
]


@pytest.fixture
def pinned(tmp_path: Path, transport: bool) -> Iterator[tuple[Served, dict, Path]]:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    store.apply(PERMISSIONS)
    key_file, audit = tmp_path / "keys.yaml", tmp_path / "audit.jsonl"
    keys = {
        "tcp": add_key(key_file, "tc", ["tcp"]),
        "trainer": add_key(key_file, "tr", ["trainer"]),
    }
    served = serve(
        store, transport, auth="api_keys", api_keys_file=key_file, audit_log=audit
    )
    yield served, keys, audit
    served.stop()


def _read(served: Served, key: str, pins: dict[str, int], rid: str) -> tuple[str, str]:
    entity = pa.table(
        {"customer_id": pa.array([3], pa.int64()), "event_timestamp": [NOW]},
        schema=pa.schema([("customer_id", pa.int64()), ("event_timestamp", TS)]),
    )
    request = pb.GetHistoricalFeaturesRequest(
        entity_rows_arrow=write_ipc(entity),
        features=["customer_stats:spend"],
        pins={v: common_pb2.TablePin(version=n) for v, n in pins.items()},
    )
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    metadata = (("authorization", f"Bearer {key}"), ("x-request-id", rid))
    try:
        list(stub.GetHistoricalFeatures(request, metadata=metadata, timeout=60))
    except grpc.RpcError as err:
        return err.code().name, err.details() or ""
    return "OK", ""


def test_a_pin_needs_describe_on_an_unread_view(pinned) -> None:
    served, keys, audit = pinned
    # A pin of the view read is covered by READ_OFFLINE on it.
    assert _read(served, keys["tcp"], {"customer_stats": 0}, "t0")[0] == "OK"
    # Twice each: the second admission of a selection is remembered.
    for attempt in range(2):
        real = _read(served, keys["tcp"], {"merchant_risk": 0}, f"t1-{attempt}")
        ghost = _read(served, keys["tcp"], {"ghost": 0}, f"t2-{attempt}")
        assert real[0] == ghost[0] == "PERMISSION_DENIED", (real, ghost)
        assert real[1].replace("merchant_risk", "ghost") == ghost[1]
    # A caller who may DESCRIBE every view learns what it could list anyway.
    assert _read(served, keys["trainer"], {"merchant_risk": 0}, "r1")[0] == "OK"
    assert _read(served, keys["trainer"], {"ghost": 0}, "r2")[0] == "NOT_FOUND"

    def lines() -> dict[str, dict]:
        if not audit.exists():
            return {}
        records = [json.loads(line) for line in audit.read_text().splitlines()]
        return {r["request_id"]: r for r in records}

    wait_for(lambda: "r2" in lines())
    denied = lines()["t1-1"]
    assert denied["decision"] == "deny"
    assert "FeatureView:merchant_risk" in denied["resources"]
