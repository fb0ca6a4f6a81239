"""OIDC sign-in at a real provider: whose callback counts."""

from __future__ import annotations

import pytest

from tests.integration.ui._console import Browserless
from tests.integration.ui._oidc_flow import callback_of

pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]


def test_a_callback_from_another_browser_leaves_the_sign_in_working(
    confidential_console,
):
    oidc = confidential_console
    user, thief = Browserless(oidc.console), Browserless(oidc.console)
    callback = callback_of(user, "alice", "/contracts")
    stolen = thief.request(callback)
    assert stolen.status == 400 and thief.cookie("fs_console") is None
    answer = user.request(callback)
    assert (answer.status, answer.headers["Location"]) == (303, "/contracts"), (
        answer.body
    )
    assert user.request("/contracts").status == 200
    # Consumed now: the same callback again is refused.
    assert user.request(callback).status == 400
