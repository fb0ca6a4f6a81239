"""Which project a command acts on: $FS_REPO_PATH wins over the working
directory, the help says so, and running commands name the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from featurestore.services.cli import cli, main
from featurestore.services.cli._serve import _repo_flag_given

_JOB = "import sys\n\ndef main(argv):\n    print('ran', argv)\n    return 0\n"


def _project(folder: Path, name: str) -> Path:
    (folder / "jobs").mkdir(parents=True)
    (folder / "feature_store.yaml").write_text(f"project: {name}\n")
    (folder / "featurestore.yaml").write_text(f"jobs:\n  hello: jobs.hello_{name}\n")
    (folder / "jobs" / "__init__.py").write_text("")
    (folder / "jobs" / f"hello_{name}.py").write_text(_JOB)
    return folder.resolve()


@pytest.mark.parametrize(
    "command",
    [
        ["lineage"],
        ["training-set"],
        ["monitor", "freshness"],
        ["monitor", "drift"],
        ["contracts", "list"],
    ],
)
def test_the_help_of_repo_says_fs_repo_path_wins(command: list[str]) -> None:
    # It said "default: . when it holds feature_store.yaml, else
    # ./feature_repo", while an exported FS_REPO_PATH won over both.
    result = CliRunner().invoke(cli, [*command, "--help"], terminal_width=400)
    assert result.exit_code == 0
    [line] = [x for x in result.output.splitlines() if x.lstrip().startswith("--repo")]
    assert "$FS_REPO_PATH" in line and "wins over the working directory" in line


def test_run_names_the_project_it_acts_on_and_why(
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In p1's folder an exported FS_REPO_PATH=p2 ran p2's job without a word.
    p1 = _project(elsewhere / "p1", "p1")
    p2 = _project(elsewhere / "p2", "p2")
    monkeypatch.chdir(p1)
    monkeypatch.setenv("FS_REPO_PATH", str(p2))
    assert main(["run", "hello"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == (
        f"project: {p2} (from $FS_REPO_PATH, which wins over the working directory)"
    )
    assert captured.out.startswith("ran")
    monkeypatch.delenv("FS_REPO_PATH")
    assert main(["run", "hello"]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first == f"project: {p1} (from the working directory)"


def test_serve_tells_a_repo_flag_apart_as_its_parser_reads_it() -> None:
    assert _repo_flag_given(["--repo", "x"])
    assert _repo_flag_given(["--address", "h:1", "--repo=x"])
    assert not _repo_flag_given(["--address", "h:1"])
