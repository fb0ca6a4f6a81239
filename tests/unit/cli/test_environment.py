"""A misspelled FS_* variable is named at start, with the setting it resembles;
the list of known names is the settings models' plus what the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from featurestore.services.cli import cli
from featurestore.services.cli._environment import (
    KNOWN_VARIABLES,
    SETTINGS_VARIABLES,
    misspelled_variables,
)
from featurestore.services.ui.settings import UiSettings
from tests.click_runner import separate_stderr_runner

ROOT = Path(__file__).resolve().parents[3]
# A name read, not a prefix ("FS_TLS_*") nor a user's ${FS_...} in an example.
_NAME = re.compile(r"(?<!\$\{)\bFS_[A-Z0-9_]*[A-Z0-9]\b(?!_)")


def test_the_settings_names_are_the_models_fields() -> None:
    assert {f"FS_{name}" for name in SETTINGS_VARIABLES} == {
        f"FS_{field.upper()}" for field in UiSettings.model_fields
    }


def test_every_fs_name_in_the_source_is_known() -> None:
    places = [
        *(ROOT / "services").rglob("*"),
        *(ROOT / "spark_jobs").rglob("*"),
        ROOT / "proto" / "featurestore" / "__init__.py",
    ]
    read: dict[str, str] = {}
    for path in places:
        if path.suffix not in (".py", ".tmpl", ".go") or "_pb2" in path.name:
            continue
        for name in _NAME.findall(path.read_text(encoding="utf-8")):
            read.setdefault(name, str(path.relative_to(ROOT)))
    assert "FS_SPARK_MASTER" in read and "FS_FEAST_TYPECHECKS" in read
    unknown = {
        name: where for name, where in read.items() if name not in KNOWN_VARIABLES
    }
    assert unknown == {}


@pytest.mark.parametrize(
    ("name", "close"),
    [
        ("FS_MAX_ONLINE_ENTITY_ROW", "FS_MAX_ONLINE_ENTITY_ROWS"),
        ("FS_DATADIR", "FS_DATA_DIR"),
        ("FS_REPO", "FS_REPO_PATH"),
        ("FS_IVY_DIRS", "FS_IVY_DIR"),
    ],
)
def test_a_misspelling_is_named_with_the_setting_it_resembles(
    name: str, close: str
) -> None:
    env = {name: "1", "FS_S3_SECRET": "x", "FS_DATA_DIR": "d", "HOME": "/"}
    assert misspelled_variables(env) == [(name, close)]


@pytest.mark.parametrize(
    "args",
    [["contracts", "list", "--root", "."], ["serve", "--help"], ["ui", "--help"]],
)
def test_commands_warn_once_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str]
) -> None:
    # FS_MAX_ONLINE_ENTITY_ROW=1 served 10,000-row reads without a word.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FS_MAX_ONLINE_ENTITY_ROW", "1")
    monkeypatch.setenv("FS_S3_SECRET", "a user's own variable")
    result = separate_stderr_runner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    warnings = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    assert warnings == [
        "warning: FS_MAX_ONLINE_ENTITY_ROW is no featurestore setting and is "
        "ignored; did you mean FS_MAX_ONLINE_ENTITY_ROWS?"
    ]


def test_light_commands_load_nothing_to_warn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FS_MAX_ONLINE_ENTITY_ROW", "1")
    result = separate_stderr_runner().invoke(cli, ["version"])
    assert result.exit_code == 0 and "warning" not in result.stderr
