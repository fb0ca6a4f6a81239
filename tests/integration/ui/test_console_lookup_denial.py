"""POST /lookup tells no view's existence to whom may not read it (AIP-193)."""

from __future__ import annotations

import re

import pytest

from tests.integration.ui._console import Browserless

pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]

UNKNOWN, KNOWN = "does_not_exist", "customer_spend"


def _csrf(client: Browserless, path: str) -> str:
    page = client.request(path).body
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _sign_in(client: Browserless, key: str) -> None:
    form = {"csrf": _csrf(client, "/login"), "token": key, "next": "/"}
    answer = client.request("/login", form)
    assert answer.status == 303, answer.body


def _lookup(client: Browserless, csrf: str, view: str):
    form = {"csrf": csrf, "target": f"view:{view}", "key:customer_id": "1"}
    return client.request("/lookup", form)


def test_before_sign_in_every_view_asks_for_the_sign_in(keyed_console):
    client = Browserless(keyed_console)
    csrf = _csrf(client, "/login")  # the login cookie's token (double submit)
    for view in (UNKNOWN, KNOWN):
        answer = _lookup(client, csrf, view)
        assert (answer.status, answer.headers["Location"]) == (
            303,
            "/login?next=%2Flookup",
        ), (view, answer.status, answer.body)


def test_a_caller_who_may_not_read_learns_nothing_of_which_views_exist(
    keyed_console, keys
):
    client = Browserless(keyed_console)
    _sign_in(client, keys.nobody)
    csrf = _csrf(client, "/")
    unknown, known = _lookup(client, csrf, UNKNOWN), _lookup(client, csrf, KNOWN)
    assert (unknown.status, known.status) == (403, 403)
    # The same page, but for the name asked about.
    assert unknown.body.replace(UNKNOWN, KNOWN) == known.body


def test_a_caller_who_may_read_is_told_a_view_does_not_exist(keyed_console, keys):
    client = Browserless(keyed_console)
    _sign_in(client, keys.reader)
    csrf = _csrf(client, "/lookup")
    unknown = _lookup(client, csrf, UNKNOWN)
    assert unknown.status == 404 and UNKNOWN in unknown.body
    assert _lookup(client, csrf, KNOWN).status == 200
