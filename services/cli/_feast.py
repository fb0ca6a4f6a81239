"""The Feast store a command works on: loaded once, its registry applied."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.services.cli._common import spinner, usage_error

if TYPE_CHECKING:
    from feast import FeatureStore


def feature_store(folder: Path, fs_yaml_file: Path | None = None) -> FeatureStore:
    """The Feast store of the repo at ``folder`` (configured by ``fs_yaml_file``
    when given), its registry already applied.

    Feast creates an empty registry file on the first read, so a repo never
    applied would read as one without views; that is a usage error instead
    (exit 2, nothing created): run ``feast apply``.
    """
    with spinner(f"loading {folder}"):
        from feast import FeatureStore

        try:
            store = FeatureStore(repo_path=str(folder), fs_yaml_file=fs_yaml_file)
        except Exception as exc:  # Feast raises many types for a bad repo
            raise usage_error(f"cannot load the Feast repo {folder}: {exc}") from exc
    registry = _local_registry(store, folder)
    if registry is not None and not registry.is_file():
        raise usage_error(
            f"REGISTRY_NOT_FOUND: no Feast registry at {registry}: "
            f"run `feast apply` in {folder}"
        )
    return store


def _local_registry(store: FeatureStore, folder: Path) -> Path | None:
    """The registry file of a file registry on this machine, else None."""
    from featurestore.services.storage import is_local, local_path

    config = store.config.registry
    path = config if isinstance(config, str) else getattr(config, "path", None)
    kind = getattr(config, "registry_type", "file")
    if kind != "file" or not isinstance(path, str) or not is_local(path):
        return None
    found = Path(local_path(path))
    return found if found.is_absolute() else Path(folder) / found
