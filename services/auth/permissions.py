"""Feast ``Permission`` objects from the registry, enforced by Feast's own rule.

The decision is Feast's ``enforce_policy`` rule (deny by default once any
permission exists; with none, every authenticated caller may act; a matching
permission whose policy accepts the caller grants), so a permissions file
behaves here as under ``feast serve`` but for ``required_tags``: Feast 0.67
looks them up on ``resource.required_tags`` (which views lack), logs a warning
holding the whole resource and matches anyway; here a permission with
``required_tags`` matches only a resource whose own ``tags`` hold each of them
with the same value, as Feast documents. Decisions are remembered per registry
version, principal, action and resource: the hot path is one lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from featurestore.services.auth.errors import PermissionDeniedError
from featurestore.services.auth.principal import Principal

if TYPE_CHECKING:
    # Feast is imported where a decision is made, not with the package: the
    # key commands (`featurestore auth ...`) import this package and need none.
    from feast.permissions.action import AuthzedAction

_REMEMBERED = 16_384

Snapshot = tuple[object, Sequence[Any]]
"""A registry version and its permissions (``Permission`` objects)."""


class Authorizer:
    """Checks an action on Feast objects against the registry's permissions.

    Args:
        permissions: returns the current registry version and permissions
            (the catalog's snapshot, refreshed in the background).
    """

    def __init__(self, permissions: Callable[[], Snapshot]) -> None:
        self._permissions = permissions
        self._lock = threading.Lock()
        self._version: object = None
        self._decisions: dict[tuple[str, frozenset[str], str, str, str], bool] = {}

    def require(
        self, principal: Principal, action: AuthzedAction, resources: Sequence[Any]
    ) -> None:
        """Pass when ``principal`` may take ``action`` on every resource.

        Raises:
            PermissionDeniedError: naming the action and the first resource denied.
        """
        version, permissions = self._permissions()
        if version != self._version:
            with self._lock:
                self._decisions, self._version = {}, version
        decisions = self._decisions
        for resource in resources:
            kind = type(resource).__name__
            key = (principal.name, principal.roles, action.name, kind, resource.name)
            allowed = decisions.get(key)
            if allowed is None:
                allowed = _decide(permissions, principal, action, resource)
                if len(decisions) >= _REMEMBERED:
                    decisions.clear()
                decisions[key] = allowed
            if not allowed:
                raise PermissionDeniedError(
                    principal.name, action.name, f"{kind} {resource.name!r}"
                )

    def permitted(
        self, principal: Principal, action: AuthzedAction, resources: Sequence[Any]
    ) -> list[Any]:
        """The resources of ``resources`` that ``principal`` may take ``action`` on."""
        allowed = []
        for resource in resources:
            try:
                self.require(principal, action, [resource])
            except PermissionDeniedError:
                continue
            allowed.append(resource)
        return allowed


def _decide(
    permissions: Sequence[Any],
    principal: Principal,
    action: AuthzedAction,
    resource: Any,
) -> bool:
    from feast.permissions.user import User

    if not permissions:
        return bool(principal.name)
    user = User(principal.name, roles=sorted(principal.roles))
    return any(
        permission.policy.validate_user(user=user)[0]
        for permission in permissions
        if permission.match_actions([action]) and _matches(permission, resource)
    )


def _matches(permission: Any, resource: Any) -> bool:
    """Type and name as Feast matches them; required tags against the
    resource's own ``tags`` (an untagged resource holds none)."""
    from feast.permissions.matcher import resource_match_config

    tags = getattr(resource, "tags", None) or {}
    required = permission.required_tags or {}
    if any(tags.get(key) != value for key, value in required.items()):
        return False
    return resource_match_config(resource, permission.types, permission.name_patterns)
