"""Project discovery and featurestore.yaml: locations from one place."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

import featurestore.services.project as project_pkg
from featurestore.services.project import (
    Project,
    ProjectConfigError,
    ProjectErrorReason,
    ProjectNotFoundError,
    default_ivy_dir,
    find_front_binary,
    table_uri,
    user_jobs,
)
from featurestore.services.server.settings import ServerSettings

CHECKOUT = Path(__file__).resolve().parents[3]


def _repo(tmp_path: Path, config: str | None = None) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: p\n")
    if config is not None:
        (repo / "featurestore.yaml").write_text(config)
    return repo


def test_exported_members() -> None:
    assert set(project_pkg.__all__) == {
        "FEAST_CONFIG",
        "FRONT_BINARY",
        "PROJECT_CONFIG",
        "TABLE_SCHEME",
        "Caches",
        "config_problem",
        "DirectoryNotEmptyError",
        "InvalidProjectNameError",
        "Project",
        "ProjectConfig",
        "ProjectConfigError",
        "ProjectError",
        "ProjectErrorReason",
        "ProjectNotFoundError",
        "default_cache_dir",
        "default_ivy_dir",
        "find_front_binary",
        "is_uri",
        "load_config",
        "next_steps_text",
        "scaffold",
        "table_ref",
        "table_uri",
        "user_jobs",
    }


def test_defaults_without_featurestore_yaml(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    project = Project.discover(repo, env={})
    assert project.repo == repo.resolve()
    assert project.data_dir == str(repo.resolve() / "data")
    assert project.contracts_dir == repo.resolve() / "contracts"
    assert project.table_uri("t") == str(repo.resolve() / "data" / "features" / "t")
    assert project.quarantine_uri("t").endswith("features/t_quarantine")


def test_relative_data_dir_is_relative_to_the_repo(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "data_dir: ../shared\ncontracts_dir: c\n")
    project = Project.discover(repo, env={})
    assert project.data_dir == str(tmp_path.resolve() / "shared")
    assert project.contracts_dir == repo.resolve() / "c"


def test_fs_data_dir_overrides(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "data_dir: ../shared\n")
    project = Project.discover(repo, env={"FS_DATA_DIR": str(tmp_path / "env")})
    assert project.data_dir == str(tmp_path / "env")


def test_uri_data_dir_is_kept_and_joined_with_slashes(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        "data_dir: s3://bucket/prefix/\nstorage_options:\n  endpoint_url: http://x\n",
    )
    project = Project.discover(repo, env={})
    assert project.data_dir == "s3://bucket/prefix/"
    assert project.table_uri("t") == "s3://bucket/prefix/features/t"
    assert project.storage_options == {"endpoint_url": "http://x"}


@pytest.mark.parametrize(
    "text",
    [
        "unknown_key: 1\n",
        "jobs: [a, b]\n",
        "caches: {ivy: x}\n",
        "- a list\n",
        "data_dir: [unclosed\n",
    ],
)
def test_bad_config_is_invalid_config(tmp_path: Path, text: str) -> None:
    repo = _repo(tmp_path, text)
    with pytest.raises(ProjectConfigError) as caught:
        Project.discover(repo, env={})
    assert caught.value.reason is ProjectErrorReason.INVALID_CONFIG
    assert isinstance(caught.value, ValueError)


_SECRET = "JkMT8AHzeQKNYTZv+cO8s/Kg+dg7+m1ysGBenwZP"


def _leaks(text: str, secret: str = _SECRET, size: int = 6) -> list[str]:
    pieces = {secret[i : i + size] for i in range(len(secret) - size + 1)}
    return sorted(p for p in pieces if p in text)


@pytest.mark.parametrize(
    ("line", "where"),
    [
        (f"AWS_SECRET_ACCESS_KEY: {_SECRET}: oops", "line 5, column "),
        (f"AWS_SECRET_ACCESS_KEY: *{_SECRET}", "line 5, column "),
        (f"AWS_SECRET_ACCESS_KEY: '{_SECRET}", "line 6, column "),
    ],
    ids=["mapping-in-value", "alias", "unclosed-quote"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["lineage", "customer_stats"],
        ["run", "example"],
        ["monitor", "freshness"],
        ["serve"],
    ],
    ids=" ".join,
)
def test_a_yaml_error_names_its_line_never_the_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    where: str,
    command: list[str],
) -> None:
    from click.testing import CliRunner

    from featurestore.services.cli import cli

    config = "data_dir: data\njobs:\n  example: jobs.example\nstorage_options:\n"
    config += f"  {line}\n"
    repo = _repo(tmp_path, config)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("FS_REPO_PATH", raising=False)
    run = CliRunner().invoke(cli, command)
    assert run.exit_code == 2, run.output
    assert "INVALID_CONFIG" in run.output and where in run.output
    assert _leaks(run.output) == []
    with pytest.raises(ProjectConfigError) as caught:
        Project.load(repo, env={})
    assert caught.value.metadata["detail"].startswith("invalid YAML: ")
    assert _leaks(str(caught.value) + repr(caught.value.metadata)) == []


_FEAST_STORES = {
    # A YAML error on the line holding a Redis password; a value pydantic
    # refuses beside it (pydantic's own text repeats the input value).
    "yaml": (
        "online_store:\n  type: redis\n"
        f"  connection_string: h:6379,password={_SECRET}: x\n"
    ),
    "pydantic": (
        f"online_store:\n  type: redis\n  redis_type: {_SECRET}\n"
        f"  connection_string: h:6379,password={_SECRET}\n"
    ),
}


@pytest.mark.parametrize("store", sorted(_FEAST_STORES))
@pytest.mark.parametrize(
    "command",
    [
        ["monitor", "freshness"],
        ["serve"],
        ["materialize", "--incremental", "2026-01-01"],
    ],
    ids=" ".join,
)
def test_a_bad_feature_store_yaml_never_prints_its_secrets(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    store: str,
    command: list[str],
) -> None:
    # Feast's error quotes the line (YAML) or the value (pydantic): `monitor`
    # printed "... password=<secret>: x" from a redis connection_string.
    from click.testing import CliRunner

    from featurestore.services.cli import cli

    repo = _repo(tmp_path)
    (repo / "feature_store.yaml").write_text(
        "project: p\nprovider: local\nregistry: data/registry.db\n"
        + _FEAST_STORES[store]
    )
    monkeypatch.chdir(repo)
    monkeypatch.delenv("FS_REPO_PATH", raising=False)
    run = CliRunner().invoke(cli, command)
    assert run.exit_code == 2, run.output
    assert "feature_store.yaml" in run.output or "Feast repo" in run.output
    assert ("line 6" if store == "yaml" else "redis_type") in run.output, run.output
    assert _leaks(run.output) == [], run.output
    # The `python -m featurestore.services.online.materialize` alias too.
    from featurestore.services.online.materialize import main

    assert main(["2026-01-01T00:00:00", "--repo", str(repo)]) == 2
    assert _leaks(capsys.readouterr().err) == []
    if store == "yaml":  # the demo reads the registry's place from the file
        from featurestore.services.demo import Locations

        with pytest.raises(ProjectConfigError) as caught:
            Locations.of(repo, None)
        assert _leaks(str(caught.value) + repr(caught.value.metadata)) == []


def test_no_feature_store_yaml_is_project_not_found(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError) as caught:
        Project.discover(tmp_path, env={})
    assert caught.value.reason is ProjectErrorReason.PROJECT_NOT_FOUND
    assert caught.value.metadata == {"repo": str(tmp_path.resolve())}


def test_working_directory_then_feature_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    monkeypatch.chdir(repo)
    assert Project.discover(env={}).repo == repo.resolve()
    monkeypatch.chdir(CHECKOUT)
    assert Project.discover(env={}).repo == CHECKOUT / "feature_repo"
    # An explicit folder is taken as is: no feature_repo/ below it.
    with pytest.raises(ProjectNotFoundError):
        Project.discover(CHECKOUT, env={})
    monkeypatch.chdir(tmp_path)
    assert Project.discover(env={"FS_REPO_PATH": str(repo)}).repo == repo.resolve()


def test_checkout_data_dir_is_beside_feature_repo() -> None:
    project = Project.discover(CHECKOUT / "feature_repo", env={})
    assert project.data_dir == str(CHECKOUT / "data")
    assert project.contracts_dir == CHECKOUT / "feature_repo" / "contracts"
    assert project.table_uri("customer_spend") == str(
        CHECKOUT / "data" / "features" / "customer_spend"
    )


def test_table_uri_follows_fs_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FS_DATA_DIR", str(tmp_path))
    assert table_uri("t", CHECKOUT / "feature_repo") == str(tmp_path / "features" / "t")


def test_ivy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_ivy_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/featurestore/ivy")
    assert default_ivy_dir({"FS_IVY_DIR": "/i"}) == Path("/i")
    assert default_ivy_dir({}) == Path.home() / ".cache" / "featurestore" / "ivy"
    repo = _repo(tmp_path, "caches:\n  ivy_dir: .ivy\n")
    monkeypatch.delenv("FS_IVY_DIR", raising=False)
    assert Project.discover(repo, env={}).ivy_dir == repo.resolve() / ".ivy"


def test_front_binary_lookup(tmp_path: Path) -> None:
    assert find_front_binary({"FS_FRONT_BINARY": "/x/fs-front"}) == Path("/x/fs-front")
    binary = tmp_path / "fs-front"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert find_front_binary({"PATH": str(tmp_path)}) == binary
    assert find_front_binary({"PATH": str(tmp_path / "none")}) in (
        None,
        Path(sys.executable).parent / "fs-front",
    )


def test_user_jobs(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "jobs:\n  example: jobs.example\n")
    assert user_jobs(repo) == {"example": "jobs.example"}


def test_user_jobs_without_a_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found as feast finds it and none there: no jobs (built-ins still run).
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FS_REPO_PATH", raising=False)
    assert user_jobs() == {}
    # A repo given explicitly must be a project: its jobs cannot be listed.
    with pytest.raises(ProjectNotFoundError) as info:
        user_jobs(tmp_path / "none")
    assert info.value.metadata == {"repo": str(tmp_path / "none")}
    # So must one $FS_REPO_PATH names (it is no working directory left bare).
    monkeypatch.setenv("FS_REPO_PATH", str(tmp_path / "moved"))
    with pytest.raises(ProjectNotFoundError) as info:
        user_jobs()
    assert info.value.metadata == {
        "repo": str(tmp_path / "moved"),
        "env": "FS_REPO_PATH",
    }
    assert "$FS_REPO_PATH does not exist" in str(info.value)


def test_user_jobs_import_each_projects_own_module(tmp_path: Path) -> None:
    # One process, two projects with a jobs/example.py each (a test run, a
    # notebook): the second gets its own module, not the cached first one.
    import importlib

    seen = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        repo = _repo(tmp_path / name, "jobs:\n  example: jobs.example\n")
        (repo / "jobs").mkdir()
        (repo / "jobs" / "__init__.py").write_text("")
        (repo / "jobs" / "example.py").write_text(f"NAME = {name!r}\n")
        module = user_jobs(repo)["example"]
        seen.append(importlib.import_module(module).NAME)
    assert seen == ["one", "two"]
    for module in [m for m in sys.modules if m == "jobs" or m.startswith("jobs.")]:
        del sys.modules[module]


def test_server_settings_take_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FS_DATA_DIR", "FS_CONTRACTS_DIR", "FS_REPO_PATH"):
        monkeypatch.delenv(name, raising=False)
    repo = _repo(tmp_path, "data_dir: /srv/data\ncontracts_dir: defs\n")
    monkeypatch.chdir(repo)
    settings = ServerSettings()
    assert settings.repo_path == repo.resolve()
    assert settings.data_dir == "/srv/data"
    assert settings.contracts_dir == repo.resolve() / "defs"
    assert settings.training_set_write_root == "/srv/data/training_sets"
    explicit = ServerSettings(repo_path=repo, data_dir=tmp_path / "d")
    assert explicit.data_dir == str(tmp_path / "d")
    monkeypatch.setenv("FS_DATA_DIR", str(tmp_path / "env"))
    assert ServerSettings().data_dir == str(tmp_path / "env")


def test_feast_apply_stays_quiet_about_table_references_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Feast's FileSource.validate logs this for every path pyarrow cannot open
    # (feast/infra/offline_stores/file_source.py); a table reference is one.
    feast_log = logging.getLogger("feast.infra.offline_stores.file_source")
    ref = project_pkg.table_ref("customer_purchases")  # what a repo module calls
    message = "Could not validate FileSource path '%s': %s"
    with caplog.at_level(logging.WARNING, logger=feast_log.name):
        feast_log.warning(message, ref, "Unrecognized filesystem type in URI")
        feast_log.warning(message, "/nowhere/x", "FileSource path does not exist")
        feast_log.warning("Timestamp field '%s' not found", "ts")
    assert [r.getMessage() for r in caplog.records] == [
        "Could not validate FileSource path '/nowhere/x': "
        "FileSource path does not exist",
        "Timestamp field 'ts' not found",
    ]
