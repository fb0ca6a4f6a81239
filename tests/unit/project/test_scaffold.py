"""scaffold(): a new project from the packaged templates."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from featurestore.services.contracts import ContractRegistry
from featurestore.services.contracts.feast_link import check_feature_views
from featurestore.services.project import (
    DirectoryNotEmptyError,
    InvalidProjectNameError,
    Project,
    ProjectErrorReason,
    scaffold,
)


def test_scaffold_writes_a_project(tmp_path: Path) -> None:
    target = tmp_path / "my-proj"
    scaffold(target)
    files = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert {
        "feature_store.yaml",
        "featurestore.yaml",
        ".feastignore",
        "entities.py",
        "feature_views.py",
        "feature_services.py",
        "contracts/customer_purchases/1.0.0.yaml",
        "jobs/__init__.py",
        "jobs/example.py",
        "data/raw/purchases/part-00000.parquet",
    } <= files
    assert not [f for f in files if f.endswith(".tmpl")]
    assert "project: my_proj\n" in (target / "feature_store.yaml").read_text()
    project = Project.discover(target, env={})
    assert project.config.jobs == {"example": "jobs.example"}
    registry = ContractRegistry(project.contracts_dir)
    assert registry.names() == ["customer_purchases"]
    raw = pq.read_table(target / "data" / "raw" / "purchases")
    assert raw.num_rows == 400
    assert raw.column_names == ["purchase_id", "customer_id", "amount", "event_time"]


def test_scaffolded_views_agree_with_their_contract(tmp_path: Path) -> None:
    scaffold(tmp_path / "p")
    registry = ContractRegistry(tmp_path / "p" / "contracts")
    assert check_feature_views(tmp_path / "p", registry) == []


def test_scaffold_into_an_empty_folder(tmp_path: Path) -> None:
    scaffold(tmp_path)
    assert (tmp_path / "feature_store.yaml").is_file()


def test_scaffold_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DirectoryNotEmptyError) as caught:
        scaffold(tmp_path)
    assert caught.value.reason is ProjectErrorReason.DIRECTORY_NOT_EMPTY
    assert isinstance(caught.value, FileExistsError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(DirectoryNotEmptyError):
        scaffold(tmp_path / "notes.txt")


def test_scaffold_takes_a_project_name(tmp_path: Path) -> None:
    # Two folders named "feat" would both be Feast project "feat": one Redis
    # keyed by project would mix their values. A name of one's own avoids it.
    assert scaffold(tmp_path / "teamA" / "feat", "team_a_feat") == "team_a_feat"
    assert scaffold(tmp_path / "teamB" / "feat") == "feat"
    yaml = (tmp_path / "teamA" / "feat" / "feature_store.yaml").read_text()
    assert "project: team_a_feat\n" in yaml


@pytest.mark.parametrize("name", ["", "team-a", "_a", "1team", "équipe", "a b"])
def test_scaffold_refuses_a_name_feast_or_sqlite_would_refuse(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(InvalidProjectNameError) as caught:
        scaffold(tmp_path / "p", name)
    assert caught.value.reason is ProjectErrorReason.INVALID_PROJECT_NAME
    assert not (tmp_path / "p").exists()
