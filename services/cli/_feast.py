"""The Feast store a command works on: loaded once, its registry applied."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from featurestore.services.cli._common import spinner, usage_error
from featurestore.services.project import config_problem
from featurestore.services.project.registry import (
    local_registry_file,
    missing_registry_message,
)
from featurestore.services.project.relocation import relocation_message

if TYPE_CHECKING:
    from feast import FeatureStore


def feature_store(
    folder: Path, fs_yaml_file: Path | None = None, *, check_location: bool = True
) -> FeatureStore:
    """The Feast store of the repo at ``folder`` (configured by ``fs_yaml_file``
    when given), its registry already applied.

    Feast creates an empty registry file on the first read, so a repo never
    applied would read as one without views; that is a usage error instead
    (exit 2, nothing created): run ``feast apply``. A registry copied or moved
    from another folder gets a one-line warning naming the repair
    (``check_location=False``: the repair itself).
    """
    with spinner(f"loading {folder}"):
        from feast import FeatureStore

        try:
            store = FeatureStore(repo_path=str(folder), fs_yaml_file=fs_yaml_file)
        except Exception as exc:  # Feast raises many types for a bad repo
            # config_problem: Feast's text quotes the file (its secrets too).
            problem = f"cannot load the Feast repo {folder}: {config_problem(exc)}"
            raise usage_error(problem) from None
    registry = local_registry_file(store.config, folder)
    if registry is not None and not registry.is_file():
        raise usage_error(missing_registry_message(registry, folder, fs_yaml_file))
    moved = relocation_message(store.config, folder) if check_location else None
    if moved is not None:
        click.echo(f"warning: {moved}", err=True)
    return store
