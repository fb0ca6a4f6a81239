"""Exit codes, JSON output, spinners and project lookup shared by the commands."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from featurestore.services.project import Project

_F = TypeVar("_F", bound=Callable[..., Any])

OK = 0
"""Exit code: the command did what was asked."""
FAILED = 1
"""Exit code: a contract or validation failure (findings, failing rows, a job)."""
USAGE = 2
"""Exit code: bad usage (unknown flag, name or file, unusable settings)."""
INTERRUPTED = 130
"""Exit code: interrupted by SIGINT (Ctrl-C), 128 + 2 as shells report it."""

json_option: Callable[[_F], _F] = click.option(
    "--json", "as_json", is_flag=True, help="print one JSON document"
)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON with sorted keys on stdout.

    JSON has no NaN or infinity: a non-finite float is printed as ``null``
    (as JavaScript's ``JSON.stringify`` does), so strict parsers read the
    document; objects JSON does not know are printed as ``str(obj)``.
    """
    document = json.dumps(
        _finite(value), indent=2, sort_keys=True, default=str, allow_nan=False
    )
    click.echo(document)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):  # a NaN key would fail: keys become strings
        return {_key(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _key(key: Any) -> Any:
    return str(key) if isinstance(key, float) and not math.isfinite(key) else key


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
    with console.status(verbatim(text)):  # it names folders: "[/]" is no markup
        yield


def verbatim(text: str, style: str = "") -> Any:
    """``text`` as a rich cell, title or status printed as it is, never read as
    markup: data (view, feature and contract names, category values, folders,
    error texts) with ``[/]`` in it crashed the command, ``[link=...]`` hid
    itself behind a link and ``[red]`` vanished."""
    from rich.text import Text

    return Text(text, style=style)


def default_repo() -> Path:
    """The Feast repo: $FS_REPO_PATH, else the working directory when it holds
    feature_store.yaml, else ./feature_repo (found as the project finds it)."""
    if importlib.util.find_spec("featurestore.services.project") is None:
        # an installation without project support
        cwd = Path.cwd()
        has_yaml = (cwd / "feature_store.yaml").is_file()
        return cwd if has_yaml else cwd / "feature_repo"
    return project_of(None).repo


def project_of(repo: Path | None) -> Project:
    """The project at ``repo`` (``--repo``), else found as ``feast`` finds it;
    a folder without feature_store.yaml or a malformed featurestore.yaml is
    usage (exit 2) naming the folder, before any command guesses at tables."""
    from featurestore.services.project import Project, ProjectError

    try:
        return Project.discover(repo)
    except ProjectError as exc:
        raise usage_error(f"{exc.reason.value}: {exc}") from exc


def project_origin(repo_given: bool) -> str:
    """How the project was chosen: ``--repo``, ``$FS_REPO_PATH`` (which wins
    over the working directory) or the working directory."""
    if repo_given:
        return "--repo"
    if os.environ.get("FS_REPO_PATH"):
        return "$FS_REPO_PATH, which wins over the working directory"
    return "the working directory"


def announce_project(folder: Path, repo_given: bool) -> None:
    """The first progress line of a command that writes or runs long: the
    project folder it acts on and how it was found, on stderr (never in
    ``--json``'s stdout). An exported $FS_REPO_PATH wins over the project in
    the working directory; this line makes that visible. Not printed when
    --repo named the folder on the same command line: nothing was chosen for
    the user there, and errors stay the one line scripts read."""
    if not repo_given:
        click.echo(f"project: {folder} (from {project_origin(False)})", err=True)


def announce_found_project(repo: Path | None) -> None:
    """``announce_project`` for the project found from ``repo``; nothing when
    there is none (the command then works without one or says why itself)."""
    from featurestore.services.project import Project, ProjectError

    try:
        folder = Project.discover(repo).repo
    except ProjectError:
        return
    announce_project(folder, repo is not None)


REPO_DEFAULT_HELP = (
    "default: $FS_REPO_PATH when set, which wins over the working directory; "
    "else . when it holds feature_store.yaml, else ./feature_repo"
)
"""How every command finds its project when --repo is not given."""


def shown_location(location: str, folder: Path) -> str:
    """``location`` as a command prints it: relative to the project ``folder``
    when inside it (``data/features/t``), else as it is (absolute, a URI)."""
    path = Path(location)
    if path.is_absolute() and path.is_relative_to(folder):
        return str(path.relative_to(folder))
    return location


def repo_option(help_text: str = "the Feast repo") -> Callable[[_F], _F]:
    """``--repo PATH``; default: see ``default_repo``."""
    return click.option(
        "--repo",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help=f"{help_text} ({REPO_DEFAULT_HELP})",
    )


def stdout() -> Any:
    """The current stdout (CliRunner swaps it per invocation)."""
    return sys.stdout
