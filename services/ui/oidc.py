"""Console sign-in with OIDC: authorization code + PKCE (RFC 7636), state-bound.

The browser is sent to the issuer's authorization endpoint with a fresh
``state``, ``nonce`` and S256 code challenge; the callback must bring back the
same ``state`` in the same browser (a login cookie binds them), the issuer in
``iss`` when sent (RFC 9207), and the code is exchanged with the verifier.
The access token is then verified by the server's own ``OidcAuthenticator``
(issuer, audience, signature, expiry) before a session exists.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import math
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_PENDING_SECONDS = 600.0
_PENDING_LIMIT = 4096
"""Sign-ins begun and not finished that are remembered (the oldest go first).
``GET /login/oidc`` needs no credential, so the table must not grow with
requests: 4096 entries of at most ~2.3 KiB (a 2 KiB next path) stay under
10 MiB, and far more people than that do not sign in within 10 minutes."""
_TIMEOUT_S = 10.0
SECRET_SETTING = "ui_oidc_client_secret_file (--oidc-client-secret-file)"


class OidcLoginError(Exception):
    """The sign-in did not complete; ``message`` is safe to show."""


class OidcUnavailableError(OidcLoginError):
    """Sign-in cannot work on this server now (its own configuration)."""


def read_secret(path: Path) -> str:
    """The client secret in ``path``.

    Raises:
        OidcUnavailableError: the file cannot be read or holds nothing.
    """
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise OidcUnavailableError(
            f"{SECRET_SETTING} {str(path)!r} cannot be read ({type(exc).__name__})"
        ) from exc
    if not secret:
        raise OidcUnavailableError(f"{SECRET_SETTING} {str(path)!r} is empty")
    return secret


@dataclass(frozen=True)
class _Pending:
    verifier: str
    binding: str
    next_path: str
    created: float


class OidcLogin:
    """The console as an OIDC client of ``issuer``."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        redirect_uri: str,
        *,
        secret_file: Path | None = None,
        resource: str | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.resource = resource
        self._secret_file = secret_file
        self._endpoints: dict[str, str] | None = None
        self._lock = threading.Lock()
        # Insertion order is creation order: the expired and the evicted are
        # always at the front, so keeping the table costs O(1) per sign-in.
        self._pending: OrderedDict[str, _Pending] = OrderedDict()

    def start(self, next_path: str) -> tuple[str, str]:
        """Begin a sign-in: the authorization URL and the login-cookie value."""
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        state, binding = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        now = time.time()
        with self._lock:
            pending = self._pending
            while pending and (
                len(pending) >= _PENDING_LIMIT
                or now - next(iter(pending.values())).created >= _PENDING_SECONDS
            ):
                pending.popitem(last=False)
            pending[state] = _Pending(verifier, binding, next_path, now)
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": "openid",
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if self.resource:
            query["resource"] = self.resource
        url = self._endpoint("authorization_endpoint")
        return f"{url}?{urllib.parse.urlencode(query)}", binding

    def finish(
        self, params: dict[str, str], binding: str | None
    ) -> tuple[str, str, float | None]:
        """Complete a sign-in from the callback's query parameters.

        Returns:
            The access token, the path to go back to, and the token's expiry
            (epoch seconds) when the issuer said.

        Raises:
            OidcLoginError: an issuer error, an unknown or foreign state, a
                wrong ``iss``, a refused code exchange, or a malformed answer
                (no access token, an ``expires_in`` that is no number).
        """
        state = params.get("state", "")
        with self._lock:
            pending = self._pending.get(state)
            if pending is None or time.time() - pending.created >= _PENDING_SECONDS:
                pending = None
            elif binding is not None and secrets.compare_digest(
                pending.binding, binding
            ):
                # Consumed only by the browser it began in: a callback with a
                # stolen state from anywhere else leaves the real one working.
                del self._pending[state]
            else:
                raise OidcLoginError("this sign-in began in another browser")
        if pending is None:
            raise OidcLoginError("this sign-in is unknown or expired; start again")
        if "error" in params:
            raise OidcLoginError(f"the issuer refused: {params['error'][:64]}")
        if params.get("iss", self.issuer).rstrip("/") != self.issuer:
            raise OidcLoginError("the answer came from another issuer")
        answer = self._exchange(params.get("code", ""), pending.verifier)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise OidcLoginError("the issuer returned no access token")
        return token, pending.next_path, _expiry(answer.get("expires_in"))

    def _exchange(self, code: str, verifier: str) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self._secret_file is not None:
            # Read per exchange: a rotated secret is used without a restart.
            try:
                secret = read_secret(self._secret_file)
            except OidcUnavailableError as exc:
                log.error("OIDC sign-in impossible: %s", exc)
                raise OidcUnavailableError(
                    "sign-in is unavailable: the console cannot read its client "
                    "secret (the server log says more)"
                ) from None
            pair = f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(secret)}"
            headers["Authorization"] = (
                "Basic " + base64.b64encode(pair.encode()).decode()
            )
        else:
            form["client_id"] = self.client_id
        request = urllib.request.Request(
            self._endpoint("token_endpoint"),
            data=urllib.parse.urlencode(form).encode(),
            headers=headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as err:
            with err:
                raise OidcLoginError(
                    f"the issuer refused the code (HTTP {err.code})"
                ) from None
        except (OSError, ValueError) as exc:
            raise OidcLoginError("the issuer could not be reached") from exc
        return answer if isinstance(answer, dict) else {}

    def _endpoint(self, name: str) -> str:
        with self._lock:
            endpoints = self._endpoints
        if endpoints is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
                    document = json.load(response)
            except (OSError, ValueError) as exc:
                raise OidcLoginError("the issuer could not be reached") from exc
            endpoints = {
                k: str(document[k])
                for k in ("authorization_endpoint", "token_endpoint")
                if k in document
            }
            with self._lock:
                self._endpoints = endpoints
        if name not in endpoints:
            raise OidcLoginError(f"the issuer publishes no {name}")
        return endpoints[name]


def _expiry(expires_in: object) -> float | None:
    """When a token with this ``expires_in`` (RFC 6749: seconds) ends.

    Raises:
        OidcLoginError: present but not a positive finite number of seconds.
    """
    if expires_in is None:
        return None
    seconds = math.nan
    # A number, or a string holding one (some issuers quote it); never a bool.
    if isinstance(expires_in, int | float | str) and not isinstance(expires_in, bool):
        with contextlib.suppress(ValueError):
            seconds = float(expires_in)
    if not math.isfinite(seconds) or seconds <= 0:
        raise OidcLoginError("the issuer's token answer has no valid expires_in")
    return time.time() + seconds
