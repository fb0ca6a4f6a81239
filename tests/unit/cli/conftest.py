"""Fixtures of the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is no project, with no project in the env."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in ("FS_REPO_PATH", "FS_CONTRACTS_DIR", "FS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return folder
