"""A real OpenID Provider (node ``oidc-provider``, pinned in tests/oidc_provider)
as a subprocess on a free 127.0.0.1 port, and its token endpoint over HTTP.

``make oidc-provider`` installs it (``npm ci``) into tests/oidc_provider/node_modules;
without that, or without ``node``, the tests that need it are skipped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.processes import stop_process

__all__ = [
    "AUDIENCE",
    "FEATURESTORE",
    "FEATURESTORE_ES256",
    "OTHER_API",
    "Client",
    "OidcProvider",
    "TokenError",
    "client_credentials_token",
    "login_with_code_flow",
    "require_provider",
    "start_provider",
    "token_request",
]

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
SCRIPT = PROVIDER_DIR / "issuer.mjs"
AUDIENCE = "featurestore"
# Resource indicators the provider knows (see issuer.mjs): the first two give
# aud "featurestore" (RS256, ES256), the last aud "other-api".
FEATURESTORE = "urn:featurestore"
FEATURESTORE_ES256 = "urn:featurestore:es256"
OTHER_API = "urn:other-api"
SKIP_REASON = "oidc-provider not installed: run `make oidc-provider`"


def require_provider() -> str:
    """The ``node`` binary; skips the test when node or the package is missing."""
    node = shutil.which("node")
    if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.skip(SKIP_REASON)
    return node


@dataclass(frozen=True)
class Client:
    """A confidential client_credentials client and the roles its tokens carry."""

    client_id: str
    secret: str
    roles: tuple[str, ...]


class TokenError(Exception):
    """The token endpoint refused: ``error`` is the OAuth error code."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.error = status, str(body.get("error"))


