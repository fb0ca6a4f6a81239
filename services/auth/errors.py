"""Errors of authentication and authorisation; the server maps them to status codes."""

from __future__ import annotations


class AuthError(Exception):
    """Base class: every error carries a stable ``reason`` and ``metadata``."""

    reason = "AUTH_ERROR"

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.metadata = metadata


class AuthenticationError(AuthError):
    """Missing or invalid credentials: UNAUTHENTICATED.

    ``detail`` says why (for the server log and audit); callers only ever see
    the generic message, so a probe learns nothing about which check failed.
    """

    reason = "UNAUTHENTICATED"

    def __init__(self, detail: str) -> None:
        super().__init__("missing or invalid credentials")
        self.detail = detail


class PermissionDeniedError(AuthError, PermissionError):
    """The principal lacks an action on a resource: PERMISSION_DENIED."""

    reason = "PERMISSION_DENIED"

    def __init__(self, principal: str, action: str, resource: str) -> None:
        super().__init__(
            f"{principal!r} may not {action} {resource}",
            action=action,
            resource=resource,
        )


class AuditUnavailableError(AuthError, ConnectionError):
    """The audit log cannot be written and the server refuses calls until it
    can (``audit_on_failure: refuse``): UNAVAILABLE, retry later."""

    reason = "AUDIT_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__(
            "the audit log cannot be written: the server refuses calls until "
            "it can; retry later"
        )


class AuthConfigError(AuthError, ValueError):
    """The auth settings or a key file are unusable; the server does not start."""

    reason = "AUTH_CONFIG"


class KeyNotFoundError(AuthError, LookupError):
    """No API key with that id in the key file (revoke or rotate): nothing changed."""

    reason = "KEY_NOT_FOUND"

    def __init__(self, key_id: str, file: str) -> None:
        super().__init__(
            f"no API key with id {key_id!r} in {file}", key_id=key_id, file=file
        )
