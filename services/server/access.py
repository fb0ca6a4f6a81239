"""Who may call what: authentication, Feast permissions and the audit, per call.

Every RPC but health passes through ``Guard.call`` — unary and streaming
calls in the interceptor, and the online reads the compiled front hands over
its Unix socket — so both paths authenticate, authorise and audit alike.
Actions follow Feast: READ_ONLINE on each feature view an online read
touches, READ_OFFLINE for training sets, DESCRIBE for the catalogue, and
DESCRIBE on the project for contracts.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feast.permissions.action import AuthzedAction

from featurestore.services.auth import (
    ANONYMOUS,
    ApiKeyAuthenticator,
    AuditLog,
    AuthenticationError,
    Authenticator,
    Authorizer,
    OidcAuthenticator,
    Principal,
    bearer_token,
)
from featurestore.services.auth.errors import AuthConfigError
from featurestore.services.auth.oidc import check_algorithms
from featurestore.services.server.catalog import Catalog
from featurestore.services.server.errors import RequestError, grpc_code
from featurestore.services.server.settings import ServerSettings

log = logging.getLogger(__name__)

_FEATURES = "/featurestore.v1.FeatureStoreService/"
_CONTRACTS = "/featurestore.v1.ContractService/"
_FEAST = "/feast.serving.ServingService/"
_MONITORING = "/featurestore.v1.MonitoringService/"
UNGUARDED_PREFIX = "/grpc.health.v1.Health/"
"""Health stays open: load balancers and the front probe it without credentials."""

_PROCESS = uuid.uuid4().hex[:8]
_CALLS = itertools.count(1)


def _request_id() -> str:
    # Unique per process and call; a counter costs less than a uuid4 per call.
    return f"{_PROCESS}-{next(_CALLS)}"


_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "principal", default=ANONYMOUS
)
_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "call_id", default=None
)


def current_request_id() -> str:
    """The guarded call's request id (the audit's), else a new one."""
    return _call_id.get() or _request_id()


Rule = Callable[[Any, Catalog], tuple[AuthzedAction | None, Sequence[Any]]]


def _online(request: Any, catalog: Catalog) -> tuple[AuthzedAction, list[Any]]:
    wanted = catalog.resolve(request.features, request.feature_service)
    return AuthzedAction.READ_ONLINE, [w.view for w in wanted]


def _feast_online(request: Any, catalog: Catalog) -> tuple[AuthzedAction, list[Any]]:
    wanted = catalog.resolve(list(request.features.val), request.feature_service)
    return AuthzedAction.READ_ONLINE, [w.view for w in wanted]


def _offline(request: Any, catalog: Catalog) -> tuple[AuthzedAction, list[Any]]:
    wanted = catalog.resolve(list(request.features), request.feature_service)
    return AuthzedAction.READ_OFFLINE, [w.view for w in wanted]


def _one_view(request: Any, catalog: Catalog) -> tuple[AuthzedAction, list[Any]]:
    return AuthzedAction.DESCRIBE, [catalog.view(request.name)]


def _named_view(request: Any, catalog: Catalog) -> tuple[AuthzedAction, list[Any]]:
    # An empty name is the caller's mistake (INVALID_ARGUMENT), not an unknown view.
    if not request.name:
        raise RequestError("name", "name is required: a feature view name")
    return AuthzedAction.DESCRIBE, [catalog.view(request.name)]


def _parent_view(request: Any, catalog: Catalog) -> tuple[AuthzedAction, list[Any]]:
    if not request.parent:
        raise RequestError("parent", "parent is required: a feature view name")
    return AuthzedAction.DESCRIBE, [catalog.view(request.parent)]


def _project(request: Any, catalog: Catalog) -> tuple[AuthzedAction, list[Any]]:
    return AuthzedAction.DESCRIBE, [catalog.project]


def _signed_in(request: Any, catalog: Catalog) -> tuple[None, list[Any]]:
    return None, []


RULES: dict[str, Rule] = {
    _FEATURES + "GetOnlineFeatures": _online,
    _FEATURES + "GetHistoricalFeatures": _offline,
    _FEATURES + "GetFeatureView": _one_view,
    # Lists answer only what the caller may DESCRIBE (``Guard.describable``).
    _FEATURES + "ListFeatureViews": _signed_in,
    _CONTRACTS + "ListContracts": _project,
    _CONTRACTS + "GetContract": _project,
    _CONTRACTS + "ValidateRows": _project,
    _CONTRACTS + "CheckCompatibility": _project,
    _FEAST + "GetOnlineFeatures": _feast_online,
    _FEAST + "GetFeastServingInfo": _signed_in,
    _MONITORING + "GetFreshness": _named_view,
    _MONITORING + "ListFreshness": _signed_in,  # filtered as ListFeatureViews
    _MONITORING + "ListProfiles": _parent_view,
    _MONITORING + "ListDriftScores": _parent_view,
}
"""Method -> the action and resources it needs; other methods (reflection)
need a signed-in caller only."""


@dataclass
class Call:
    """One guarded call, as the audit records it."""

    method: str
    request_id: str
    principal: Principal = ANONYMOUS
    resources: list[str] = field(default_factory=list)
    decision: str = "allow"


class Guard:
    """Authenticates, authorises and audits calls for one server process."""

    def __init__(
        self,
        authenticator: Authenticator | None,
        catalog: Catalog,
        audit: AuditLog | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.catalog = catalog
        self.audit = audit
        self.authorizer = Authorizer(catalog.permissions) if authenticator else None

    @contextmanager
    def call(
        self, method: str, request: Any, metadata: Mapping[str, str]
    ) -> Iterator[Call]:
        """Admit the call (or raise), run the body, audit the outcome.

        Raises:
            AuthenticationError: missing or invalid credentials.
            PermissionDeniedError: a resource the principal may not act on.
        """
        # A caller's id is kept (clipped); otherwise the call gets a new one.
        call = Call(method, metadata.get("x-request-id", "")[:128] or _request_id())
        started = time.perf_counter()
        code = "OK"
        try:
            self._admit(call, request, metadata)
            token = _principal.set(call.principal)
            id_token = _call_id.set(call.request_id)
            try:
                yield call
            finally:
                _call_id.reset(id_token)
                _principal.reset(token)
        except BaseException as exc:
            code = grpc_code(exc).name
            if isinstance(exc, AuthenticationError):
                call.decision = "unauthenticated"
                log.warning("unauthenticated %s: %s", method, exc.detail)
            raise
        finally:
            if self.audit is not None:
                self.audit.record(
                    request_id=call.request_id,
                    principal=call.principal.name,
                    method=method,
                    resources=call.resources,
                    decision=call.decision,
                    code=code,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )

    def _admit(self, call: Call, request: Any, metadata: Mapping[str, str]) -> None:
        if self.authenticator is None:
            return
        call.principal = self.authenticator.authenticate(
            bearer_token(metadata.get("authorization"))
        )
        rule = RULES.get(call.method, _signed_in)
        action, resources = rule(request, self.catalog)
        call.resources = [f"{type(r).__name__}:{r.name}" for r in resources]
        if action is not None and self.authorizer is not None:
            try:
                self.authorizer.require(call.principal, action, resources)
            except PermissionError:
                call.decision = "deny"
                raise

    def describable(self, resources: Sequence[Any]) -> list[Any]:
        """The resources the current call's principal may DESCRIBE."""
        if self.authorizer is None:
            return list(resources)
        return self.authorizer.permitted(
            _principal.get(), AuthzedAction.DESCRIBE, resources
        )


