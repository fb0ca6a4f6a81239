from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.contracts._support import base_data, write_contract

ROOT = Path(__file__).resolve().parents[3]


def _run(*args, root=None):
    command = [sys.executable, "-m", "featurestore.services.contracts"]
    if root is not None:
        command += ["--root", str(root)]
    return subprocess.run(
        [*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def root(tmp_path):
    write_contract(tmp_path, base_data())
    minor = base_data()
    minor["version"] = "1.1.0"
    minor["columns"] = [c for c in minor["columns"] if c["name"] != "kind"]
    write_contract(tmp_path, minor)
    return tmp_path


def test_help_and_list_on_repo():
    assert _run("--help").returncode == 0
    listed = _run("list")
    assert listed.returncode == 0
    assert "customer_spend\t1.0.0" in listed.stdout


def test_show(root):
    shown = _run("show", "spend", "--version", "1.0.0", root=root)
    assert shown.returncode == 0
    assert "version: 1.0.0" in shown.stdout


def test_diff_breaking_without_major_exits_1(root):
    result = _run("diff", "spend", "1.0.0", "1.1.0", root=root)
    assert result.returncode == 1
    assert "BREAKING COLUMN_REMOVED kind" in result.stdout
    assert "PROBLEM MAJOR_BUMP_REQUIRED" in result.stdout


def test_diff_compatible_exits_0(tmp_path):
    write_contract(tmp_path, base_data())
    newer = base_data()
    newer["version"] = "1.0.1"
    newer["owner"] = "new@example.com"
    write_contract(tmp_path, newer)
    result = _run("diff", "spend", "1.0.0", "1.0.1", root=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "compatible OWNER_CHANGED" in result.stdout


def test_check_all(root, tmp_path):
    assert _run("check-all").returncode == 0
    bad = _run("check-all", root=root)
    assert bad.returncode == 1
    assert "PROBLEM spend 1.0.0 -> 1.1.0: MAJOR_BUMP_REQUIRED" in bad.stdout
    (root / "spend" / "2.0.0.yaml").write_text("name: [broken")
    broken = _run("check-all", root=root)
    assert broken.returncode == 1
    assert "INVALID INVALID_YAML spend/2.0.0.yaml" in broken.stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("show", "nope"), "CONTRACT_NOT_FOUND"),
        (("diff", "spend", "1.0.0", "9.0.0"), "CONTRACT_VERSION_NOT_FOUND"),
    ],
)
def test_errors_exit_2_one_line(root, args, reason):
    result = _run(*args, root=root)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {reason}: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_list_of_a_root_one_level_off_says_where_the_contracts_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from featurestore.services.cli import main

    contracts = tmp_path / "project" / "contracts"
    write_contract(contracts, base_data())
    # One contract's own folder, and the folder above the root: each lists
    # nothing (exit 0, an empty root is legitimate) and says what to give.
    for given, hint in [
        (contracts / "spend", "it holds version files itself, as one contract's "
                              "folder does: give its parent"),
        (contracts.parent, f"contracts are one level down: give {contracts}"),
    ]:  # fmt: skip
        for json_flag in ([], ["--json"]):
            assert main(["contracts", "--root", str(given), "list", *json_flag]) == 0
            out, err = capsys.readouterr()
            empty = '{\n  "contracts": [],\n  "unreachable": []\n}\n'
            assert out == (empty if json_flag else "")
            assert err == f"no contracts under {given} (each is " \
                          f"<root>/<name>/<version>.yaml); {hint}\n"  # fmt: skip
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["contracts", "--root", str(empty), "list"]) == 0
    assert capsys.readouterr().err.endswith("(each is <root>/<name>/<version>.yaml)\n")
    assert main(["contracts", "--root", str(contracts), "list"]) == 0
    assert capsys.readouterr() == ("spend\t1.0.0\tteam@example.com\n", "")
