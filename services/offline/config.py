"""Configuration of the Delta offline store, as read from feature_store.yaml."""

from __future__ import annotations

from typing import Any, Literal

from feast.repo_config import FeastConfigBaseModel

__all__ = ["DeltaOfflineStoreConfig"]


class DeltaOfflineStoreConfig(FeastConfigBaseModel):
    """Selects the Delta offline store: ``offline_store: {type: <this type>}``."""

    type: Literal["featurestore.services.offline.DeltaOfflineStore"] = (
        "featurestore.services.offline.DeltaOfflineStore"
    )
    """Offline store type selector; Feast imports ``DeltaOfflineStoreConfig``
    from the module named before the last dot."""


def __getattr__(name: str) -> Any:
    # Feast builds the store from the config as
    # import_class(type(config).__module__, "<ConfigName minus Config>"), i.e.
    # it looks for DeltaOfflineStore in *this* module. Resolve it lazily to
    # avoid an import cycle with store.py.
    if name == "DeltaOfflineStore":
        from featurestore.services.offline.store import DeltaOfflineStore

        return DeltaOfflineStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
