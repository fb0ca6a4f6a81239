"""Commands that need no engine load none: `auth` and `--help` import no Feast,
pandas, pyarrow, Spark, deltalake or gRPC (about a second of imports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from featurestore.services.auth import add_key

ENGINES = ("feast", "pandas", "pyarrow", "pyspark", "deltalake", "grpc")


def _run_with_importtime(*args: str) -> tuple[str, set[str]]:
    """Run `featurestore ARGS` as a process; its stdout and the modules it
    imported (as `python -X importtime` reports them on stderr)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "featurestore.services.cli", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "featurestore.services.cli" in imported  # the report is there
    return proc.stdout, imported


def test_listing_keys_imports_no_engine(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.yaml"
    add_key(key_file, "alice", ["reader"])
    out, imported = _run_with_importtime(
        "auth", "list-keys", "--file", str(key_file), "--json"
    )
    assert [key["principal"] for key in json.loads(out)] == ["alice"]
    assert sorted(imported & set(ENGINES)) == []


@pytest.mark.parametrize("args", [["--help"], ["auth", "--help"], ["version"]])
def test_help_and_version_import_no_engine(args: list[str]) -> None:
    out, imported = _run_with_importtime(*args)
    assert out
    assert sorted(imported & set(ENGINES)) == []


def test_every_command_help_lists_loads_when_named() -> None:
    # --help lists the commands from a table (module, short help) so that it
    # imports none of them: each name there must load the command it names.
    import click

    from featurestore.services.cli import cli
    from featurestore.services.cli._root import _COMMANDS

    ctx = click.Context(cli, info_name="featurestore")
    for name in _COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
