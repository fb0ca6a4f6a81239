"""Sign in to a console at a real OpenID Provider without a browser.

The console's ``/login/oidc`` redirect is followed through the provider's
login and consent forms (tests/oidc_provider_harness.py) up to the redirect
back to the console's callback; the caller decides which console client
(cookie jar) then brings that callback.
"""

from __future__ import annotations

import urllib.parse

from tests.integration.ui._console import Browserless
from tests.oidc_provider_harness import sign_in_at_provider


def callback_of(client: Browserless, username: str, next_path: str = "/") -> str:
    """Begin a sign-in in ``client``; the callback path (with its query) the
    provider sends the browser back to once ``username`` has signed in."""
    start = client.request("/login/oidc?" + urllib.parse.urlencode({"next": next_path}))
    assert start.status == 303, start.body
    back = client.console.url + "/auth/callback"
    url = sign_in_at_provider(start.headers["Location"], back, username)
    return url[len(client.console.url) :]
