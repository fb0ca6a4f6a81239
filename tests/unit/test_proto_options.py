"""The .proto files' language options: a Go client can be generated from them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTOS = sorted((REPO / "proto" / "featurestore" / "v1").glob("*.proto"))
GO_PACKAGE = "featurestore/proto/featurestore/v1;featurestorev1"
"""The Go import path mirrors where the files live (proto/featurestore/v1), as
the Python import path does; the package name is buf's `featurestorev1`."""


def _go_package(proto: Path) -> str:
    found = re.findall(r'^option go_package = "([^"]*)";$', proto.read_text(), re.M)
    assert len(found) == 1, f"{proto.name}: {found}"
    return found[0]


def test_every_proto_declares_the_same_go_package() -> None:
    # protoc --go_out failed: "unable to determine Go import path".
    assert [p.name for p in PROTOS] == [
        "common.proto",
        "contract_service.proto",
        "feature_store_service.proto",
        "feature_view.proto",
        "monitoring_service.proto",
    ]
    assert {p.name: _go_package(p) for p in PROTOS} == {
        p.name: GO_PACKAGE for p in PROTOS
    }  # the committed stubs follow: make proto-check


def _protobuf_go_version() -> str:
    # The version the front's go.mod pins, so `make front` has cached it.
    text = (REPO / "services" / "front" / "go.mod").read_text()
    found = re.search(r"google\.golang\.org/protobuf (v\S+)", text)
    assert found
    return found.group(1)


@pytest.mark.slow
def test_protoc_gen_go_generates_a_go_package_that_builds(tmp_path: Path) -> None:
    downloads = REPO / ".cache" / "go" / "mod" / "cache" / "download"
    version = _protobuf_go_version()
    if not (downloads / "google.golang.org" / "protobuf" / "@v").is_dir():
        pytest.fail("no Go module cache in .cache/go: run `make front` first")
    env = {
        **os.environ,
        # Offline: modules come from the cache `make front` filled; ours go to
        # tmp_path, so the shared cache is only read.
        "GOPROXY": f"file://{downloads}",
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod",
        "GOPATH": str(tmp_path / "gopath"),
        "GOMODCACHE": str(tmp_path / "gomod"),
        "GOBIN": str(tmp_path / "bin"),
    }
    subprocess.run(
        ["go", "install", f"google.golang.org/protobuf/cmd/protoc-gen-go@{version}"],
        env=env, check=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(REPO / "proto"),
         f"--plugin=protoc-gen-go={tmp_path / 'bin' / 'protoc-gen-go'}",
         f"--go_out={out}", *map(str, PROTOS)],
        check=True, timeout=120,
    )  # fmt: skip
    package = out / "featurestore" / "proto" / "featurestore" / "v1"
    assert sorted(p.name for p in package.iterdir()) == [
        f"{p.stem}.pb.go" for p in PROTOS
    ]
    assert "package featurestorev1\n" in (package / "common.pb.go").read_text()
    module = out / "featurestore" / "proto"
    (module / "go.mod").write_text(
        "module featurestore/proto\n\ngo 1.22\n\n"
        f"require google.golang.org/protobuf {version}\n"
    )
    subprocess.run(
        ["go", "build", "./..."], env=env, check=True, cwd=module, timeout=300
    )
