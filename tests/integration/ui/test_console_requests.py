"""Form bodies, sign-out and the session cookie, over raw HTTP and a cookie jar."""

from __future__ import annotations

import re
import socket
import urllib.parse

import pytest

from tests.integration.ui._console import Browserless

pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]

LIMIT = 64 * 1024


def _post_head(console, extra: str) -> bytes:
    host = urllib.parse.urlsplit(console.url).netloc
    return (
        f"POST /login HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"{extra}\r\n"
    ).encode()


def _exchange(console, head: bytes, body: list[bytes]) -> bytes:
    """Send ``head`` and the ``body`` parts, then read the answer's head.

    The body is never finished (no more bytes after its parts, no last chunk):
    only a console that answers before the body ends answers at all.
    """
    address = urllib.parse.urlsplit(console.url)
    with socket.create_connection((address.hostname, address.port), 30) as sock:
        sock.sendall(head)
        for part in body:
            sock.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_a_form_announced_over_the_limit_is_refused_before_its_body(open_console):
    head = _post_head(open_console, f"Content-Length: {300 * 1024 * 1024}\r\n")
    answer = _exchange(open_console, head, [])
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_chunked_form_is_refused_once_it_passes_the_limit(open_console):
    head = _post_head(open_console, "Transfer-Encoding: chunked\r\n")
    parts = [_chunk(b"a" * 4096) for _ in range(LIMIT // 4096 + 1)]
    answer = _exchange(open_console, head, parts)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_chunked_form_under_the_limit_is_read_whole(open_console):
    client = Browserless(open_console)
    page = client.request("/lookup").body  # sets the CSRF cookie
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    cookie = client.cookie("fs_csrf").value
    head = _post_head(open_console, f"Cookie: fs_csrf={cookie}\r\n")
    head = head[:-2] + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    form = urllib.parse.urlencode({"csrf": csrf, "next": "/lookup"}).encode()
    answer = _exchange(
        open_console, head, [_chunk(form[:5]), _chunk(form[5:]), b"0\r\n\r\n"]
    )
    assert answer.startswith(b"HTTP/1.1 303 "), answer[:200]
    assert b"\r\nlocation: /lookup\r\n" in answer.lower()


def _sign_in(client: Browserless, key: str) -> None:
    page = client.request("/login").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.request("/login", {"csrf": csrf, "token": key, "next": "/"})
    assert answer.status == 303, answer.body


def _session_cookies(answer) -> list[str]:
    return [
        c for c in answer.headers.get_all("Set-Cookie") or []
        if c.startswith("fs_console=")
    ]  # fmt: skip


def test_each_page_renews_the_session_cookie_as_the_session(keyed_console, keys):
    # The session lasts 480 minutes without use (the default), renewed by
    # each request: so must the cookie, or it ends an active user's session.
    client = Browserless(keyed_console)
    _sign_in(client, keys.reader)
    sid = client.cookie("fs_console").value
    for path in ("/", "/contracts", "/views/nope"):
        answer = client.request(path)
        assert _session_cookies(answer) == [
            f"fs_console={sid}; HttpOnly; Max-Age={480 * 60}; Path=/; SameSite=lax"
        ], path
    anonymous = Browserless(keyed_console).request("/login")
    assert _session_cookies(anonymous) == []
    page = client.request("/").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    out = client.request("/logout", {"csrf": csrf})
    assert out.status == 303
    [dropped] = _session_cookies(out)
    assert dropped.startswith('fs_console=""') and "Max-Age=0" in dropped


def test_signing_out_of_a_session_gone_goes_to_the_sign_in(keyed_console, keys):
    # Two tabs share the session; one signs out, the other then does too.
    first, second = Browserless(keyed_console), Browserless(keyed_console)
    _sign_in(first, keys.reader)
    second.jar.set_cookie(first.cookie("fs_console"))
    page = second.request("/").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert first.request("/logout", {"csrf": csrf}).status == 303
    answer = second.request("/logout", {"csrf": csrf})
    assert (answer.status, answer.headers["Location"]) == (303, "/login"), answer.body
    assert second.cookie("fs_console") is None
