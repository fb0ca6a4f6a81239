"""gRPC server reflection on v1 and v1alpha, method symbols included."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1ALPHA_SERVICE = reflection.SERVICE_NAME
V1_SERVICE = "grpc.reflection.v1.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"


def enable_reflection(service_names: Iterable[str], server: grpc.Server) -> None:
    """Serve reflection for ``service_names`` (and itself) on v1 and v1alpha."""
    v1_file()
    servicer = _ReflectionServicer((*service_names, V1_SERVICE, V1ALPHA_SERVICE))
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    # v1 carries the v1alpha messages unchanged on the wire (only the package
    # differs), so the v1alpha classes (de)serialise it.
    handlers = {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE, handlers),)
    )
    server.add_registered_method_handlers(V1_SERVICE, handlers)


def v1_file() -> FileDescriptor:
    """``grpc/reflection/v1/reflection.proto``, added to the default pool once.

    grpcio-reflection 1.85 ships only v1alpha. v1 is the same file under
    another package, so it is derived from v1alpha's descriptor here rather
    than vendored as generated code; clients that ask for the v1 service's
    file (grpcurl, ghz) get a correct descriptor.
    """
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName(V1_FILE)
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = V1_FILE, "grpc.reflection.v1"
    proto.options.java_package = "io.grpc.reflection.v1"
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    proto.options.ClearField("deprecated")

    def rename(type_name: str) -> str:
        return type_name.replace(".grpc.reflection.v1alpha.", ".grpc.reflection.v1.")

    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = rename(field.type_name)
    for method in proto.service[0].method:
        method.input_type = rename(method.input_type)
        method.output_type = rename(method.output_type)
    return pool.AddSerializedFile(proto.SerializeToString())


class _ReflectionServicer(reflection.ReflectionServicer):  # type: ignore[misc]
    """The stock servicer, plus ``package.Service.Method`` symbols.

    upb's ``FindFileContainingSymbol`` resolves services, messages, fields and
    enums but not methods, which grpcurl and ghz ask for ("Symbol not found").
    """

    def _file_containing_symbol(self, request: Any, name: str) -> Any:
        service, _, method = name.rpartition(".")
        try:
            if method in self._pool.FindServiceByName(service).methods_by_name:
                name = service
        except KeyError:
            pass
        return super()._file_containing_symbol(request, name)
