"""Feature references (``view:feature``) and feature services, resolved once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurestore.services.offline.errors import (
    FeatureNotFoundError,
    FeatureServiceNotFoundError,
    FeatureViewNotFoundError,
    InvalidRequestError,
    OnDemandViewError,
)
from featurestore.services.project.registry import feature_views, on_demand_view_names

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView
    from feast.feature_service import FeatureService

__all__ = [
    "FeatureRef",
    "group_refs",
    "parse_ref",
    "resolve_views",
    "service_refs",
    "unregistered_view_error",
]


@dataclass(frozen=True, slots=True)
class FeatureRef:
    """One requested feature: the view (or projection) name and the feature."""

    view: str
    feature: str

    def __str__(self) -> str:
        """The reference as written: ``view:feature``."""
        return f"{self.view}:{self.feature}"


def parse_ref(ref: str) -> FeatureRef:
    """Split ``view:feature`` at its colon.

    Raises:
        InvalidRequestError: Not exactly one colon, or an empty view or
            feature name (feature names are identifiers: a second colon is
            a malformed reference, not an unknown feature).
    """
    view, sep, feature = ref.partition(":")
    if not sep or not view or not feature or ":" in feature:
        raise InvalidRequestError(
            f"feature reference {ref!r} is not of the form view:feature", ref=ref
        )
    return FeatureRef(view, feature)


def group_refs(refs: Sequence[str]) -> dict[str, list[str]]:
    """Group references by view, views and features in first-seen order.

    Raises:
        InvalidRequestError: A reference is not of the form view:feature.
    """
    grouped: dict[str, list[str]] = {}
    for ref in refs:
        parsed = parse_ref(ref)
        grouped.setdefault(parsed.view, []).append(parsed.feature)
    return grouped


def service_refs(store: FeatureStore, service: str) -> list[str]:
    """The references a Feast feature service stands for, in its order (a
    projection's alias as the view part, as Feast names its columns).

    Raises:
        FeatureServiceNotFoundError: no such service in the registry.
    """
    return [
        f"{p.name_to_use()}:{f.name}"  # type: ignore[no-untyped-call]
        for p in _service(store, service).feature_view_projections
        for f in p.features
    ]


def resolve_views(
    store: FeatureStore, features: Sequence[str] | str
) -> tuple[list[str], dict[str, tuple[FeatureView, list[str]]]]:
    """The references asked for and the views they read, keyed by the name the
    references use, in first-seen order.

    ``features`` is a list of ``view:feature`` references (registered views)
    or a feature service's name. A service's views come with its projection
    applied (``FeatureView.with_projection``, as Feast hands them to an offline
    store): an alias (``with_name``) names the view's output columns, and a
    join-key map (``with_join_key_map``) names the entity column each join key
    is read from; one view may be read twice under two aliases.

    Raises:
        FeatureServiceNotFoundError: no such service.
        InvalidRequestError: a malformed reference.
        FeatureViewNotFoundError: a reference or projection names no view.
        OnDemandViewError: it names an on-demand view (not served here).
        FeatureNotFoundError: a view does not define a requested feature.
    """
    known = {fv.name: fv for fv in feature_views(store)}
    if not isinstance(features, str):
        refs = list(features)
        return refs, {
            name: (_view(store, known, name, wanted), wanted)
            for name, wanted in group_refs(refs).items()
        }
    views: dict[str, tuple[FeatureView, list[str]]] = {}
    for p in _service(store, features).feature_view_projections:
        wanted = [f.name for f in p.features]
        base = _view(store, known, p.name, wanted)
        views[str(p.name_to_use())] = (base.with_projection(p), wanted)  # type: ignore[no-untyped-call]
    return service_refs(store, features), views


def unregistered_view_error(
    store: FeatureStore, name: str
) -> OnDemandViewError | FeatureViewNotFoundError:
    """The error for a view name ``feature_views`` lacks, wherever a request
    names one (a reference, a service, a pin, a monitored view): not served
    when it is an on-demand view, else not registered."""
    if name in on_demand_view_names(store):
        return OnDemandViewError(name)
    return FeatureViewNotFoundError(name)


def _view(
    store: FeatureStore, known: dict[str, FeatureView], name: str, wanted: list[str]
) -> FeatureView:
    if name not in known:
        raise unregistered_view_error(store, name)
    defined = [f.name for f in known[name].features]
    for feature in wanted:
        if feature not in defined:
            # Not a column lookup: a timestamp or join key is no feature.
            raise FeatureNotFoundError(name, feature, defined)
    return known[name]


def _service(store: FeatureStore, service: str) -> FeatureService:
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(service)
    except FeatureServiceNotFoundException:
        known = sorted(s.name for s in store.list_feature_services())
        raise FeatureServiceNotFoundError(service, known) from None
