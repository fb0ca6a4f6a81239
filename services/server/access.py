"""Who may call what: authentication, Feast permissions and the audit, per call.

Every RPC but health passes through ``Guard.call`` — unary and streaming
calls in the interceptor, and the online reads the compiled front hands over
its Unix socket — so both paths authenticate, authorise and audit alike.
Actions follow Feast: READ_ONLINE on each feature view an online read
touches, READ_OFFLINE for training sets (and DESCRIBE on a pinned view the
set does not read), DESCRIBE for the catalogue, and DESCRIBE on the project
for contracts.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any, NoReturn

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
from featurestore.services.auth.audit import REFUSED
from featurestore.services.auth.errors import (
    AuditUnavailableError,
    AuthConfigError,
    PermissionDeniedError,
)
from featurestore.services.auth.oidc import check_algorithms
from featurestore.services.offline.errors import OnDemandViewError
from featurestore.services.offline.refs import parse_ref
from featurestore.services.server.catalog import Catalog, ViewRequest
from featurestore.services.server.errors import NotFoundError, grpc_code, required
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


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "guarded_call", default=None
)


def current_request_id() -> str:
    """The guarded call's request id (the audit's), else a new one."""
    call = _current.get()
    return call.request_id if call is not None else _request_id()


Rule = Callable[[Any, Catalog], tuple[AuthzedAction | None, Sequence[Any]]]

READS: dict[str, tuple[AuthzedAction, Callable[[Any], Iterable[str]]]] = {
    _FEATURES + "GetOnlineFeatures": (
        AuthzedAction.READ_ONLINE, attrgetter("features"),
    ),
    _FEATURES + "GetHistoricalFeatures": (
        AuthzedAction.READ_OFFLINE, attrgetter("features"),
    ),
    _FEAST + "GetOnlineFeatures": (
        AuthzedAction.READ_ONLINE, attrgetter("features.val"),
    ),
}  # fmt: skip
"""Reads: the action they need on each feature view their selection (these
feature references, or the request's ``feature_service``) touches."""


def _view_in(field: str) -> Rule:
    """DESCRIBE on the view the request's ``field`` names (required)."""

    def rule(request: Any, catalog: Catalog) -> tuple[AuthzedAction, list[Any]]:
        name = required(getattr(request, field), field, "a feature view name")
        return AuthzedAction.DESCRIBE, [catalog.view(name)]

    return rule


def _project(request: Any, catalog: Catalog) -> tuple[AuthzedAction, list[Any]]:
    return AuthzedAction.DESCRIBE, [catalog.project]


def _signed_in(request: Any, catalog: Catalog) -> tuple[None, list[Any]]:
    return None, []


RULES: dict[str, Rule] = {
    _FEATURES + "GetFeatureView": _view_in("name"),
    # Lists answer only what the caller may DESCRIBE (``Guard.describable``).
    _FEATURES + "ListFeatureViews": _signed_in,
    _CONTRACTS + "ListContracts": _project,
    _CONTRACTS + "GetContract": _project,
    _CONTRACTS + "ValidateRows": _project,
    _CONTRACTS + "CheckCompatibility": _project,
    _FEAST + "GetFeastServingInfo": _signed_in,
    _MONITORING + "GetFreshness": _view_in("name"),
    _MONITORING + "ListFreshness": _signed_in,  # filtered as ListFeatureViews
    _MONITORING + "ListProfiles": _view_in("parent"),
    _MONITORING + "ListDriftScores": _view_in("parent"),
}
"""Method -> the action and resources it needs, for methods other than
``READS``; other methods (reflection) need a signed-in caller only."""

_ADMITTED_LIMIT = 4096


class Call:
    """One guarded call, as the audit records it; ``with`` runs its body.

    Leaving the ``with`` block audits the outcome (the exception's status
    code, or OK). A class rather than a generator context manager, and as
    few steps as will do: it is on every online read.
    """

    __slots__ = (
        "_guard", "_token", "decision", "method", "principal", "request_id",
        "resources", "started", "wanted",
    )  # fmt: skip

    def __init__(self, guard: Guard, method: str, request_id: str) -> None:
        self._guard = guard
        self.method, self.request_id = method, request_id
        self.principal: Principal = ANONYMOUS
        self.resources: tuple[str, ...] = ()
        self.wanted: list[ViewRequest] | None = None
        """A read's selection resolved (as ``Catalog.resolve``), once admitted."""
        self.decision = "allow"
        self.started = time.perf_counter()

    def __enter__(self) -> Call:
        # The call is the context: its principal (``Guard.describable``) and
        # request id (``current_request_id``), one variable set per call.
        self._token = _current.set(self)
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        _current.reset(self._token)
        self.finish(exc)

    def finish(self, exc: BaseException | None) -> None:
        """Audit the outcome: ``exc``'s status code, or OK."""
        code = "OK"
        if exc is not None:
            code = grpc_code(exc).name
            if isinstance(exc, AuthenticationError):
                self.decision = "unauthenticated"
                log.warning("unauthenticated %s: %s", self.method, exc.detail)
        audit = self._guard.audit
        if audit is not None:
            audit.record(
                self.request_id, self.principal.name, self.method,
                self.resources, self.decision, code, self.started,
            )  # fmt: skip


class Guard:
    """Authenticates, authorises and audits calls for one server process.

    Online reads repeat the same selection under the same credentials, so an
    allowed admission is remembered per (registry version, principal, method,
    selection): the next such call authenticates as always (a revoked key or
    an expired token is refused then) and skips resolving and authorising.
    A new registry version (a permission or a view changed) starts afresh.
    """

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
        self._admitted: dict[
            tuple[object, ...], tuple[tuple[str, ...], list[ViewRequest]]
        ] = {}

    def call(self, method: str, request: Any, metadata: Mapping[str, str]) -> Call:
        """Admit the call (or audit the refusal and raise); ``with`` the result
        to run the body and audit its outcome.

        Raises:
            AuthenticationError: missing or invalid credentials.
            PermissionDeniedError: a resource the principal may not act on.
        """
        call = self._new_call(method, metadata)
        if self.audit is not None and self.audit.refusing:
            # No call is served that the audit cannot record (the refusal
            # itself is held for the audit with the others).
            call.decision = REFUSED
            call.finish(AuditUnavailableError())
            raise AuditUnavailableError()
        if self.authenticator is not None:
            try:
                self._admit(call, request, metadata.get("authorization"))
            except BaseException as exc:
                call.finish(exc)
                raise
        return call

    def refuse(
        self, method: str, metadata: Mapping[str, str], error: Exception
    ) -> NoReturn:
        """Audit and raise ``error`` for a call whose request could not be
        read, once its caller is authenticated (else AuthenticationError:
        nothing about the request is told to an unknown caller).
        """
        call = self._new_call(method, metadata)
        try:
            if self.authenticator is not None:
                call.principal = self.authenticator.authenticate(
                    bearer_token(metadata.get("authorization"))
                )
            raise error
        except BaseException as exc:
            call.finish(exc)
            raise

    def _new_call(self, method: str, metadata: Mapping[str, str]) -> Call:
        # A caller's id is kept (clipped); otherwise the call gets a new one.
        return Call(
            self, method, metadata.get("x-request-id", "")[:128] or _request_id()
        )

    def _admit(self, call: Call, request: Any, authorization: str | None) -> None:
        assert self.authenticator is not None and self.authorizer is not None
        principal = self.authenticator.authenticate(bearer_token(authorization))
        call.principal = principal
        read = READS.get(call.method)
        if read is None:
            rule = RULES.get(call.method, _signed_in)
            try:
                action, resources = rule(request, self.catalog)
            except (NotFoundError, OnDemandViewError) as exc:
                self._require_unknown(call, AuthzedAction.DESCRIBE, exc)
                raise
            call.resources = tuple(f"{type(r).__name__}:{r.name}" for r in resources)
            if action is not None:
                self._require(call, action, resources)
            return
        action, features = read
        selection = (tuple(features(request)), request.feature_service)
        # Keyed by the version read before deciding: the decision below comes
        # from that version or a later one, never from an earlier one. The
        # principal by name and roles, the two its decisions depend on (their
        # hashes are cached; a dataclass hash would be computed per call).
        key = (
            self.catalog.permissions()[0], principal.name, principal.roles,
            call.method, selection,
        )  # fmt: skip
        admitted = self._admitted.get(key)
        if admitted is not None:
            call.resources, call.wanted = admitted
        else:
            try:
                call.wanted = self.catalog.resolve(*selection)
            except (NotFoundError, OnDemandViewError) as exc:
                self._require_unknown(call, action, exc)
                raise
            views = [w.view for w in call.wanted]
            call.resources = tuple(f"{type(v).__name__}:{v.name}" for v in views)
            try:
                self._require(call, action, views)
            except PermissionDeniedError:
                if request.feature_service:
                    self._hide_views(call, action, views, request.feature_service)
                raise
            if len(self._admitted) >= _ADMITTED_LIMIT:
                self._admitted = {}
            self._admitted[key] = (call.resources, call.wanted)
        if action is AuthzedAction.READ_OFFLINE and getattr(request, "pins", None):
            self._require_pins(call, request.pins)

    def _require(self, call: Call, action: AuthzedAction, resources: Any) -> None:
        assert self.authorizer is not None
        try:
            self.authorizer.require(call.principal, action, resources)
        except PermissionError:
            call.decision = "deny"
            raise

    def _require_unknown(
        self,
        call: Call,
        action: AuthzedAction,
        missing: NotFoundError | OnDemandViewError,
    ) -> None:
        """Permission before existence: an unknown view or feature is
        NOT_FOUND only to a caller who could take ``action`` on that view were
        it there; anyone else is denied as for a view that exists.

        An unknown feature is judged by its (existing) view; an unknown view
        by ``Catalog.stand_in``, and so is an on-demand one (not served), so
        its name and kind reach only such a caller. Feature service names are
        not hidden.
        """
        if isinstance(missing, OnDemandViewError):
            view: Any = self.catalog.stand_in(missing.metadata["view"])
            if view is None:
                return
        elif "feature" in missing.metadata:
            view = self.catalog.view(parse_ref(missing.metadata["feature"]).view)
        elif "feature_view" in missing.metadata:
            view = self.catalog.stand_in(missing.metadata["feature_view"])
            if view is None:
                return
        else:
            return
        call.resources = (f"FeatureView:{view.name}",)
        self._require(call, action, [view])

    def _hide_views(
        self, call: Call, action: AuthzedAction, views: list[Any], service: str
    ) -> None:
        """Deny naming ``service`` when the caller may not DESCRIBE the view
        it was denied: it selected the service and learns no view name from
        the answer (the audit records the views all the same).

        Raises:
            PermissionDeniedError: naming the feature service.
        """
        assert self.authorizer is not None
        permitted = self.authorizer.permitted(call.principal, action, views)
        allowed = {id(v) for v in permitted}
        denied = next(v for v in views if id(v) not in allowed)
        if not self.authorizer.permitted(
            call.principal, AuthzedAction.DESCRIBE, [denied]
        ):
            raise PermissionDeniedError(
                call.principal.name,
                action.name,
                f"a feature view of feature service {service!r}",
            ) from None

    def _require_pins(self, call: Call, pins: Iterable[str]) -> None:
        """DESCRIBE on each pinned view the read does not touch (a view it
        reads is covered by the read's action), or for an unknown name on
        ``Catalog.stand_in``: permission before existence, so a pin tells a
        caller which names exist only if it may DESCRIBE them. Not
        remembered with the admission: pins are not part of its key.
        """
        read = {w.view.name for w in call.wanted or ()}
        for name in sorted(set(pins) - read):
            try:
                view: Any = self.catalog.view(name)
            except (NotFoundError, OnDemandViewError):
                view = self.catalog.stand_in(name)
                if view is None:
                    continue
            call.resources = (*call.resources, f"FeatureView:{name}")
            self._require(call, AuthzedAction.DESCRIBE, [view])

    def describable(self, resources: Sequence[Any]) -> list[Any]:
        """The resources the current call's principal may DESCRIBE."""
        if self.authorizer is None:
            return list(resources)
        call = _current.get()
        return self.authorizer.permitted(
            ANONYMOUS if call is None else call.principal,
            AuthzedAction.DESCRIBE,
            resources,
        )


def build_guard(settings: ServerSettings, catalog: Catalog) -> Guard | None:
    """The guard the settings ask for; None when there is nothing to do.

    With ``auth: none``, no audit log and no serving log every call is let
    through untouched (as Feast's ``no_auth``: permissions in the registry are
    not enforced); with only a serving log, calls are let through but carry
    their request id.

    Raises:
        AuthConfigError: auth settings missing or unusable.
    """
    audit = (
        AuditLog(settings.audit_log, on_failure=settings.audit_on_failure)
        if settings.audit_log
        else None
    )
    authenticator = _authenticator(settings)
    # A serving log stamps each row with the call's request id (the caller's
    # x-request-id), which only a guarded call carries.
    if authenticator is None and audit is None and not settings.serving_log:
        return None
    return Guard(authenticator, catalog, audit)


def check_auth_settings(settings: ServerSettings) -> None:
    """Refuse auth settings that cannot work, before anything starts: the
    authenticator is built once and dropped, so a key file that is no key
    file, or an issuer whose discovery fails, stops the start with one line
    (not a traceback from each worker).

    Raises:
        AuthConfigError: a missing or malformed key file, no issuer or
            audience, failed OIDC discovery, an algorithm outside the
            asymmetric allow-list, or an audit log that cannot be written.
    """
    _authenticator(settings)
    if settings.audit_log:
        AuditLog(settings.audit_log).close()


def _check_named(settings: ServerSettings) -> None:
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
    _check_named(settings)
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
