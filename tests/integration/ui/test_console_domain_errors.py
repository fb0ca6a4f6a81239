"""Domain errors answer as the gRPC server's code for their reason, as HTTP."""

from __future__ import annotations

import html
import re
import shutil
import sqlite3

import pytest

from tests.integration.ui._console import Browserless, start_console
from tests.integration.ui._project import ConsoleProject

pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]

UNMATERIALISED = "merchant_risk"
"""The view whose online table the copy's online store lacks."""


@pytest.fixture(scope="module")
def damaged(console_project, tmp_path_factory):
    """A console over a copy of the project whose customer_spend contract has
    a 2.1.0 that is no YAML and a 2.2.0 whose content says 2.0.0, and whose
    online store lacks merchant_risk's table (never materialised)."""
    root = tmp_path_factory.mktemp("damaged")
    project = ConsoleProject(root / "feature_repo", console_project.data)
    shutil.copytree(console_project.repo, project.repo)
    (root / "data").mkdir()  # feature_store.yaml names the registry in ../data
    for name in ("registry.db", "online_store.db"):
        shutil.copy2(console_project.data / name, root / "data" / name)
    with sqlite3.connect(root / "data" / "online_store.db") as db:
        db.execute(f"DROP TABLE fraud_{UNMATERIALISED}")
    folder = project.repo / "contracts" / "customer_spend"
    (folder / "2.1.0.yaml").write_text("owner: [unclosed\n", encoding="utf-8")
    (folder / "2.2.0.yaml").write_text(
        (folder / "2.0.0.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    console = start_console(project)
    yield console, root
    console.stop()


@pytest.mark.parametrize(
    ("query", "file", "reason"),
    [
        ("old=2.0.0&new=2.1.0", "customer_spend/2.1.0.yaml", "invalid YAML"),
        ("old=2.0.0&new=2.2.0", "customer_spend/2.2.0.yaml", "disagree with the"),
    ],
)
def test_a_damaged_contract_file_is_named_not_called_missing(
    damaged, query, file, reason
):
    console, root = damaged
    client = Browserless(console)
    answer = client.request(f"/contracts/customer_spend/diff?{query}")
    assert answer.status == 400, answer.body
    assert "Not found" not in answer.body
    message = html.unescape(answer.body.split('id="error"', 1)[1])
    assert f"{file}: " in message and reason in message
    assert str(root) not in answer.body
    # The contract page tells the same of the same file.
    version = file.rsplit("/", 1)[1].removesuffix(".yaml")
    page = client.request(f"/contracts/customer_spend?version={version}")
    assert page.status == 200 and f"{file}: " in html.unescape(page.body)


def test_a_view_never_materialised_is_not_an_outage(damaged):
    console, _ = damaged
    client = Browserless(console)
    page = client.request("/lookup").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": csrf, "key:merchant_id": "M0001"}
    missing = client.request("/lookup", form | {"target": f"view:{UNMATERIALISED}"})
    assert missing.status == 404, missing.body
    assert f"online store has no table 'fraud_{UNMATERIALISED}'" in html.unescape(
        missing.body
    )
    assert "unavailable" not in missing.body.lower()
    present = client.request(
        "/lookup", form | {"target": "view:customer_spend", "key:customer_id": "1"}
    )
    assert present.status == 200, present.body
