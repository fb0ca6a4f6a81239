"""$FS_CONTRACTS_DIR: one rule for every command, as $FS_DATA_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from featurestore.services.cli import cli
from featurestore.services.contracts import default_root
from featurestore.services.project import Project
from featurestore.services.server.settings import ServerSettings
from tests.unit.contracts._support import base_data, write_contract


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A project with contract "spend"; beside it a folder with "zzz" only;
    the working directory elsewhere, holding a ``defs/`` with "cwdonly"."""
    repo, other, cwd = tmp_path / "proj", tmp_path / "other", tmp_path / "cwd"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: p\n")
    write_contract(repo / "contracts", base_data())
    write_contract(repo / "defs", {**base_data(), "name": "zzz"})
    write_contract(other, {**base_data(), "name": "zzz"})
    write_contract(cwd / "defs", {**base_data(), "name": "cwdonly"})
    monkeypatch.chdir(cwd)
    for name in ("FS_CONTRACTS_DIR", "FS_REPO_PATH", "FS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return {"repo": repo.resolve(), "other": other.resolve(), "cwd": cwd.resolve()}


def _listed(*args: str) -> list[str]:
    result = CliRunner().invoke(cli, ["contracts", "list", *args])
    assert result.exit_code == 0, result.output
    return sorted({line.split()[0] for line in result.output.splitlines() if line})


def test_every_command_applies_it_with_or_without_repo(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `contracts list --repo P` ignored it while `FS_REPO_PATH=P contracts
    # list` and `serve --repo P` used it.
    monkeypatch.setenv("FS_CONTRACTS_DIR", str(places["other"]))
    assert _listed("--repo", str(places["repo"])) == ["zzz"]
    monkeypatch.setenv("FS_REPO_PATH", str(places["repo"]))
    assert _listed() == ["zzz"]
    settings = ServerSettings(repo_path=places["repo"])
    assert settings.contracts_dir == places["other"]


def test_a_relative_one_is_under_the_project_as_fs_data_dir(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # It was taken against the working directory (cwd/defs), while a relative
    # FS_DATA_DIR is under the project.
    monkeypatch.setenv("FS_CONTRACTS_DIR", "defs")
    monkeypatch.setenv("FS_REPO_PATH", str(places["repo"]))
    assert _listed() == ["zzz"]
    assert default_root() == places["repo"] / "defs"
    assert Project.load(places["repo"]).contracts_dir == places["repo"] / "defs"
    settings = ServerSettings(repo_path=places["repo"])
    assert settings.contracts_dir == places["repo"] / "defs"


def test_outside_a_project_it_is_under_the_working_directory(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FS_CONTRACTS_DIR", "defs")
    assert default_root() == places["cwd"] / "defs"
    assert _listed() == ["cwdonly"]
