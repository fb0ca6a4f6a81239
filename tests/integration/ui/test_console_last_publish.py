"""The console's "Last publish": a table whose Delta log cannot be read says so
(it is not a table that was never published)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.integration.ui._console import Browserless, start_console
from tests.integration.ui._project import ConsoleProject
from tests.odd_project import odd_project

pytestmark = pytest.mark.integration


def _last_publish(home: str, view: str) -> str:
    """The home page's "Last publish" cell of ``view``'s row."""
    row = re.search(rf'<a href="/views/{view}">{view}</a></td>(.*?)</tr>', home, re.S)
    assert row, home
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)[3]


def test_an_unreadable_log_is_not_never_published(tmp_path: Path) -> None:
    repo, table = odd_project(tmp_path, [(0.0, 1), (0.0, 2)], apply=True)
    newest = sorted((table / "_delta_log").glob("*.json"))[-1]
    newest.write_text('{"add": {garbage\n')
    console = start_console(ConsoleProject(repo, repo / "data"))
    try:
        client = Browserless(console)
        home = client.request("/")
        page = client.request("/views/odd")
    finally:
        console.stop()
    assert home.status == page.status == 200
    cell = _last_publish(home.body, "odd")
    assert "cannot be read (TABLE_UNREADABLE)" in cell and "never" not in cell
    facts = page.body.split("<dt>Last publish</dt>", 1)[1].split("</dd>", 1)[0]
    assert "cannot be read (TABLE_UNREADABLE)" in facts and "never" not in facts
    assert str(tmp_path) not in home.body + page.body


def test_a_vacuum_or_optimize_is_no_publish(tmp_path: Path) -> None:
    repo, table = odd_project(tmp_path, [(0.0, 1), (0.0, 2)], apply=True)
    DeltaTable(str(table)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )  # v2 VACUUM START, v3 VACUUM END: the same rows as v1
    console = start_console(ConsoleProject(repo, repo / "data"))
    try:
        client = Browserless(console)
        home = client.request("/")
        page = client.request("/views/odd")
    finally:
        console.stop()
    assert _last_publish(home.body, "odd").startswith("v1 ·")
    facts = page.body.split("<dt>Last publish</dt>", 1)[1].split("</dd>", 1)[0]
    assert facts.startswith("<dd>v1 at ")
