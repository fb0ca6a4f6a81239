"""The console's lookup asks no key of an entity-less view, as Feast's SDK."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.integration.serving.test_serving_entityless import glob_repo
from tests.integration.ui._console import Browserless, start_console
from tests.integration.ui._project import ConsoleProject

pytestmark = pytest.mark.integration

# A service over a keyed view and the entity-less one.
BOTH = """
both_service = FeatureService(
    name="both", features=[customer_stats_view[["spend"]], glob_view]
)
"""


@pytest.fixture(scope="module")
def lookup(tmp_path_factory):
    """A console over the serving repo plus glob and "both"; its client, CSRF."""
    store = glob_repo(tmp_path_factory.mktemp("entityless"), BOTH, ("both_service",))
    repo = Path(store.repo_path)
    console = start_console(ConsoleProject(repo, repo / "data"))
    client = Browserless(console)
    page = client.request("/lookup").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    yield client, csrf, page
    console.stop()


def _cards(body: str) -> list[str]:
    """Each entity row's card: its heading, then view, feature, value, status."""
    cards = body.split('<div class="card entity">')[1:]
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cards]


def test_the_form_asks_no_dummy_key(lookup):
    # It had a __dummy_id field, and a glob lookup needed a value in it.
    _, _, page = lookup
    assert re.findall(r'name="key:([^"]+)"', page) == ["customer_id", "merchant_id"]


def test_an_entity_less_view_alone_needs_no_key(lookup):
    client, csrf, _ = lookup
    answer = client.request("/lookup", {"csrf": csrf, "target": "view:glob"})
    assert answer.status == 200, answer.body
    [card] = _cards(answer.body)
    assert "g 2.5 PRESENT" in card


def test_with_a_keyed_view_both_are_read(lookup):
    client, csrf, _ = lookup
    form = {"csrf": csrf, "target": "service:both", "key:customer_id": "3\n999"}
    answer = client.request("/lookup", form)
    assert answer.status == 200, answer.body
    known, unknown = _cards(answer.body)
    assert known.startswith("customer_id=3 ")
    assert "spend 30.5 PRESENT" in known and "g 2.5 PRESENT" in known
    assert unknown.startswith("customer_id=999 ")
    assert "spend - NOT_FOUND" in unknown and "g 2.5 PRESENT" in unknown
    # The keyed view still needs its key.
    answer = client.request("/lookup", {"csrf": csrf, "target": "service:both"})
    assert answer.status == 400
    assert "give one or more customer_id values" in answer.body


def test_the_catalogue_shows_no_dummy_key(lookup):
    # The home page listed __dummy_id as glob's entity, and /views/glob
    # "Entities: __dummy_id (String)".
    client, _, _ = lookup
    home, page = client.request("/"), client.request("/views/glob")
    assert (home.status, page.status) == (200, 200)
    assert "glob" in home.body and "customer_id" in home.body
    assert "__dummy_id" not in home.body and "__dummy_id" not in page.body