def build_guard(settings: ServerSettings, catalog: Catalog) -> Guard | None:
    """The guard the settings ask for; None when there is nothing to do.

    With ``auth: none`` and no audit log every call is let through untouched
    (as Feast's ``no_auth``: permissions in the registry are not enforced).

    Raises:
        AuthConfigError: auth settings missing or unusable.
    """
    audit = AuditLog(settings.audit_log) if settings.audit_log else None
    authenticator = _authenticator(settings)
    if authenticator is None and audit is None:
        return None
    return Guard(authenticator, catalog, audit)


def check_auth_settings(settings: ServerSettings) -> None:
    """Refuse auth settings that cannot work, before anything starts.

    Raises:
        AuthConfigError: a missing key file, issuer or audience, or an
            algorithm outside the asymmetric allow-list.
    """
    if settings.auth == "api_keys":
        if settings.api_keys_file is None or not settings.api_keys_file.is_file():
            raise AuthConfigError("auth=api_keys needs an existing api_keys_file")
    elif settings.auth == "oidc":
        if not settings.oidc_issuer or not settings.oidc_audience:
            # Without an audience any token the issuer mints for any other API
            # or app (an ID token included) would open the feature store.
            raise AuthConfigError("auth=oidc needs oidc_issuer and oidc_audience")
        check_algorithms(settings.oidc_algorithms)


def _authenticator(settings: ServerSettings) -> Authenticator | None:
    check_auth_settings(settings)
    if settings.auth == "none":
        return None
    if settings.auth == "api_keys":
        assert settings.api_keys_file is not None  # checked above
        return ApiKeyAuthenticator(Path(settings.api_keys_file))
    assert settings.oidc_issuer and settings.oidc_audience  # checked above
    return OidcAuthenticator(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        algorithms=settings.oidc_algorithms,
        jwks_url=settings.oidc_jwks_url,
        jwks_file=settings.oidc_jwks_file,
        leeway_seconds=settings.oidc_leeway_seconds,
        roles_claim=settings.oidc_roles_claim,
        refresh_cooldown_seconds=settings.oidc_jwks_cooldown_seconds,
    )
