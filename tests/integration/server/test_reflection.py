"""Server reflection on v1 and v1alpha with a real reflection client."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from featurestore.services.server.app import create_server
from featurestore.services.server.settings import ServerSettings
from tests.integration.server._served import REPO, ServedRepo

pytestmark = pytest.mark.integration

FILE = "featurestore/v1/feature_store_service.proto"
V1_METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


class _V1Database(ProtoReflectionDescriptorDatabase):  # type: ignore[misc]
    """The stock client speaking grpc.reflection.v1 (same messages on the wire)."""

    def __init__(self, channel: grpc.Channel) -> None:
        super().__init__(channel)
        self._stub.ServerReflectionInfo = channel.stream_stream(
            V1_METHOD,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )


CLIENTS = {"v1alpha": ProtoReflectionDescriptorDatabase, "v1": _V1Database}


@pytest.mark.parametrize("version", CLIENTS)
def test_reflection_resolves_services_methods_and_messages(
    served_repo: ServedRepo, version: str
) -> None:
    database = CLIENTS[version](served_repo.channel)
    services = set(database.get_services())
    assert {
        "featurestore.v1.FeatureStoreService",
        "featurestore.v1.ContractService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services
    for symbol in (
        "featurestore.v1.FeatureStoreService",
        "featurestore.v1.FeatureStoreService.GetOnlineFeatures",
        "featurestore.v1.GetOnlineFeaturesRequest",
    ):
        # A fresh database per symbol, so none is answered from its cache.
        fresh = CLIENTS[version](served_repo.channel)
        assert fresh.FindFileContainingSymbol(symbol).name == FILE
    pool = descriptor_pool.DescriptorPool(CLIENTS[version](served_repo.channel))
    method = pool.FindMethodByName(
        "featurestore.v1.FeatureStoreService.GetOnlineFeatures"
    )
    assert method.input_type.full_name == "featurestore.v1.GetOnlineFeaturesRequest"
    v1 = pool.FindServiceByName("grpc.reflection.v1.ServerReflection")
    assert v1.file.name == "grpc/reflection/v1/reflection.proto"
    assert v1.methods[0].input_type.full_name == (
        "grpc.reflection.v1.ServerReflectionRequest"
    )


def test_reflection_off_is_unimplemented_on_both_versions(
    served_repo: ServedRepo,
) -> None:
    settings = ServerSettings(
        repo_path=served_repo.repo,
        contracts_dir=REPO / "feature_repo" / "contracts",
        reflection=False,
    )
    running = create_server(settings, "127.0.0.1:0")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            for client in CLIENTS.values():
                with pytest.raises(grpc.RpcError) as off:
                    client(channel).get_services()
                assert off.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        running.stop(0)


def test_reflection_defaults_to_off_with_auth() -> None:
    assert ServerSettings().reflection_enabled is True
    assert ServerSettings(auth="api_keys").reflection_enabled is False
    assert ServerSettings(auth="oidc", reflection=True).reflection_enabled is True
