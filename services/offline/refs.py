"""Feature references (``view:feature``) and feature services, resolved once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurestore.services.offline.errors import (
    FeatureServiceNotFoundError,
    InvalidRequestError,
)

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["FeatureRef", "group_refs", "parse_ref", "service_refs"]


@dataclass(frozen=True, slots=True)
class FeatureRef:
    """One requested feature: the view (or projection) name and the feature."""

    view: str
    feature: str

    def __str__(self) -> str:
        """The reference as written: ``view:feature``."""
        return f"{self.view}:{self.feature}"


def parse_ref(ref: str) -> FeatureRef:
    """Split ``view:feature`` at the first colon.

    Raises:
        InvalidRequestError: No colon, or an empty view or feature name.
    """
    view, sep, feature = ref.partition(":")
    if not sep or not view or not feature:
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
    """The references a Feast feature service stands for, in its order.

    Raises:
        FeatureServiceNotFoundError: no such service in the registry.
    """
    from feast.errors import FeatureServiceNotFoundException

    try:
        fs = store.get_feature_service(service)
    except FeatureServiceNotFoundException:
        known = sorted(s.name for s in store.list_feature_services())
        raise FeatureServiceNotFoundError(service, known) from None
    return [
        f"{p.name_to_use()}:{f.name}"  # type: ignore[no-untyped-call]
        for p in fs.feature_view_projections
        for f in p.features
    ]
