"""OidcLogin against an issuer on a real loopback port that answers as told.

The real provider (tests/oidc_provider) answers correctly; these cases need
an issuer that does not (a malformed token response), or many sign-ins begun.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from featurestore.services.ui.oidc import OidcLogin, OidcLoginError


class _Issuer(ThreadingHTTPServer):
    answer: dict[str, Any]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Issuer

    def _send(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(
            {
                "issuer": self.server.url,
                "authorization_endpoint": self.server.url + "/auth",
                "token_endpoint": self.server.url + "/token",
            }
        )

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._send(self.server.answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def issuer() -> Iterator[_Issuer]:
    server = _Issuer(("127.0.0.1", 0), _Handler)
    server.answer = {"access_token": "token", "token_type": "Bearer"}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _login(issuer: _Issuer) -> OidcLogin:
    return OidcLogin(issuer.url, "console", "http://127.0.0.1:1/auth/callback")


def _begin(login: OidcLogin, next_path: str = "/") -> tuple[dict[str, str], str]:
    url, binding = login.start(next_path)
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["state"][0]
    return {"state": state, "code": "code"}, binding


def test_a_foreign_callback_does_not_consume_the_sign_in(issuer):
    login = _login(issuer)
    params, binding = _begin(login, "/contracts")
    for foreign in (None, "another-browser"):
        with pytest.raises(OidcLoginError, match="another browser"):
            login.finish(params, foreign)
    assert login.finish(params, binding)[:2] == ("token", "/contracts")
    with pytest.raises(OidcLoginError, match="unknown or expired"):
        login.finish(params, binding)  # consumed by its own browser


@pytest.mark.parametrize("expires_in", ["abc", "nan", "inf", -5, 0, True, [300]])
def test_a_malformed_expires_in_is_a_failed_sign_in(issuer, expires_in):
    issuer.answer |= {"expires_in": expires_in}
    login = _login(issuer)
    params, binding = _begin(login)
    with pytest.raises(OidcLoginError, match="expires_in"):
        login.finish(params, binding)


@pytest.mark.parametrize("expires_in", [300, 300.0, "300"])
def test_expires_in_sets_the_expiry(issuer, expires_in):
    issuer.answer |= {"expires_in": expires_in}
    login = _login(issuer)
    params, binding = _begin(login)
    before = time.time()
    _, _, expiry = login.finish(params, binding)
    assert expiry is not None and before + 300 <= expiry <= time.time() + 300


def test_without_expires_in_there_is_no_expiry(issuer):
    login = _login(issuer)
    params, binding = _begin(login)
    assert login.finish(params, binding)[2] is None


def test_sign_ins_begun_are_bounded_the_oldest_forgotten_first(issuer):
    # GET /login/oidc needs no credential: however often it is called, the
    # table of sign-ins begun stays bounded (far below 10_000 entries).
    login = _login(issuer)
    oldest = _begin(login)
    later = [_begin(login) for _ in range(10_000)]
    with pytest.raises(OidcLoginError, match="unknown or expired"):
        login.finish(*oldest)
    assert login.finish(*later[-1])[0] == "token"
    assert login.finish(*later[-2])[0] == "token"
