"""proto/third_party: the vendored grpc health and google.rpc protos describe
exactly the messages the servers send (as grpcio-health-checking and
googleapis-common-protos define them), and stay out of our generated code."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2

REPO = Path(__file__).resolve().parents[2]
THIRD_PARTY = REPO / "proto" / "third_party"
VENDORED = {
    "grpc/health/v1/health.proto": health_pb2.DESCRIPTOR,
    "google/rpc/status.proto": status_pb2.DESCRIPTOR,
    "google/rpc/error_details.proto": error_details_pb2.DESCRIPTOR,
}


def _compiled(tmp_path: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    out = tmp_path / "set.binpb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{THIRD_PARTY}",
         f"--descriptor_set_out={out}", *VENDORED],
        check=True, capture_output=True,
    )  # fmt: skip
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return {f.name: f for f in files}


def _clear_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    # protoc fills every field's json_name; CopyToProto writes only custom ones.
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _clear_json_names(message.nested_type)


def _installed(descriptor: FileDescriptor) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    descriptor.CopyToProto(proto)
    return proto


@pytest.mark.parametrize("path", VENDORED)
def test_vendored_proto_matches_the_installed_descriptor(
    tmp_path: Path, path: str
) -> None:
    compiled = _compiled(tmp_path)[path]
    _clear_json_names(compiled.message_type)
    installed = _installed(VENDORED[path])
    # grpcio-health-checking registers its copy as grpc_health/v1/health.proto;
    # the messages, services and options are what must agree.
    installed.name = compiled.name
    assert compiled == installed


def test_every_vendored_file_is_pinned_and_licensed() -> None:
    found = sorted(str(p.relative_to(THIRD_PARTY)) for p in THIRD_PARTY.rglob("*"))
    assert [f for f in found if f.endswith(".proto")] == sorted(VENDORED)
    for path in VENDORED:
        head = (THIRD_PARTY / path).read_text()[:800]
        assert "Licensed under the Apache License, Version 2.0" in head, path
    # Nothing generates Python from them: grpcio-health-checking and
    # googleapis-common-protos own those modules (a second copy of
    # grpc.health.v1 in the descriptor pool would clash).
    assert not [f for f in found if f.endswith((".py", ".pyi"))]
    makefile = (REPO / "Makefile").read_text()
    assert "third_party" not in makefile
