"""``featurestore init DIR`` and ``featurestore registry relocate``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from featurestore.services.cli._common import (
    default_repo,
    echo_json,
    json_option,
    repo_option,
    usage_error,
)

if TYPE_CHECKING:
    from featurestore.services.project.relocation import Relocation


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--project-name",
    default=None,
    help="the Feast project name (default: the folder's name); it prefixes the "
    "online tables and Redis keys: unique per Redis",
)
def init(directory: Path, project_name: str | None) -> None:
    """Create a working project in DIRECTORY: feature_store.yaml (this offline
    store, SQLite online), a contract, a feature view, a small job and sample data.

    Two projects sharing one Redis must have different Feast project names:
    give --project-name when their folders have the same name.
    """
    try:
        project = importlib.import_module("featurestore.services.project")
    except ImportError as exc:
        raise usage_error(
            "this installation has no project scaffolding "
            "(featurestore.services.project)"
        ) from exc
    try:
        name = project.scaffold(directory, project_name)
    except project.ProjectError as exc:
        raise usage_error(f"{exc.reason.value}: {exc}") from exc
    except OSError as exc:  # a folder that cannot be made or written
        raise usage_error(
            f"cannot create a project in {directory}: {exc.strerror or exc}"
        ) from exc
    click.echo(
        f"created the Feast project {name} in {directory}; next, in that folder:"
    )
    click.echo(project.next_steps_text("  "))


COMMANDS = [init]


@click.group("registry")
def registry() -> None:
    """Repair the project's Feast registry."""


@registry.command("relocate")
@repo_option("the project folder")
@click.option(
    "--feature-store-yaml",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="a feature_store*.yaml other than the repo's",
)
@click.option("--dry-run", is_flag=True, help="say what would change; write nothing")
@json_option
def relocate(
    repo: Path | None, feature_store_yaml: Path | None, dry_run: bool, as_json: bool
) -> None:
    """Point a copied or moved project's registry at its own online store.

    Feast's registry keeps the absolute path of the SQLite online store, so
    after `cp -r` or `mv` the registry still names the original folder's file:
    `feast apply` in the copy drops the original's online tables, and after a
    move `feast plan`/`apply` fail on the old folder. Run this in the copy
    (before its first `feast apply`) or after the move: it rewrites the
    registry's online tables to this folder's store and creates those missing
    there (empty: run `featurestore materialize` then). No other folder's file
    is read or written.
    """
    from featurestore.services.cli._feast import feature_store
    from featurestore.services.project.relocation import RelocationError
    from featurestore.services.project.relocation import relocate as repair

    repo = repo or default_repo()
    config = feature_store(repo, feature_store_yaml, check_location=False).config
    try:
        done = repair(config, repo, dry_run=dry_run)
    except RelocationError as exc:
        raise usage_error(str(exc)) from exc
    if as_json:
        echo_json(
            {
                "registry": str(done.registry),
                "online_store": str(done.online_store) if done.online_store else None,
                "relocated": done.relocated,
                "created": done.created,
                "dry_run": dry_run,
                "materialize_needed": done.needs_materialize,
            }
        )
        return
    _report(done, dry_run)


def _report(done: Relocation, dry_run: bool) -> None:
    would = "would " if dry_run else ""
    if done.online_store is None:
        click.echo(f"the online store is not SQLite: {done.registry} names no file")
        return
    for table, path in sorted(done.relocated.items()):
        click.echo(f"{would}relocate {table}: {path} -> {done.online_store}")
    for table in done.created:
        click.echo(f"{would}create the missing online table {table}")
    if not done.relocated and not done.created:
        click.echo(f"{done.registry} already names {done.online_store}: nothing to do")
    elif done.needs_materialize and not dry_run:
        click.echo("created tables are empty: run `featurestore materialize` next")


COMMANDS = [init, registry]
