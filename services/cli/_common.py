"""Exit codes, JSON output, spinners and project lookup shared by the commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

OK = 0
"""Exit code: the command did what was asked."""
FAILED = 1
"""Exit code: a contract or validation failure (findings, failing rows, a job)."""
USAGE = 2
"""Exit code: bad usage (unknown flag, name or file, unusable settings)."""

json_option = click.option(
    "--json", "as_json", is_flag=True, help="print one JSON document"
)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON with sorted keys on stdout."""
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def usage_error(message: str) -> click.exceptions.Exit:
    """Print ``error: message`` on stderr; the Exit to raise (code 2)."""
    click.echo(f"error: {message}", err=True)
    return click.exceptions.Exit(USAGE)


@contextmanager
def spinner(text: str) -> Iterator[None]:
    """A rich spinner on stderr while a long step runs (only on a terminal)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(text):
        yield


def default_repo() -> Path:
    """The Feast repo: the working directory when it holds feature_store.yaml,
    else ./feature_repo (this checkout's layout)."""
    cwd = Path.cwd()
    return cwd if (cwd / "feature_store.yaml").is_file() else cwd / "feature_repo"


def repo_option(help_text: str = "the Feast repo") -> Any:
    """``--repo PATH``; default: see ``default_repo``."""
    return click.option(
        "--repo",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help=f"{help_text} (default: . when it holds feature_store.yaml, "
        "else ./feature_repo)",
    )


def stdout() -> Any:
    """The current stdout (CliRunner swaps it per invocation)."""
    return sys.stdout
