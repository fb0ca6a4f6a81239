"""Console sessions, CSRF and origin checks, and the gate without auth."""

from __future__ import annotations

import pytest

from featurestore.services.auth import ANONYMOUS
from featurestore.services.ui import access
from featurestore.services.ui.access import CsrfError, Gate, Sessions


def test_sessions_expire_when_idle_and_when_the_token_does(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(access.time, "time", lambda: now[0])
    sessions = Sessions(minutes=10)
    sid, session = sessions.create("secret-token", "ada")
    assert sessions.get(sid) is session and session.principal == "ada"
    now[0] += 9 * 60
    assert sessions.get(sid) is session  # use restarts the idle timer
    now[0] += 9 * 60
    assert sessions.get(sid) is session
    now[0] += 11 * 60
    assert sessions.get(sid) is None
    sid, _ = sessions.create("t", "ada", token_expires=now[0] + 30)
    now[0] += 31
    assert sessions.get(sid) is None
    sid, _ = sessions.create("t", "ada")
    sessions.drop(sid)
    assert sessions.get(sid) is None and sessions.get(None) is None


def test_session_ids_and_csrf_tokens_are_unguessable_and_distinct():
    sessions = Sessions(minutes=10)
    made = [sessions.create("t", "p") for _ in range(50)]
    ids = {sid for sid, _ in made}
    tokens = {s.csrf for _, s in made}
    assert len(ids) == len(tokens) == 50
    assert all(len(x) >= 40 for x in ids | tokens)


def test_csrf_needs_the_exact_token():
    access.check_csrf("abc", "abc")
    for expected, sent in (("abc", "abd"), ("abc", None), (None, "abc"), ("", "")):
        with pytest.raises(CsrfError):
            access.check_csrf(expected, sent)


def test_origin_must_be_the_console():
    base = "http://127.0.0.1:8765"
    access.check_origin(None, base, "127.0.0.1:8765")
    access.check_origin(base, base, "127.0.0.1:8765")
    access.check_origin("https://console.example", "https://console.example", None)
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        with pytest.raises(CsrfError):
            access.check_origin(origin, base, "127.0.0.1:8765")


def test_without_a_guard_every_page_is_anonymous():
    gate = Gate(None)
    assert not gate.auth_on
    with gate.admit(None, access.VIEW) as principal:
        assert principal is ANONYMOUS
    assert gate.describable([1, 2]) == [1, 2]


@pytest.mark.parametrize(
    ("address", "public_url", "host", "allowed"),
    [
        # Loopback: its own names and IPs, any port.
        ("127.0.0.1:8765", None, "127.0.0.1:8765", True),
        ("127.0.0.1:8765", None, "localhost:8765", True),
        ("127.0.0.1:8765", None, "LOCALHOST", True),
        ("127.0.0.1:8765", None, "[::1]:8765", True),
        ("[::1]:8765", None, "[::1]:8765", True),
        # DNS rebinding: a foreign name pointed at 127.0.0.1.
        ("127.0.0.1:8765", None, "rebind.attacker.example:8765", False),
        ("127.0.0.1:8765", None, "127.0.0.1.attacker.example", False),
        ("[::1]:8765", None, "attacker.example", False),
        # The public URL's host is the console's own name.
        ("127.0.0.1:8765", "https://console.example/", "console.example", True),
        # Bound elsewhere: the public host and the bound address when set...
        ("10.0.0.5:8765", "https://console.example", "console.example:443", True),
        ("10.0.0.5:8765", "https://console.example", "10.0.0.5:8765", True),
        ("10.0.0.5:8765", "https://console.example", "attacker.example", False),
        # ... any name when not (the names it is reached by are unknown).
        ("0.0.0.0:8765", None, "anything.example", True),
        # No Host, or one that is no host.
        ("127.0.0.1:8765", None, None, False),
        ("127.0.0.1:8765", None, "", False),
        ("127.0.0.1:8765", None, "[::1:8765", False),
    ],
)
def test_host_rule_answers_only_the_consoles_own_names(
    address: str, public_url: str | None, host: str | None, allowed: bool
) -> None:
    assert access.host_rule(address, public_url)(host) is allowed
