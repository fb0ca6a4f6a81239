"""`make demo` takes its locations from the project, never from its own file."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.services import demo
from featurestore.services.demo import Locations
from featurestore.services.project import ProjectConfigError, ProjectNotFoundError


def _project(root: Path, featurestore_yaml: str = "") -> Path:
    repo = root / "feature_repo"
    repo.mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        "project: p\nregistry: ../state/feast/registry.db\n"
    )
    (repo / "featurestore.yaml").write_text(featurestore_yaml)
    return repo


def test_locations_come_from_the_project_found_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    monkeypatch.delenv("FS_REPO_PATH", raising=False)
    repo = _project(tmp_path, "data_dir: ../lake\n")
    monkeypatch.chdir(tmp_path)
    where = Locations.of(None, None)
    root = tmp_path.resolve()
    assert where.repo == repo.resolve()
    assert where.data_dir == root / "lake"
    assert where.registry_dir == root / "state" / "feast"
    checkout = Path(demo.__file__).resolve().parents[1]
    for location in (where.repo, where.data_dir, where.registry_dir):
        assert not location.is_relative_to(checkout)


def test_repo_and_data_dir_flags_win(tmp_path: Path) -> None:
    repo = _project(tmp_path / "elsewhere")
    where = Locations.of(repo, tmp_path / "mine")
    assert where.repo == repo.resolve()
    assert where.data_dir == (tmp_path / "mine").resolve()


def test_no_project_or_a_remote_data_dir_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    with pytest.raises(ProjectNotFoundError):
        Locations.of(tmp_path, None)
    repo = _project(tmp_path, "data_dir: s3://bucket/p\n")
    with pytest.raises(ProjectConfigError):
        Locations.of(repo, None)
    assert Locations.of(repo, tmp_path / "local").data_dir == tmp_path / "local"