@dataclass
class OidcProvider:
    """The running provider; ``stop()`` is idempotent."""

    issuer: str
    process: subprocess.Popen[bytes]
    clients: dict[str, Client]
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the issuer listens on."""
        return int(urllib.parse.urlsplit(self.issuer).port or 0)

    def token(self, client_id: str, resource: str = FEATURESTORE) -> str:
        """A client_credentials access token for ``resource``.

        Raises:
            TokenError: the provider refused (bad secret, unknown resource).
        """
        client = self.clients[client_id]
        return client_credentials_token(
            self.issuer, client.client_id, client.secret, resource
        )

    def stop(self) -> None:
        """SIGTERM, then wait (kill after 10 s)."""
        stop_process(self.process)
        if self.reader is not None:
            self.reader.join(timeout=10)  # EOF once the process is gone
        if self.process.stdout is not None:
            self.process.stdout.close()


def client_credentials_token(
    issuer: str, client_id: str, secret: str, resource: str = FEATURESTORE
) -> str:
    """POST /token (client_secret_basic, ``grant_type=client_credentials``).

    Raises:
        TokenError: the provider answered with an OAuth error.
    """
    basic = base64.b64encode(
        f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}".encode()
    ).decode()
    return token_request(
        issuer,
        {"grant_type": "client_credentials", "resource": resource},
        {"Authorization": f"Basic {basic}"},
    )["access_token"]


def token_request(
    issuer: str, form: dict[str, str], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST a form to the token endpoint; its JSON answer.

    Raises:
        TokenError: an HTTP error status.
    """
    request = urllib.request.Request(
        issuer + "/token",
        data=urllib.parse.urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as err:
        with err:
            body = json.loads(err.read() or b"{}")
        raise TokenError(err.code, body) from None


def start_provider(
    clients: list[Client],
    *,
    console_redirect_uri: str | None = None,
    console_secret: str | None = None,
    user_roles: dict[str, list[str]] | None = None,
    port: int = 0,
    timeout_s: float = 30.0,
) -> OidcProvider:
    """Start issuer.mjs and wait for its READY line.

    ``port`` 0 (the default) lets it bind a free one; pass a stopped
    provider's port to restart "the same" issuer with fresh signing keys.

    Skips the test when node or the package is missing.

    Raises:
        RuntimeError: the provider exited or printed no READY line in time.
    """
    node = require_provider()
    env = {
        **os.environ,
        "OIDC_CLIENTS": json.dumps(
            {c.client_id: {"secret": c.secret, "roles": list(c.roles)} for c in clients}
        ),
        "OIDC_USER_ROLES": json.dumps(user_roles or {}),
    }
    if console_redirect_uri is not None:
        env["OIDC_CONSOLE_REDIRECT_URI"] = console_redirect_uri
    if console_secret is not None:
        env["OIDC_CONSOLE_CLIENT_SECRET"] = console_secret
    process = subprocess.Popen(
        [node, str(SCRIPT), str(port)],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output: list[str] = []
    ready = threading.Event()
    issuer: list[str] = []

    def read() -> None:  # drains the pipe for the process's whole life
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            output.append(line)
            if line.startswith("READY ") and not issuer:
                issuer.append(line.split(" ", 1)[1])
                ready.set()
        ready.set()  # exited: stop waiting

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    running = OidcProvider(
        "", process, {c.client_id: c for c in clients}, output, reader
    )
    if not ready.wait(timeout_s) or not issuer:
        running.stop()
        raise RuntimeError(
            f"oidc-provider did not start (exit {process.poll()}): "
            + " | ".join(output[-10:])
        )
    running.issuer = issuer[0]
    return running


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # every 3xx surfaces as HTTPError; the caller follows it


def sign_in_at_provider(url: str, back: str, username: str) -> str:
    """Follow an authorization request at ``url`` through the provider's
    devInteractions login (``username``, any password) and consent forms, with
    the provider's own cookies, up to its redirect to ``back``; that URL.

    Raises:
        AssertionError: the flow went anywhere unexpected.
    """
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
    )
    form: dict[str, str] | None = None
    for _ in range(10):
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with browser.open(url, data=data, timeout=10) as response:
                page = response.read().decode()
        except urllib.error.HTTPError as err:
            with err:
                location = err.headers.get("Location")
                assert err.code in (302, 303) and location, (err.code, err.read())
            url, form = urllib.parse.urljoin(url, location), None
            if url.startswith(back):
                return url
            continue
        action = re.search(r'<form[^>]*action="([^"]+)"', page)
        prompt = re.search(r'name="prompt" value="(\w+)"', page)
        assert action and prompt, page
        url = urllib.parse.urljoin(url, html.unescape(action.group(1)))
        form = {"prompt": prompt.group(1)}
        if form["prompt"] == "login":
            form |= {"login": username, "password": "any"}
    raise AssertionError(f"no redirect to {back}; last at {url}")


def login_with_code_flow(
    provider: OidcProvider,
    username: str,
    redirect_uri: str,
    *,
    resource: str = FEATURESTORE,
    secret: str | None = None,
) -> dict[str, Any]:
    """Sign ``username`` in as a browser would (authorization_code + PKCE).

    The provider's devInteractions login (any username and password) and
    consent forms are posted with the session cookies; the code from the
    redirect to ``redirect_uri`` is exchanged at /token (client_secret_basic
    when ``secret``, else a public client). Returns the token response.

    Raises:
        TokenError: the token endpoint refused.
        AssertionError: the flow went anywhere unexpected.
    """
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        .rstrip(b"=")
        .decode()
    )
    state = os.urandom(8).hex()
    query = urllib.parse.urlencode(
        {
            "client_id": "console-client",
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "resource": resource,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    url = sign_in_at_provider(f"{provider.issuer}/auth?{query}", redirect_uri, username)
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert params.get("state") == state, params
    assert params.get("iss") == provider.issuer, params
    exchange = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    if secret is None:
        return token_request(
            provider.issuer, exchange | {"client_id": "console-client"}
        )
    basic = base64.b64encode(f"console-client:{secret}".encode()).decode()
    return token_request(provider.issuer, exchange, {"Authorization": f"Basic {basic}"})
