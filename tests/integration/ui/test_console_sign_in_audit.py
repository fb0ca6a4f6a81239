"""Console sign-ins are audited and logged as gRPC calls are: refused or not."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

import pytest

from tests.integration.ui._console import Browserless, RunningConsole
from tests.integration.ui._oidc_flow import callback_of

pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]

TOKEN, OIDC = "/console/SignInWithToken", "/console/SignInWithOidc"


def _records(audit: Path, wanted, count: int = 1) -> list[dict]:
    """The audit records ``wanted`` accepts, once ``count`` are written."""
    deadline, found = time.monotonic() + 10, []
    while time.monotonic() < deadline:
        if audit.exists():
            lines = [json.loads(x) for x in audit.read_text().splitlines()]
            found = [x for x in lines if wanted(x)]
            if len(found) >= count:
                break
        time.sleep(0.1)
    return found


def _log_lines(console: RunningConsole, text: str, count: int = 1) -> list[str]:
    deadline, found = time.monotonic() + 10, []
    while time.monotonic() < deadline:
        found = [x for x in console.output().splitlines() if text in x]
        if len(found) >= count:
            break
        time.sleep(0.1)
    return found


def test_token_sign_ins_are_audited_and_logged(keyed_console, keys):
    client = Browserless(keyed_console)
    csrf = re.search(
        r'name="csrf" value="([^"]+)"', client.request("/login").body
    ).group(1)
    wrong = f"fsk_{secrets.token_hex(4)}_{secrets.token_hex(16)}"
    for _ in range(3):
        answer = client.request("/login", {"csrf": csrf, "token": wrong})
        assert answer.status == 401
    refused = _records(
        keys.audit,
        lambda x: x["method"] == TOKEN and x["decision"] == "unauthenticated",
        3,
    )
    assert len(refused) >= 3
    assert {(x["principal"], x["code"]) for x in refused} == {
        ("anonymous", "UNAUTHENTICATED")
    }
    assert all(x["request_id"].startswith("ui-") for x in refused)
    reasons = _log_lines(keyed_console, f"console sign-in refused ({TOKEN})", 3)
    assert any("unknown API key id" in x for x in reasons), reasons
    answer = client.request("/login", {"csrf": csrf, "token": keys.reader})
    assert answer.status == 303
    allowed = _records(
        keys.audit, lambda x: x["method"] == TOKEN and x["principal"] == "rita"
    )
    assert [(x["decision"], x["code"]) for x in allowed][-1:] == [("allow", "OK")]
    assert _log_lines(keyed_console, f"console sign-in of rita ({TOKEN})")
    everything = keys.audit.read_text() + keyed_console.output()
    for key in (wrong, keys.reader):
        assert key.split("_", 2)[2] not in everything


def test_oidc_sign_ins_are_audited_and_logged(confidential_console):
    oidc = confidential_console
    stranger = Browserless(oidc.console)
    refused = stranger.request("/auth/callback?state=forged&code=x")
    assert refused.status == 400
    found = _records(
        oidc.audit, lambda x: x["method"] == OIDC and x["decision"] == "unauthenticated"
    )
    assert found and found[-1]["principal"] == "anonymous"
    assert found[-1]["code"] == "UNAUTHENTICATED"
    assert _log_lines(oidc.console, "unknown or expired")
    client = Browserless(oidc.console)
    answer = client.request(callback_of(client, "alice", "/contracts"))
    assert (answer.status, answer.headers["Location"]) == (303, "/contracts")
    allowed = _records(
        oidc.audit, lambda x: x["method"] == OIDC and x["principal"] == "alice"
    )
    assert allowed
    assert {(x["decision"], x["code"]) for x in allowed} == {("allow", "OK")}
    assert _log_lines(oidc.console, f"console sign-in of alice ({OIDC})")
