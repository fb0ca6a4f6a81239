"""Sign in to a console at a real OpenID Provider without a browser.

The console's ``/login/oidc`` redirect is followed through the provider's
devInteractions login and consent forms (any password) with the provider's
own cookies, up to the redirect back to the console's callback; the caller
decides which console client (cookie jar) then brings that callback.
"""

from __future__ import annotations

import html
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tests.integration.ui._console import Browserless


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def callback_of(client: Browserless, username: str, next_path: str = "/") -> str:
    """Begin a sign-in in ``client``; the callback path (with its query) the
    provider sends the browser back to once ``username`` has signed in."""
    start = client.request("/login/oidc?" + urllib.parse.urlencode({"next": next_path}))
    assert start.status == 303, start.body
    url, form = start.headers["Location"], None
    back = client.console.url + "/auth/callback"
    provider = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
    )
    for _ in range(10):
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with provider.open(url, data=data, timeout=10) as response:
                page = response.read().decode()
        except urllib.error.HTTPError as err:
            with err:
                location = err.headers.get("Location")
                assert err.code in (302, 303) and location, (err.code, err.read())
            url, form = urllib.parse.urljoin(url, location), None
            if url.startswith(back):
                return url[len(client.console.url) :]
            continue
        action = re.search(r'<form[^>]*action="([^"]+)"', page)
        prompt = re.search(r'name="prompt" value="(\w+)"', page)
        assert action and prompt, page
        url = urllib.parse.urljoin(url, html.unescape(action.group(1)))
        form = {"prompt": prompt.group(1)}
        if form["prompt"] == "login":
            form |= {"login": username, "password": "any"}
    raise AssertionError(f"no redirect to {back}; last at {url}")
