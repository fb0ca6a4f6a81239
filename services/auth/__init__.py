"""Authentication (API keys, OIDC tokens), Feast-permission checks and the audit log."""

from __future__ import annotations

from typing import Protocol

from featurestore.services.auth.api_keys import (
    ApiKeyAuthenticator,
    ApiKeyInfo,
    add_key,
    list_keys,
    revoke_key,
    rotate_key,
)
from featurestore.services.auth.audit import AuditLog
from featurestore.services.auth.errors import (
    AuthConfigError,
    AuthenticationError,
    AuthError,
    KeyNotFoundError,
    PermissionDeniedError,
)
from featurestore.services.auth.oidc import OidcAuthenticator
from featurestore.services.auth.permissions import Authorizer
from featurestore.services.auth.principal import ANONYMOUS, Principal

__all__ = [
    "ANONYMOUS",
    "ApiKeyAuthenticator",
    "ApiKeyInfo",
    "AuditLog",
    "AuthConfigError",
    "AuthError",
    "AuthenticationError",
    "Authenticator",
    "Authorizer",
    "KeyNotFoundError",
    "OidcAuthenticator",
    "PermissionDeniedError",
    "Principal",
    "add_key",
    "bearer_token",
    "list_keys",
    "revoke_key",
    "rotate_key",
]


class Authenticator(Protocol):
    """Turns a bearer token into a principal, or raises AuthenticationError."""

    def authenticate(self, token: str) -> Principal:
        """The token's principal."""
        ...


def bearer_token(authorization: str | None) -> str:
    """The token of an ``authorization: Bearer <token>`` header.

    Raises:
        AuthenticationError: no header, another scheme, or an empty token.
    """
    if not authorization:
        raise AuthenticationError("no authorization metadata")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if not token or scheme.lower() != "bearer":
        raise AuthenticationError("authorization is not 'Bearer <token>'")
    return token
