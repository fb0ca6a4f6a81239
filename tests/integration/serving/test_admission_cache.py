"""Remembered admissions (``Guard``) never outlive what granted them: a revoked
key, changed roles, an expired token and a new registry version each take
effect on the next calls, direct and via fs-front; every call is still audited."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from feast.feature_view import FeatureView
from feast.permissions.action import AuthzedAction
from feast.permissions.permission import Permission
from feast.permissions.policy import RoleBasedPolicy

from featurestore.services.auth import add_key
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.serving._repo import (
    Served,
    make_repo,
    serve,
    sqlite_online,
    wait_for,
    write_online,
)
from tests.oidc_harness import AUDIENCE, Issuer, rsa_key, start_issuer

pytestmark = pytest.mark.integration

ONLINE_READERS = Permission(
    name="online-readers",
    types=[FeatureView],
    actions=[AuthzedAction.READ_ONLINE],
    policy=RoleBasedPolicy(roles=["reader"]),
)
# Any permission in the registry turns deny-by-default on; this one grants
# nothing online, so without ONLINE_READERS every read is denied.
OFFLINE_ONLY = Permission(
    name="offline-only",
    types=[FeatureView],
    actions=[AuthzedAction.READ_OFFLINE],
    policy=RoleBasedPolicy(roles=["trainer"]),
)
CUSTOMER_3 = pb.GetOnlineFeaturesRequest(
    features=["customer_stats:spend"],
    entities={
        "customer_id": common_pb2.ValueList(values=[common_pb2.Value(int64_value=3)])
    },
)


class Keyed:
    """A served repo with API keys for alice and bob (both readers)."""

    def __init__(self, served: Served, key_file: Path, keys: dict[str, str]) -> None:
        self.served, self.key_file, self.keys = served, key_file, keys
        self.stub = pb_grpc.FeatureStoreServiceStub(served.channel)

    def read(self, who: str) -> grpc.StatusCode:
        """The status of one online read as ``who``."""
        metadata = (("authorization", f"Bearer {self.keys[who]}"),)
        return _code(lambda: self.stub.GetOnlineFeatures(CUSTOMER_3, metadata=metadata))

    def edit_keys(self, principal: str, roles: list[str] | None) -> None:
        """Rewrite the key file as an operator would: drop ``principal``'s key
        (``roles`` None) or give it ``roles``."""
        document = yaml.safe_load(self.key_file.read_text())
        entries = [e for e in document["keys"] if e["principal"] != principal]
        if roles is not None:
            (entry,) = [e for e in document["keys"] if e["principal"] == principal]
            entries.append({**entry, "roles": roles})
        temporary = self.key_file.with_name("keys.yaml.tmp")
        temporary.write_text(yaml.safe_dump({"keys": entries}, sort_keys=False))
        os.replace(temporary, self.key_file)

    def audit_lines(self) -> list[dict[str, object]]:
        audit = self.served.settings.audit_log
        assert audit is not None
        text = audit.read_text() if audit.exists() else ""
        return [json.loads(line) for line in text.splitlines()]


def _code(call) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


@pytest.fixture
def keyed(tmp_path: Path, transport: bool) -> Iterator[Keyed]:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    store.apply([ONLINE_READERS, OFFLINE_ONLY])
    key_file = tmp_path / "keys.yaml"
    keys = {who: add_key(key_file, who, ["reader"]) for who in ("alice", "bob")}
    served = serve(
        store,
        transport,
        auth="api_keys",
        api_keys_file=key_file,
        audit_log=tmp_path / "audit" / "audit.jsonl",
        registry_refresh_seconds=0.2,
    )
    yield Keyed(served, key_file, keys)
    served.stop()


def test_a_removed_key_is_refused_though_its_reads_were_admitted(
    keyed: Keyed,
) -> None:
    assert [keyed.read("alice") for _ in range(3)] == [grpc.StatusCode.OK] * 3
    keyed.edit_keys("alice", None)
    wait_for(lambda: keyed.read("alice") is grpc.StatusCode.UNAUTHENTICATED)
    assert keyed.read("alice") is grpc.StatusCode.UNAUTHENTICATED
    assert keyed.read("bob") is grpc.StatusCode.OK


def test_roles_taken_from_a_key_deny_its_admitted_reads(keyed: Keyed) -> None:
    assert [keyed.read("alice") for _ in range(3)] == [grpc.StatusCode.OK] * 3
    keyed.edit_keys("alice", ["trainer"])
    wait_for(lambda: keyed.read("alice") is grpc.StatusCode.PERMISSION_DENIED)
    keyed.edit_keys("alice", ["reader"])
    wait_for(lambda: keyed.read("alice") is grpc.StatusCode.OK)


def test_a_new_registry_version_decides_afresh_both_ways(keyed: Keyed) -> None:
    assert [keyed.read("alice") for _ in range(3)] == [grpc.StatusCode.OK] * 3
    store = keyed.served.store
    store.registry.delete_permission(ONLINE_READERS.name, store.project)
    wait_for(lambda: keyed.read("alice") is grpc.StatusCode.PERMISSION_DENIED)
    assert keyed.read("bob") is grpc.StatusCode.PERMISSION_DENIED
    store.apply([ONLINE_READERS])
    wait_for(lambda: keyed.read("alice") is grpc.StatusCode.OK)


def test_every_call_is_audited_once_with_the_same_fields(keyed: Keyed) -> None:
    codes = [keyed.read("alice") for _ in range(5)]
    keyed.edit_keys("bob", ["trainer"])
    wait_for(lambda: keyed.read("bob") is grpc.StatusCode.PERMISSION_DENIED)
    denied = [keyed.read("bob") for _ in range(3)]
    assert codes == [grpc.StatusCode.OK] * 5
    assert denied == [grpc.StatusCode.PERMISSION_DENIED] * 3
    wait_for(lambda: sum(e["decision"] == "deny" for e in keyed.audit_lines()) >= 4)
    lines = keyed.audit_lines()
    request_ids = [e["request_id"] for e in lines]
    assert len(set(request_ids)) == len(request_ids)
    fields = [
        (e["principal"], e["method"], e["resources"], e["decision"], e["code"])
        for e in lines
    ]
    method = "/featurestore.v1.FeatureStoreService/GetOnlineFeatures"
    allowed = ("alice", method, ["FeatureView:customer_stats"], "allow", "OK")
    refused = ("bob", method, ["FeatureView:customer_stats"], "deny")
    assert fields[:5] == [allowed] * 5
    # bob: allowed (before the edit took effect) until the first denial, then
    # the three denials above, each a line of its own.
    bobs = fields[5:]
    first_denial = [f[:4] for f in bobs].index(refused)
    assert all(f == (*refused, "PERMISSION_DENIED") for f in bobs[first_denial:])
    assert len(bobs) - first_denial == 4
    assert all(f[3:] == ("allow", "OK") for f in bobs[:first_denial])


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    running = start_issuer(rsa_key())
    yield running
    running.stop()


def test_an_expired_token_is_refused_though_its_reads_were_admitted(
    tmp_path: Path, transport: bool, issuer: Issuer
) -> None:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    store.apply([ONLINE_READERS])
    served = serve(
        store,
        transport,
        auth="oidc",
        oidc_issuer=issuer.url,
        oidc_audience=AUDIENCE,
        oidc_algorithms=["RS256"],
        oidc_leeway_seconds=0,
    )
    try:
        stub = pb_grpc.FeatureStoreServiceStub(served.channel)
        token = issuer.token(roles=["reader"], lifetime_s=5)
        metadata = (("authorization", f"Bearer {token}"),)

        def read() -> grpc.StatusCode:
            return _code(lambda: stub.GetOnlineFeatures(CUSTOMER_3, metadata=metadata))

        assert [read(), read()] == [grpc.StatusCode.OK] * 2
        wait_for(lambda: read() is grpc.StatusCode.UNAUTHENTICATED)
        fresh = (("authorization", f"Bearer {issuer.token(roles=['reader'])}"),)
        stub.GetOnlineFeatures(CUSTOMER_3, metadata=fresh)
    finally:
        served.stop()
