"""A copied or moved project (real `feast apply`, real SQLite store): the registry
names the original's online store until `featurestore registry relocate`."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from featurestore.services.cli import main
from featurestore.services.project import scaffold

pytestmark = [pytest.mark.integration]

FEAST = str(Path(sys.executable).parent / "feast")
TABLE = "src_customer_purchases"


def _feast(repo: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEAST, "-c", str(repo), command], capture_output=True, text=True
    )


def _tables(repo: Path) -> set[str]:
    database = repo / "data" / "feast" / "online_store.db"
    with closing(sqlite3.connect(database)) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return {name for (name,) in rows}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """An applied project whose online table holds one row (as materialised)."""
    repo = tmp_path / "src"
    scaffold(repo)
    assert _feast(repo, "apply").returncode == 0
    with closing(sqlite3.connect(repo / "data" / "feast" / "online_store.db")) as db:
        db.execute(
            f"INSERT INTO {TABLE} (entity_key, feature_name) VALUES (x'01', 'a')"
        )
        db.commit()
    return repo


def test_plain_feast_apply_in_a_copy_drops_the_originals_table(
    src: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = src.parent / "copy"
    shutil.copytree(src, copy)
    # our commands that open the registry name the problem and the repair
    assert main(["registry", "relocate", "--repo", str(copy), "--dry-run"]) == 0
    assert main(["materialize", "--incremental", "--repo", str(copy)]) == 1  # no Delta
    err = capsys.readouterr().err
    warning = [ln for ln in err.splitlines() if "REGISTRY_OF_ANOTHER_FOLDER" in ln]
    assert warning, err
    assert str(src / "data" / "feast" / "online_store.db") in warning[0]
    assert f"featurestore registry relocate --repo {copy}" in warning[0]
    # what the warning is about: Feast tears the table down in the original
    assert _feast(copy, "apply").returncode == 0
    assert TABLE not in _tables(src)
    # and `feast apply` in the original never recreates it; relocate does
    assert "No changes to infrastructure" in _feast(src, "apply").stdout
    assert TABLE not in _tables(src)
    capsys.readouterr()
    assert main(["registry", "relocate", "--repo", str(src), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["relocated"] == {} and done["created"] == [TABLE]
    assert TABLE in _tables(src)


def test_relocate_before_apply_keeps_the_original_untouched(
    src: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = src.parent / "copy"
    shutil.copytree(src, copy)
    originals = [src / "data" / "feast" / n for n in ("registry.db", "online_store.db")]
    before = [_digest(path) for path in originals]
    assert main(["registry", "relocate", "--repo", str(copy), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["relocated"] == {TABLE: str(src / "data" / "feast" / "online_store.db")}
    assert done["online_store"] == str(copy / "data" / "feast" / "online_store.db")
    assert done["created"] == [] and done["materialize_needed"] is False
    assert [_digest(path) for path in originals] == before
    applied = _feast(copy, "apply")
    assert applied.returncode == 0 and "No changes to infrastructure" in applied.stdout
    assert TABLE in _tables(src)
    with closing(sqlite3.connect(src / "data" / "feast" / "online_store.db")) as db:
        assert db.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (1,)
    # repaired: no more warning, and a second run has nothing to do
    assert main(["registry", "relocate", "--repo", str(copy)]) == 0
    captured = capsys.readouterr()
    assert "nothing to do" in captured.out
    assert "REGISTRY_OF_ANOTHER_FOLDER" not in captured.err


def test_a_moved_project_plans_after_relocate(src: Path) -> None:
    moved = src.parent / "moved"
    src.rename(moved)
    assert main(["registry", "relocate", "--repo", str(moved)]) == 0
    planned = _feast(moved, "plan")
    assert planned.returncode == 0, planned.stderr[-2000:]
    assert "No changes to infrastructure" in planned.stdout
    assert not src.exists()  # nothing recreated at the old place


def test_relocate_creates_the_missing_online_tables(
    src: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = src.parent / "copy"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("online_store.db"))
    assert main(["registry", "relocate", "--repo", str(copy), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["created"] == [TABLE] and done["materialize_needed"] is True
    assert TABLE in _tables(copy)
    assert TABLE in _tables(src)
    assert main(["registry", "relocate", "--repo", str(copy)]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_relocate_before_apply_is_one_usage_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scaffold(tmp_path / "new")
    assert main(["registry", "relocate", "--repo", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "REGISTRY_NOT_FOUND" in err
    assert not (tmp_path / "new" / "data" / "feast").exists()


def test_serve_and_ui_warn_of_a_copied_registry(
    src: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from featurestore.services.server.settings import ServerSettings
    from featurestore.services.server.transport import check_repo

    copy = src.parent / "copy"
    shutil.copytree(src, copy)
    with caplog.at_level(logging.WARNING):
        check_repo(ServerSettings(repo_path=src))
        assert not caplog.records
        check_repo(ServerSettings(repo_path=copy))
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith("REGISTRY_OF_ANOTHER_FOLDER")
    assert f"relocate --repo {copy}" in warning


def test_relocate_refuses_a_registry_outside_the_project(
    src: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A copy whose feature_store.yaml names the registry by an absolute path
    # still reads the original's: relocate rewrote it, pointing the original
    # project at the copy's online store.
    copy = src.parent / "copy"
    shutil.copytree(src, copy)
    registry = src / "data" / "feast" / "registry.db"
    config = copy / "feature_store.yaml"
    config.write_text(
        config.read_text().replace(
            "registry: data/feast/registry.db", f"registry: {registry}"
        )
    )
    before = _digest(registry)
    assert main(["registry", "relocate", "--repo", str(copy)]) != 0
    assert "outside" in capsys.readouterr().err
    assert _digest(registry) == before


def test_relocate_keeps_the_registry_files_mode(src: Path) -> None:
    # mkstemp's 0600 replaced a 0644 registry: a server or console running
    # as another user could no longer read it.
    copy = src.parent / "copy"
    shutil.copytree(src, copy)
    registry = copy / "data" / "feast" / "registry.db"
    registry.chmod(0o644)
    assert main(["registry", "relocate", "--repo", str(copy)]) == 0
    assert registry.stat().st_mode & 0o777 == 0o644
