"""The Feast registry as the server sees it: views, services, feature references."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from feast import FeatureStore, FeatureView
from feast.permissions.permission import Permission
from feast.project import Project

from featurestore.services.offline.errors import InvalidRequestError, OnDemandViewError
from featurestore.services.offline.refs import group_refs
from featurestore.services.online import ViewRequest as OnlineRead
from featurestore.services.project.registry import feature_views, on_demand_view_names
from featurestore.services.server.errors import NotFoundError, RequestError

# Distinct (features, service) selections remembered between registry refreshes.
_RESOLVED_LIMIT = 4096


@dataclass(frozen=True)
class ViewRequest:
    """The features requested from one view, in request order.

    A feature service's projection of the view may rename it (``alias``, from
    ``with_name``: the prefix of full feature names) and read a join key from
    another entity column (``join_key_map``, from ``with_join_key_map``: join
    key -> the request's column), as Feast's own online read does.
    """

    view: FeatureView
    features: tuple[str, ...]
    alias: str | None = None
    join_key_map: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        """The name the response uses for the view (its alias, if any)."""
        return self.alias or self.view.name

    def entity_column(self, join_key: str) -> str:
        """The request's entity column holding ``join_key``'s values."""
        return self._key_columns.get(join_key, join_key)

    @cached_property
    def _key_columns(self) -> dict[str, str]:
        return dict(self.join_key_map)

    def column_names(self, full_names: bool) -> tuple[str, ...]:
        """The response's column name of each feature (``view__feature`` with
        full feature names, the alias as the view)."""
        return self._full_names if full_names else self.features

    @cached_property
    def _full_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}__{f}" for f in self.features)

    @cached_property
    def online(self) -> OnlineRead:
        """The online store read for these features (join key types, TTL)."""
        return OnlineRead.from_feature_view(self.view, self.features)


class Catalog:
    """Thread-safe snapshot of the registry, refreshed in the background."""

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._views: dict[str, FeatureView] = {}
        self._on_demand: set[str] = set()
        self._services: dict[str, list[_Projection]] = {}
        self._resolved: dict[tuple[tuple[str, ...], str], list[ViewRequest]] = {}
        self._version: str | None = None
        self._permissions: tuple[int, list[Permission]] = (0, [])
        self._project = Project(name=store.project)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the registry (after `feast apply`); swap the snapshot if it changed.

        Runs every few seconds beside live traffic, so an unchanged registry
        costs one read of the registry proto and nothing else: the views and
        services are rebuilt (and remembered selections dropped) only when
        its version differs from the snapshot's.
        """
        self.store.refresh_registry()  # type: ignore[no-untyped-call]
        version = _registry_version(self.store.registry)
        if version is not None and version == self._version:
            return
        project = self.store.project
        registry = self.store.registry
        listed = feature_views(self.store, allow_cache=True, registered=True)
        views = {v.name: v for v in listed}
        on_demand = on_demand_view_names(self.store, allow_cache=True)
        services = {
            s.name: [
                _Projection(
                    p.name,
                    tuple(f.name for f in p.features),
                    p.name_alias or None,
                    tuple(sorted((p.join_key_map or {}).items())),
                )
                for p in s.feature_view_projections
            ]
            for s in registry.list_feature_services(project, allow_cache=True)
        }
        permissions = registry.list_permissions(project, allow_cache=True)
        with self._lock:
            self._views, self._services = views, services
            self._on_demand = on_demand
            self._resolved = {}
            self._version = version
            self._permissions = (self._permissions[0] + 1, permissions)

    def permissions(self) -> tuple[int, list[Permission]]:
        """The registry's Feast permissions and a number that changes with them."""
        return self._permissions

    @property
    def project(self) -> Project:
        """The project, the resource guarding project-wide reads (contracts)."""
        return self._project

    def views(self) -> list[FeatureView]:
        """All feature views, by name."""
        with self._lock:
            return [self._views[name] for name in sorted(self._views)]

    def view(self, name: str) -> FeatureView:
        """One view.

        Raises:
            NotFoundError: unknown.
            OnDemandViewError: an on-demand view, which is not served.
        """
        with self._lock:
            view = self._views.get(name)
            on_demand = name in self._on_demand
        if on_demand:
            raise OnDemandViewError(name)
        if view is None:
            raise NotFoundError("feature view", name)
        return view

    def stand_in(self, name: str) -> FeatureView | None:
        """A feature view named ``name``, without tags, that the registry lacks.

        Permissions are checked against it when a caller names a view that
        does not exist, so a caller the view would be denied to learns
        nothing from the answer about which names exist. None when the
        registry holds no view at all.
        """
        with self._lock:
            model = next(iter(self._views.values()), None)
        if model is None:
            return None
        view = copy.copy(model)
        view.name, view.tags = name, {}
        return view

    def resolve(self, features: Sequence[str], service: str) -> list[ViewRequest]:
        """Turn "view:feature" references or a feature service into per-view requests.

        Answers are remembered until the next refresh: online requests repeat
        the same selection, and resolving 50 references costs ~0.1 ms.

        Raises:
            RequestError: neither or both given, or a malformed reference.
            NotFoundError: unknown service, view or feature.
            OnDemandViewError: a reference or the service reads an on-demand view.
        """
        key = (tuple(features), service)
        resolved = self._resolved
        hit = resolved.get(key)
        if hit is None:
            hit = self._resolve(list(features), service)
            if len(resolved) >= _RESOLVED_LIMIT:
                resolved.clear()
            resolved[key] = hit
        return hit

    def _resolve(self, features: list[str], service: str) -> list[ViewRequest]:
        if bool(features) == bool(service):
            raise RequestError(
                "features", "give either features (view:feature) or feature_service"
            )
        if service:
            with self._lock:
                projections = self._services.get(service)
            if projections is None:
                raise NotFoundError("feature service", service)
            return [
                ViewRequest(
                    self._checked(p.view, p.features), tuple(dict.fromkeys(p.features)),
                    p.alias, p.join_key_map,
                )
                for p in projections
            ]  # fmt: skip
        try:
            grouped = group_refs(features)
        except InvalidRequestError as exc:
            raise RequestError("features", str(exc)) from exc
        # A reference given twice stays twice: the online APIs refuse the two
        # columns of one name (DUPLICATE_COLUMN), as the historical join does.
        return [
            ViewRequest(self._checked(view, names), tuple(names))
            for view, names in grouped.items()
        ]

    def _checked(self, view_name: str, names: Sequence[str]) -> FeatureView:
        """The view, once it is known to define every feature of ``names``.

        Raises:
            NotFoundError: unknown view or feature.
        """
        view = self.view(view_name)
        known = {f.name for f in view.features}
        for name in names:
            if name not in known:
                raise NotFoundError("feature", f"{view_name}:{name}")
        return view


@dataclass(frozen=True)
class _Projection:
    """A feature service's read of one view: its features, alias and key map."""

    view: str
    features: tuple[str, ...]
    alias: str | None
    join_key_map: tuple[tuple[str, str], ...]


def _registry_version(registry: object) -> str | None:
    """The registry's ``version_id``, or None when it has none to compare.

    File, S3, GCS (and the contrib) registry stores stamp a new ``version_id``
    on every write and keep the proto in memory after a refresh; SQL and
    remote registries have none, so they are rebuilt on every refresh.
    """
    proto = getattr(registry, "cached_registry_proto", None)
    version = getattr(proto, "version_id", "")
    return str(version) if version else None
