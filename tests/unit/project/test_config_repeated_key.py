"""featurestore.yaml with a key given twice is refused, as a contract file is."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.services.cli import main
from featurestore.services.project import (
    Project,
    ProjectConfigError,
    ProjectErrorReason,
)


def _repo(tmp_path: Path, text: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: p\n")
    (repo / "featurestore.yaml").write_text(text)
    return repo


@pytest.mark.parametrize(
    "text",
    [
        "data_dir: a\ndata_dir: b\n",
        "storage_options:\n  region: x\n  region: y\n",
    ],
)
def test_a_repeated_key_is_invalid_config_naming_its_line(
    tmp_path: Path, text: str
) -> None:
    # The last one won: data_dir was silently b.
    repo = _repo(tmp_path, text)
    with pytest.raises(ProjectConfigError) as caught:
        Project.discover(repo, env={})
    assert caught.value.reason is ProjectErrorReason.INVALID_CONFIG
    assert "repeated key" in str(caught.value)
    assert f"line {text.count(chr(10))}" in str(caught.value)


def test_the_cli_refuses_it_in_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path, "data_dir: a\ndata_dir: b\n")
    assert main(["lineage", "--repo", str(repo), "customer_spend"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "INVALID_CONFIG" in line and "repeated key" in line


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("data_dir: a\ndata_dir: b\n", "repeated key 'data_dir'"),
        ("storage_options:\n  AWS_REGION: x\n  AWS_REGION: y\n", "'AWS_REGION'"),
        # Not a name: masked as any quoted text (it may be a value put where
        # a key goes).
        ("storage_options:\n  a b c d: x\n  a b c d: y\n", "repeated key '...'"),
    ],
)
def test_the_repeated_key_is_named_when_it_is_a_name(
    tmp_path: Path, text: str, named: str
) -> None:
    # It read "repeated key '...'": which key to fix was left to guess.
    repo = _repo(tmp_path, text)
    with pytest.raises(ProjectConfigError) as caught:
        Project.discover(repo, env={})
    assert named in str(caught.value)
    assert "a b c d" not in str(caught.value)
