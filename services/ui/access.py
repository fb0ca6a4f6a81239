"""Console sign-in, CSRF tokens, and each page's check through the gRPC guard.

Pages are admitted by the server's own ``Guard`` (services/server/access.py):
the same authenticators (API keys, OIDC tokens), the same Feast permission
rule and the same audit. Each page names the RPC whose rule it shares
(``GetFeatureView`` for a view page: DESCRIBE on the view; ``GetOnlineFeatures``
for a lookup: READ_ONLINE on each view read; ``ListDriftScores`` for a table's
drift: DESCRIBE on a view over the table; ``GetContract`` for contracts,
lineage, quality, training sets and the drift of a table no view reads:
DESCRIBE on the project; ``GetHistoricalFeatures`` for quarantined rows:
READ_OFFLINE on the views over the table), so a console page and a gRPC call
can never be decided differently. The audit records those RPC names with
request ids ``ui-…``.

The credential (API key or access token) stays on the server, in the session;
the browser holds only a random session id in an HttpOnly, SameSite=Lax cookie
(``Secure`` under TLS). Every POST carries a CSRF token bound to the session
(or, before sign-in, to a login cookie) and is refused from another origin.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from featurestore.services.auth import ANONYMOUS, AuthenticationError, Principal
from featurestore.services.server.access import Guard
from featurestore.services.server.transport import is_loopback

log = logging.getLogger(__name__)

_FEATURES = "/featurestore.v1.FeatureStoreService/"
CATALOGUE = _FEATURES + "ListFeatureViews"
"""Signed in; the list shows only views the caller may DESCRIBE."""
VIEW = _FEATURES + "GetFeatureView"
"""DESCRIBE on one feature view."""
ONLINE = _FEATURES + "GetOnlineFeatures"
"""READ_ONLINE on each view a lookup reads."""
OFFLINE = _FEATURES + "GetHistoricalFeatures"
"""READ_OFFLINE on each view over a table (its quarantined rows are data)."""
PROJECT = "/featurestore.v1.ContractService/GetContract"
"""DESCRIBE on the project: contracts, lineage, quality, training sets."""
DRIFT = "/featurestore.v1.MonitoringService/ListDriftScores"
"""DESCRIBE on the feature view named as ``parent``: its table's drift."""
TOKEN_SIGN_IN = "/console/SignInWithToken"
"""The audit's method for a sign-in with a pasted API key or access token."""
OIDC_SIGN_IN = "/console/SignInWithOidc"
"""The audit's method for a sign-in through the OIDC callback."""

SESSION_COOKIE = "fs_console"
LOGIN_COOKIE = "fs_login"
CSRF_COOKIE = "fs_csrf"
"""Before sign-in: the login form's CSRF token (double submit)."""
_SWEEP_EVERY = 256


class SignInRequired(Exception):
    """The console has auth on and this browser has no live session."""


class CsrfError(Exception):
    """A POST without the right CSRF token, or from another origin."""


@dataclass
class Session:
    """One signed-in browser. ``token`` never leaves the server."""

    token: str
    principal: str
    csrf: str
    expires: float
    token_expires: float | None = None


