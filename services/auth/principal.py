"""Who is calling: a name and the roles Feast permissions are checked against."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        name: The API key's principal, or the token's ``sub``.
        roles: Roles matched by Feast ``RoleBasedPolicy`` permissions.
        authenticated: False only for the anonymous caller of ``auth: none``.
    """

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    authenticated: bool = True


ANONYMOUS = Principal("anonymous", frozenset(), authenticated=False)
"""The caller when authentication is off (``auth: none``)."""
