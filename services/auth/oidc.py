"""OIDC/JWT bearer tokens verified against the issuer's JWKS (URL or file).

Checked on every token: a signature by a key of the JWKS under an allowed
asymmetric algorithm that fits the key's type (``none`` and HS* are refused
when the settings load, so a public key can never be used as an HMAC
secret), ``exp``, ``iss``, ``sub``
and ``aud`` always (an audience is required: without one, a token the issuer
minted for any other API or app would do), ``nbf``/``iat`` when present, all with a
bounded clock skew. An unknown ``kid`` re-fetches the JWKS (rate-limited), so
the issuer can rotate keys without a server restart.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt

from featurestore.services.auth._digest import token_digest
from featurestore.services.auth.errors import AuthConfigError, AuthenticationError
from featurestore.services.auth.principal import Principal

ASYMMETRIC = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
"""The JWK key type (``kty``) each algorithm family signs with."""
_REMEMBERED = 4096


def check_algorithms(algorithms: Sequence[str]) -> list[str]:
    """The allow-list, refusing ``none``, HMAC and unknown algorithms.

    Raises:
        AuthConfigError: an algorithm outside ``ASYMMETRIC`` or an empty list.
    """
    bad = [a for a in algorithms if a not in ASYMMETRIC]
    if bad or not algorithms:
        raise AuthConfigError(
            f"oidc_algorithms may only name {sorted(ASYMMETRIC)}; refused: {bad}"
        )
    return list(algorithms)


def discover_jwks_url(issuer: str, timeout_s: float = 10.0) -> str:
    """``jwks_uri`` from the issuer's ``/.well-known/openid-configuration``."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    shown = without_credentials(url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            document = json.load(response)
        found, jwks_uri = document["issuer"], str(document["jwks_uri"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = without_credentials(str(exc)) if isinstance(exc, OSError) else exc
        raise AuthConfigError(f"OIDC discovery failed at {shown}: {why}") from None
    if found != issuer:
        named = without_credentials(str(found))
        raise AuthConfigError(f"OIDC discovery at {shown} names issuer {named!r}")
    return jwks_uri


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def without_credentials(text: str) -> str:
    """``text`` with every URL's ``user:password@`` shown as ``***@``."""
    return _USERINFO.sub("***@", text)


class _FileKeys:
    """A JWKS file, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: int | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        stamp = self.path.stat().st_mtime_ns
        if stamp != self._stamp:
            jwks = jwt.PyJWKSet.from_json(self.path.read_text())
            self._keys = {k.key_id: k for k in jwks.keys if k.key_id}
            self._stamp = stamp
        key = self._keys.get(kid)
        if key is None:
            raise jwt.PyJWKClientError(f"no key {kid!r} in the JWKS file")
        return key


class OidcAuthenticator:
    """Verifies bearer JWTs; the principal is ``sub`` with roles from a claim."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str],
        jwks_url: str | None = None,
        jwks_file: Path | None = None,
        leeway_seconds: int = 60,
        roles_claim: str = "roles",
        refresh_cooldown_seconds: float = 30.0,
    ) -> None:
        self.issuer, self.audience = issuer, audience
        self.algorithms = check_algorithms(algorithms)
        self.leeway, self.roles_claim = leeway_seconds, roles_claim
        self._keys: Any
        if jwks_file is not None:
            self._keys = _FileKeys(jwks_file)
        else:
            self._keys = jwt.PyJWKClient(
                jwks_url or discover_jwks_url(issuer),
                cache_keys=False,
                lifespan=3600,
                timeout=10,
                cooldown_duration=refresh_cooldown_seconds,
            )
        self._lock = threading.Lock()
        self._known: dict[bytes, tuple[Principal, float, float]] = {}

    def authenticate(self, token: str) -> Principal:
        """The token's principal.

        Raises:
            AuthenticationError: bad signature, algorithm, key, issuer,
                audience or time window.
        """
        digest = token_digest(token)
        known = self._known.get(digest)
        now = time.time()
        if known is not None and known[1] - self.leeway <= now < known[2] + self.leeway:
            return known[0]
        claims = self._verify(token)
        principal = Principal(str(claims["sub"]), frozenset(self._roles(claims)))
        not_before = float(claims.get("nbf", 0))
        with self._lock:
            if len(self._known) >= _REMEMBERED:
                self._known.clear()
            self._known[digest] = (principal, not_before, float(claims["exp"]))
        return principal

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in self.algorithms:
                raise AuthenticationError(f"token algorithm {algorithm!r} not allowed")
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise AuthenticationError("token header names no kid")
            key = self._keys.get_signing_key(kid)
            if key.key_type != _KEY_TYPES[algorithm[:2]]:
                raise AuthenticationError(
                    f"token algorithm {algorithm} does not fit key {kid!r} "
                    f"({key.key_type})"
                )
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except AuthenticationError:
            raise
        except (jwt.PyJWTError, OSError, ValueError, TypeError) as exc:
            raise AuthenticationError(
                f"token rejected: {type(exc).__name__}: {exc}"
            ) from exc
        return claims

    def _roles(self, claims: dict[str, Any]) -> list[str]:
        value: Any = claims
        for part in self.roles_claim.split("."):  # e.g. realm_access.roles
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(v) for v in value]
        return []
