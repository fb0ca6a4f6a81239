"""The console refuses pages while its audit log cannot be written, as the
gRPC server refuses calls (audit_on_failure: refuse): a 503 page, not a 500."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.full_disk import full_tmpfs
from tests.integration.ui._console import Browserless, start_console

pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]


def _until(answer, wanted: int, deadline_s: float = 30.0):
    """Ask until the page's status is ``wanted`` (or the deadline passes)."""
    deadline = time.monotonic() + deadline_s
    page = answer()
    while page.status != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        page = answer()
    return page


def test_a_full_audit_disk_is_a_503_page_until_there_is_room(
    console_project, keys, tmp_path: Path
) -> None:
    with full_tmpfs(tmp_path / "audit") as disk:
        console = start_console(
            console_project,
            "--auth", "api_keys", "--api-keys-file", str(keys.file),
            "--audit-log", str(disk / "audit.jsonl"),
        )  # fmt: skip
        try:
            client = Browserless(console)
            page = client.request("/login").body
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            client.request("/login", {"csrf": csrf, "token": keys.reader})
            refused = _until(lambda: client.request("/"), 503)
            assert refused.status == 503, refused.body
            assert "audit log cannot be written" in refused.body
            assert str(disk) not in refused.body
            (disk / "filler").unlink()  # room again
            client = Browserless(console)
            csrf = re.search(
                r'name="csrf" value="([^"]+)"', client.request("/login").body
            ).group(1)
            signed = _until(
                lambda: client.request(
                    "/login", {"csrf": csrf, "token": keys.reader, "next": "/"}
                ),
                303,
            )
            assert signed.status == 303, signed.body
            # The held records are retried about once a second.
            assert _until(lambda: client.request("/"), 200).status == 200
        finally:
            console.stop()
