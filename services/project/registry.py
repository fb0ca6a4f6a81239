"""The Feast registry of a repo, when it is a file on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.services.storage import is_local, local_path

if TYPE_CHECKING:
    from feast.repo_config import RepoConfig


def local_registry_file(config: RepoConfig, repo: Path) -> Path | None:
    """The registry file ``config`` names (relative paths from ``repo``), or
    None for a registry elsewhere (SQL, an object store)."""
    registry = config.registry
    path = registry if isinstance(registry, str) else getattr(registry, "path", None)
    kind = getattr(registry, "registry_type", "file")
    if kind != "file" or not isinstance(path, str) or not is_local(path):
        return None
    found = Path(local_path(path))
    return found if found.is_absolute() else Path(repo) / found


def missing_registry_message(
    registry: Path, repo: Path, config_file: Path | None = None
) -> str:
    """What to say when ``registry`` is not there yet (Feast would create it
    empty on the first read: commands refuse instead and create nothing).
    ``config_file``: the feature_store*.yaml read, named in the advice when it
    is not the repo's feature_store.yaml."""
    apply = "feast apply"
    if config_file is not None and Path(config_file).name != "feature_store.yaml":
        apply = f"feast -f {Path(config_file).name} apply"
    return (
        f"REGISTRY_NOT_FOUND: no Feast registry at {registry}: run `{apply}` in {repo}"
    )
