"""PathPolicy: client strings confined to the configured roots, local or URI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from featurestore.services.server.errors import PermissionDeniedError, RequestError
from featurestore.services.server.paths import PathPolicy


def _policy(tmp_path: Path, *, enabled: bool = True) -> PathPolicy:
    (tmp_path / "entities").mkdir(exist_ok=True)
    (tmp_path / "training_sets").mkdir(exist_ok=True)
    return PathPolicy(
        enabled,
        (str(tmp_path / "entities"), "s3://bucket/entities"),
        str(tmp_path / "training_sets"),
    )


def _denied(call: object, *args: str) -> PermissionDeniedError:
    with pytest.raises(PermissionDeniedError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_paths_inside_a_root_resolve_relative_to_it(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    inside = str(tmp_path / "entities" / "a.parquet")
    assert policy.resolve_read("a.parquet") == inside
    assert policy.resolve_read(inside) == inside
    assert policy.resolve_read("sub/../a.parquet") == inside
    assert policy.resolve_read("file://" + inside) == inside
    out = policy.resolve_write("run1/out.parquet")
    assert out == str(tmp_path / "training_sets" / "run1" / "out.parquet")


@pytest.mark.parametrize(
    "given",
    [
        "../features/customer_spend",
        "/etc/passwd",
        "{tmp}/entities2/a.parquet",
        "{tmp}/entities/../features",
        "file:///etc/passwd",
        "s3://bucket/entities2/x",
        "s3://other/entities/x",
        "s3://bucket/entities/../features/x",
        "gs://bucket/entities/x",
    ],
)
def test_reads_outside_every_root_are_denied_naming_the_setting(
    tmp_path: Path, given: str
) -> None:
    error = _denied(_policy(tmp_path).resolve_read, given.format(tmp=tmp_path))
    assert error.reason == "PATH_OUTSIDE_ROOT"
    assert error.metadata["setting"] == "entity_roots"
    assert str(tmp_path) not in str(error)


def test_a_symlink_out_of_the_root_is_followed_and_denied(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    (tmp_path / "features").mkdir()
    os.symlink(tmp_path / "features", tmp_path / "entities" / "link")
    os.symlink(tmp_path / "features", tmp_path / "training_sets" / "link")
    assert _denied(policy.resolve_read, "link/x").reason == "PATH_OUTSIDE_ROOT"
    error = _denied(policy.resolve_write, "link/out.parquet")
    assert error.metadata["setting"] == "training_set_root"
    assert str(tmp_path) not in str(error)


def test_uri_roots_confine_by_prefix(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    assert policy.resolve_read("s3://bucket//entities/day=1/a.parquet") == (
        "s3://bucket/entities/day=1/a.parquet"
    )
    uri_root = PathPolicy(True, ("s3://bucket/entities",), "s3://bucket/ts")
    assert uri_root.resolve_read("x/y") == "s3://bucket/entities/x/y"
    assert _denied(uri_root.resolve_read, "../x").reason == "PATH_OUTSIDE_ROOT"
    assert _denied(uri_root.resolve_read, "/etc/passwd").reason == "PATH_OUTSIDE_ROOT"


def test_files_a_read_opens_are_confined_like_the_path(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    inside = tmp_path / "entities" / "day=1" / "a.parquet"
    policy.check_read_files(
        [str(inside), f"file://{inside}", "s3://bucket/entities/day=1/a.parquet"]
    )
    (tmp_path / "features").mkdir()
    os.symlink(tmp_path / "features", tmp_path / "entities" / "link")
    for outside in (
        str(tmp_path / "entities" / "link" / "a.parquet"),  # through a symlink
        "/etc/passwd",
        "s3://bucket/entities-evil/a.parquet",
        "s3://bucket/entities/../features/a.parquet",
        "s3://other/entities/a.parquet",
    ):
        error = _denied(policy.check_read_files, [str(inside), outside])
        assert (error.reason, error.metadata["setting"]) == (
            "PATH_OUTSIDE_ROOT",
            "entity_roots",
        ), outside
        assert str(tmp_path) not in str(error)


def test_the_write_root_itself_is_not_an_output(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    for given in (".", str(tmp_path / "training_sets"), "a/.."):
        denied = _denied(policy.resolve_write, given)
        assert denied.reason == "PATH_OUTSIDE_ROOT"
        assert "not the root itself" in str(denied)  # it said only "outside"


def test_server_paths_off_refuses_every_path(tmp_path: Path) -> None:
    policy = _policy(tmp_path, enabled=False)
    for call in (policy.resolve_read, policy.resolve_write):
        error = _denied(call, "a.parquet")
        assert error.reason == "SERVER_PATHS_DISABLED"
        assert error.metadata["setting"] == "server_paths"


@pytest.mark.parametrize(
    "given",
    ["", "a\x00b", "x" * 5000, "d/" + "y" * 256, "a\r\nSet-Cookie: x.parquet",
     "tab\there.parquet", "del\x7f.parquet"],
)  # fmt: skip
def test_malformed_paths_are_invalid(tmp_path: Path, given: str) -> None:
    for call in (_policy(tmp_path).resolve_read, _policy(tmp_path).resolve_write):
        with pytest.raises(RequestError) as caught:
            call(given)
        assert caught.value.reason == "INVALID_PATH"


def test_a_relative_root_is_resolved_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It was joined to itself ("training/training"): nothing was inside it.
    (tmp_path / "training").mkdir()
    (tmp_path / "ents").mkdir()
    monkeypatch.chdir(tmp_path)
    policy = PathPolicy(True, ("ents",), "training")
    out = str(tmp_path / "training" / "c.parquet")
    assert policy.resolve_write(out) == out
    assert policy.write_root_resolved == str(tmp_path / "training")
    assert policy.resolve_read("e.parquet") == str(tmp_path / "ents" / "e.parquet")
