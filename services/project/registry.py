"""The Feast registry of a repo: its file on this machine, its feature views."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError

from featurestore.services.project.errors import RegistryUnavailableError
from featurestore.services.storage import is_local, local_path

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView
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


def feature_views(
    store: FeatureStore, *, allow_cache: bool = False, registered: bool = False
) -> list[FeatureView]:
    """The views whose rows Feast stores: batch views, then stream views.

    A ``StreamFeatureView`` is a ``FeatureView`` with a ``batch_source``;
    ``feast materialize`` writes it from that source as it writes a batch
    view, and Feast's SDK serves and joins it the same way, so every list of
    views to serve, materialise, join or monitor is this one. On-demand views
    are computed from others at request time and are not here.

    Args:
        store: The Feast repo.
        allow_cache: Read the registry cached in memory (after a refresh).
        registered: An entity-less view as the registry holds it, keyed by
            Feast's dummy entity; by default as ``FeatureStore`` hands it
            out, with no entity columns.
    """
    with registry_read():
        if registered:
            registry, project = store.registry, store.project
            return [
                *registry.list_feature_views(project, allow_cache=allow_cache),
                *registry.list_stream_feature_views(project, allow_cache=allow_cache),
            ]
        return [
            *store.list_feature_views(allow_cache=allow_cache),
            *store.list_stream_feature_views(allow_cache=allow_cache),
        ]


@contextmanager
def registry_read() -> Iterator[None]:
    """Re-raise a registry that cannot be read (gone, cut short by a
    concurrent ``feast apply``) as RegistryUnavailableError, not as the
    parser's or the file system's own error.
    """
    try:
        yield
    except DecodeError:
        raise RegistryUnavailableError("it does not parse") from None
    except FileNotFoundError:
        raise RegistryUnavailableError("its file is gone") from None


def on_demand_view_names(store: FeatureStore, *, allow_cache: bool = False) -> set[str]:
    """The names of the project's on-demand feature views (not ``feature_views``:
    Feast's SDK computes them at request time; this service does not)."""
    with registry_read():
        views = store.list_on_demand_feature_views(allow_cache=allow_cache)
    return {v.name for v in views}
