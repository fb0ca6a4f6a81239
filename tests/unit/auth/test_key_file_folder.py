"""add-key never creates the key file's folder: a typo there is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.services.cli import main


def test_add_key_into_a_missing_folder_is_refused_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It exited 0 and made the folders: a key file no server reads.
    path = tmp_path / "typo" / "dir" / "keys.yaml"
    code = main(["auth", "add-key", "--file", str(path), "--principal", "bob"])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no key printed
    [line] = captured.err.splitlines()
    assert "AUTH_CONFIG" in line and f"{path.parent} does not exist" in line
    assert not (tmp_path / "typo").exists()


def test_add_key_in_an_existing_folder_creates_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.yaml"
    assert main(["auth", "add-key", "--file", str(path), "--principal", "bob"]) == 0
    assert path.is_file() and capsys.readouterr().out.startswith("fsk_")
