"""`featurestore auth revoke-key` and `rotate-key` against a running server, direct
and via fs-front: the server re-reads the key file, no restart."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from feast.feature_view import FeatureView
from feast.permissions.action import AuthzedAction
from feast.permissions.permission import Permission
from feast.permissions.policy import RoleBasedPolicy

from featurestore.services.cli import main
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.serving._repo import (
    make_repo,
    serve,
    sqlite_online,
    wait_for,
    write_online,
)

pytestmark = pytest.mark.integration

READ_ONLINE = Permission(
    name="online",
    types=[FeatureView],
    actions=[AuthzedAction.READ_ONLINE],
    policy=RoleBasedPolicy(roles=["reader"]),
)
REQUEST = pb.GetOnlineFeaturesRequest(
    features=["customer_stats:spend"],
    entities={
        "customer_id": common_pb2.ValueList(values=[common_pb2.Value(int64_value=3)])
    },
)
# Each process looks at the file about once a second; a loaded CI machine
# may take much longer, and nothing here measures how long.
DEADLINE_S = 60.0


def _auth(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> str:
    """Run `featurestore auth ...` in this process; its stdout."""
    assert main(["auth", *map(str, argv)]) == 0
    return capsys.readouterr().out.strip()


def _id(key: str) -> str:
    return key.split("_", 2)[1]


def test_revoked_and_rotated_keys_are_refused_by_the_running_server(
    tmp_path: Path, transport: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    store.apply([READ_ONLINE])
    keys = tmp_path / "keys.yaml"
    add = ("add-key", "--file", keys, "--role", "reader", "--principal")
    leaked, rotated = _auth(capsys, *add, "leaked"), _auth(capsys, *add, "rotated")
    served = serve(store, transport, auth="api_keys", api_keys_file=keys)
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)

    def code(key: str) -> grpc.StatusCode:
        try:
            stub.GetOnlineFeatures(
                REQUEST, metadata=(("authorization", f"Bearer {key}"),), timeout=30
            )
        except grpc.RpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    try:
        assert code(leaked) is grpc.StatusCode.OK
        assert code(rotated) is grpc.StatusCode.OK

        _auth(capsys, "revoke-key", "--file", keys, _id(leaked))
        wait_for(lambda: code(leaked) is unauthenticated, DEADLINE_S)
        assert code(rotated) is grpc.StatusCode.OK  # only that key went

        successor = _auth(capsys, "rotate-key", "--file", keys, _id(rotated))
        wait_for(lambda: code(rotated) is unauthenticated, DEADLINE_S)
        # The server has read the file that replaced the old key: the new is in.
        assert code(successor) is grpc.StatusCode.OK
        assert code(leaked) is unauthenticated
        listed = _auth(capsys, "list-keys", "--file", keys)
        assert [line.split()[:2] for line in listed.splitlines()[1:]] == [
            [_id(successor), "rotated"]
        ]
    finally:
        served.stop()
