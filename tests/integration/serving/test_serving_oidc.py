"""auth=oidc against a real OpenID Provider (node oidc-provider, see
tests/oidc_provider), direct and via fs-front: the server discovers the issuer,
verifies its JWT access tokens and applies Feast permissions to their roles."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from feast.feature_view import FeatureView
from feast.permissions.action import AuthzedAction
from feast.permissions.permission import Permission
from feast.permissions.policy import RoleBasedPolicy
from google.rpc import error_details_pb2
from grpc_status import rpc_status

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
    write_online,
)
from tests.oidc_provider_harness import (
    AUDIENCE,
    FEATURESTORE_ES256,
    OTHER_API,
    Client,
    OidcProvider,
    start_provider,
)

pytestmark = pytest.mark.integration

PERMISSIONS = [
    Permission(
        name="online-readers",
        types=[FeatureView],
        actions=[AuthzedAction.READ_ONLINE],
        policy=RoleBasedPolicy(roles=["reader"]),
    ),
    Permission(
        name="offline-trainers",
        types=[FeatureView],
        actions=[AuthzedAction.READ_OFFLINE],
        policy=RoleBasedPolicy(roles=["trainer"]),
    ),
]
CLIENTS = [
    Client("reader-client", secrets.token_urlsafe(16), ("reader",)),
    Client("trainer-client", secrets.token_urlsafe(16), ("trainer",)),
]
CUSTOMER_3 = pb.GetOnlineFeaturesRequest(
    features=["customer_stats:spend"],
    entities={
        "customer_id": common_pb2.ValueList(values=[common_pb2.Value(int64_value=3)])
    },
)


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    running = start_provider(CLIENTS)
    yield running
    running.stop()


@pytest.fixture
def served(tmp_path: Path, transport: bool, provider: OidcProvider) -> Iterator[Served]:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    store.apply(PERMISSIONS)
    running = serve(
        store,
        transport,
        auth="oidc",
        oidc_issuer=provider.issuer,
        oidc_audience=AUDIENCE,
        audit_log=tmp_path / "audit" / "audit.jsonl",
        registry_refresh_seconds=0.2,
    )
    yield running
    running.stop()


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _code(call) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def test_a_reader_token_reads_online_features(
    served: Served, provider: OidcProvider
) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    for token in (
        provider.token("reader-client"),  # RS256
        provider.token("reader-client", FEATURESTORE_ES256),
    ):
        reply = stub.GetOnlineFeatures(CUSTOMER_3, metadata=bearer(token))
        assert [c.name for c in reply.columns] == ["customer_id", "spend"]
        assert reply.columns[1].values[0].double_value == 30.5


def test_a_trainer_token_may_not_read_online_but_may_read_offline(
    served: Served, provider: OidcProvider
) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    trainer = bearer(provider.token("trainer-client"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetOnlineFeatures(CUSTOMER_3, metadata=trainer)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    status = rpc_status.from_call(caught.value)
    info = error_details_pb2.ErrorInfo()
    assert status is not None and status.details[0].Unpack(info)
    assert info.metadata["action"] == "READ_ONLINE"
    # The same token is authenticated: its role may read offline.
    entity = pa.table(
        {
            "customer_id": pa.array([3], pa.int64()),
            "event_timestamp": pa.array([NOW], TS),
        }
    )
    request = pb.GetHistoricalFeaturesRequest(
        entity_rows_arrow=write_ipc(entity), features=["customer_stats:spend"]
    )
    chunks = list(stub.GetHistoricalFeatures(request, metadata=trainer))
    ipc = b"".join(c.arrow_ipc for c in chunks if c.WhichOneof("chunk") == "arrow_ipc")
    table = pa.ipc.open_stream(pa.py_buffer(ipc)).read_all()
    assert table.column("spend").to_pylist() == [30.5]


def test_no_token_or_a_token_for_another_audience_is_unauthenticated(
    served: Served, provider: OidcProvider
) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    elsewhere = bearer(provider.token("reader-client", OTHER_API))
    for metadata in ((), elsewhere, bearer("not-a-jwt")):
        code = _code(
            lambda md=metadata: stub.GetOnlineFeatures(CUSTOMER_3, metadata=md)
        )
        assert code is grpc.StatusCode.UNAUTHENTICATED, metadata


def test_the_audit_names_the_client(served: Served, provider: OidcProvider) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    stub.GetOnlineFeatures(CUSTOMER_3, metadata=bearer(provider.token("reader-client")))
    _code(
        lambda: stub.GetOnlineFeatures(
            CUSTOMER_3, metadata=bearer(provider.token("trainer-client"))
        )
    )
    audit = served.settings.audit_log
    assert audit is not None

    def lines() -> list[dict[str, object]]:
        text = audit.read_text() if audit.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    wait_for(lambda: len(lines()) >= 2)
    assert [(e["principal"], e["decision"]) for e in lines()] == [
        ("reader-client", "allow"),
        ("trainer-client", "deny"),
    ]