class Sessions:
    """Sessions by random id, expiring after ``minutes`` without use."""

    def __init__(self, minutes: int) -> None:
        self._ttl = minutes * 60.0
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}
        self._created = 0

    def create(
        self, token: str, principal: str, token_expires: float | None = None
    ) -> tuple[str, Session]:
        """A new session for ``token``; its id goes into the cookie."""
        sid = secrets.token_urlsafe(32)
        session = Session(
            token, principal, secrets.token_urlsafe(32), time.time() + self._ttl,
            token_expires,
        )  # fmt: skip
        with self._lock:
            self._by_id[sid] = session
            self._created += 1
            if self._created % _SWEEP_EVERY == 0:
                self._sweep()
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session of ``sid`` (its idle timer restarted), else None."""
        if not sid:
            return None
        now = time.time()
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            if session.expires < now or (
                session.token_expires is not None and session.token_expires < now
            ):
                del self._by_id[sid]
                return None
            session.expires = now + self._ttl
        return session

    @property
    def seconds(self) -> int:
        """How long a session lasts without use, in seconds (the cookie's
        max-age, renewed with the session)."""
        return int(self._ttl)

    def holds(self, sid: str) -> bool:
        """Whether ``sid`` is a session (its idle timer untouched)."""
        with self._lock:
            return sid in self._by_id

    def drop(self, sid: str | None) -> None:
        """Sign out: forget the session (and its credential)."""
        if sid:
            with self._lock:
                self._by_id.pop(sid, None)

    def _sweep(self) -> None:
        now = time.time()
        for sid in [s for s, v in self._by_id.items() if v.expires < now]:
            del self._by_id[sid]


def check_csrf(expected: str | None, sent: str | None) -> None:
    """Pass when ``sent`` equals the session's (or login cookie's) token.

    Raises:
        CsrfError: either is missing or they differ.
    """
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfError("missing or wrong CSRF token")


def check_origin(origin: str | None, base_url: str, host: str | None) -> None:
    """Refuse a POST whose ``Origin`` is neither the console's URL nor its host.

    Raises:
        CsrfError: a foreign origin (browsers always send it on POST).
    """
    if origin is None:
        return
    allowed = {base_url.rstrip("/")}
    if host:
        allowed |= {f"http://{host}", f"https://{host}"}
    if origin.rstrip("/") not in allowed:
        raise CsrfError("cross-origin form post refused")


def host_rule(address: str, public_url: str | None) -> Callable[[str | None], bool]:
    """Which ``Host`` headers the console bound to ``address`` answers.

    DNS rebinding: a page at ``evil.example`` whose name the attacker then
    points at 127.0.0.1 reaches a loopback console from the victim's browser,
    same-origin, with ``evil.example`` as the Host (and so passing the origin
    check). Bound to loopback, the console answers only ``localhost`` and
    loopback IPs, plus the host of ``public_url``; bound elsewhere, only the
    public URL's host and the bound address when ``public_url`` is set (any
    host otherwise: the names it is reached by are not known).

    Written here rather than with Starlette's TrustedHostMiddleware: before
    Starlette 1.0 (the fastapi range allows it) that splits the Host at its
    first colon, so an IPv6 console (``[::1]:8765``) would refuse itself.
    """
    public = urllib.parse.urlsplit(public_url).hostname if public_url else None
    bound = address.rsplit(":", 1)[0].strip("[]").lower()
    local = is_loopback(address)

    def allowed(header: str | None) -> bool:
        try:
            host = urllib.parse.urlsplit(f"//{header}").hostname if header else None
        except ValueError:  # a malformed bracket or port
            return False
        if host is None:
            return False
        if host == public:
            return True
        if local:
            return host == "localhost" or _loopback_ip(host)
        return public is None or host == bound

    return allowed


def _loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def view_refs(views: Sequence[Any]) -> SimpleNamespace:
    """A request whose features are every feature of ``views`` (for OFFLINE)."""
    refs = [f"{v.name}:{f.name}" for v in views for f in v.features]
    return SimpleNamespace(features=refs, feature_service="")


class Gate:
    """Admits a page through the server's guard (None: auth off, no audit)."""

    def __init__(self, guard: Guard | None) -> None:
        self.guard = guard

    @property
    def auth_on(self) -> bool:
        """Whether callers must sign in."""
        return self.guard is not None and self.guard.authenticator is not None

    @contextmanager
    def admit(
        self, session: Session | None, method: str, request: Any = None
    ) -> Iterator[Principal]:
        """Authenticate, authorise and audit one page as ``method`` would be.

        Raises:
            SignInRequired: auth is on and there is no session.
            AuthenticationError: the session's credential no longer verifies.
            PermissionDeniedError: the principal lacks the action.
        """
        if self.guard is None:
            yield ANONYMOUS
            return
        if self.auth_on and session is None:
            raise SignInRequired()
        metadata = {"x-request-id": f"ui-{secrets.token_hex(6)}"}
        if session is not None:
            metadata["authorization"] = f"Bearer {session.token}"
        with self.guard.call(method, request, metadata) as call:
            yield call.principal

    def describable(self, resources: Sequence[Any]) -> list[Any]:
        """Within ``admit``: the resources the principal may DESCRIBE."""
        if self.guard is None:
            return list(resources)
        return self.guard.describable(resources)

    def sign_in(self, token: str, method: str = TOKEN_SIGN_IN) -> Principal:
        """The principal of a pasted API key or access token; audited and logged
        as ``method`` (never the token), refused or not.

        Raises:
            AuthenticationError: it does not verify.
        """
        assert self.guard is not None and self.guard.authenticator is not None
        started = time.perf_counter()
        try:
            principal = self.guard.authenticator.authenticate(token)
        except AuthenticationError as exc:
            self.refuse_sign_in(method, exc.detail, started)
            raise
        log.info("console sign-in of %s (%s)", principal.name, method)
        self._audit_sign_in(method, principal.name, "allow", "OK", started)
        return principal

    def refuse_sign_in(
        self, method: str, reason: str, started: float | None = None
    ) -> None:
        """Log and audit a sign-in that failed for ``reason`` (no credential)."""
        # %r: the reason may quote what the caller sent (an issuer's error).
        log.warning("console sign-in refused (%s): %r", method, reason)
        self._audit_sign_in(
            method, ANONYMOUS.name, "unauthenticated", "UNAUTHENTICATED",
            time.perf_counter() if started is None else started,
        )  # fmt: skip

    def _audit_sign_in(
        self, method: str, principal: str, decision: str, code: str, started: float
    ) -> None:
        # The same log and line format as the pages' decisions (Guard's Call).
        if self.guard is not None and self.guard.audit is not None:
            self.guard.audit.record(
                f"ui-{secrets.token_hex(6)}", principal, method, (), decision,
                code, started,
            )  # fmt: skip
