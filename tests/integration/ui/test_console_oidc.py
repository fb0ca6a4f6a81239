"""OIDC sign-in at a real provider: the client secret, and whose callback counts."""

from __future__ import annotations

import pytest

from tests.integration.ui._console import Browserless, oidc_flags, start_console
from tests.integration.ui._oidc_flow import callback_of
from tests.oidc_provider_harness import start_provider

pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]


def test_a_missing_client_secret_file_stops_the_console(console_project, tmp_path):
    provider = start_provider([], console_redirect_uri="http://127.0.0.1:1/cb")
    try:
        try:
            console = start_console(
                console_project, *oidc_flags(provider.issuer),
                "--oidc-client-secret-file", str(tmp_path / "missing"),
            )  # fmt: skip
        except RuntimeError as exc:
            output = str(exc)
        else:
            console.stop()
            pytest.fail("the console started without its client secret")
    finally:
        provider.stop()
    assert output.startswith("console exited 2: "), output
    said = output.removeprefix("console exited 2: ").strip().splitlines()
    assert said[-1].startswith("featurestore ui: "), said
    assert "--oidc-client-secret-file" in said[-1] and "missing" in said[-1]
    assert "Traceback" not in output


def test_a_client_secret_gone_later_is_a_clear_page(confidential_console):
    oidc = confidential_console
    moved = oidc.secret_file.with_name("moved-away")
    client = Browserless(oidc.console)
    callback = callback_of(client, "alice", "/contracts")
    oidc.secret_file.rename(moved)
    try:
        answer = client.request(callback)
    finally:
        moved.rename(oidc.secret_file)
    assert answer.status == 503, answer.body
    assert "cannot read its client secret" in answer.body
    assert "Traceback" not in answer.body and "FileNotFoundError" not in answer.body
    assert "--oidc-client-secret-file" in oidc.console.output()  # the log says
    # Read at each sign-in: back in place, the next one works.
    again = client.request(callback_of(client, "alice", "/contracts"))
    assert (again.status, again.headers["Location"]) == (303, "/contracts")


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
