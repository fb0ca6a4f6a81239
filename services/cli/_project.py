"""``featurestore init DIR``: scaffold a new project."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from featurestore.services.cli._common import usage_error


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def init(directory: Path) -> None:
    """Create a working project in DIRECTORY: feature_store.yaml (this offline
    store, SQLite online), a contract, a feature view, a small job and sample data.
    """
    try:
        project = importlib.import_module("featurestore.services.project")
    except ImportError as exc:
        raise usage_error(
            "this installation has no project scaffolding "
            "(featurestore.services.project)"
        ) from exc
    try:
        project.scaffold(directory)
    except project.ProjectError as exc:
        raise usage_error(f"{exc.reason.value}: {exc}") from exc
    except OSError as exc:  # a folder that cannot be made or written
        raise usage_error(
            f"cannot create a project in {directory}: {exc.strerror or exc}"
        ) from exc
    click.echo(f"created a project in {directory}; next, in that folder:")
    click.echo(project.next_steps_text("  "))


COMMANDS = [init]
