"""Pages name only the feature views the caller may DESCRIBE (as the home page)."""

from __future__ import annotations

import html
import re
import shutil

import pytest
from feast import FeatureStore
from feast.feature_view import FeatureView
from feast.permissions.action import AuthzedAction
from feast.permissions.permission import Permission
from feast.permissions.policy import RoleBasedPolicy
from feast.project import Project

from featurestore.services.auth import add_key
from tests.integration.ui._console import Browserless, start_console
from tests.integration.ui._project import ConsoleProject

pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]

HIDDEN = "merchant_risk"
"""The view (and its contract and table) the role may not DESCRIBE."""


@pytest.fixture(scope="module")
def one_view_console(console_project, tmp_path_factory):
    """The project with a role "spend" that may DESCRIBE the project and the
    customer_spend view only; its key and an admin's."""
    root = tmp_path_factory.mktemp("one-view")
    project = ConsoleProject(root / "feature_repo", console_project.data)
    shutil.copytree(console_project.repo, project.repo)
    # Its own registry and online store: feature_store.yaml names them in ../data.
    (root / "data").mkdir()
    for name in ("registry.db", "online_store.db"):
        shutil.copy2(console_project.data / name, root / "data" / name)
    FeatureStore(repo_path=str(project.repo)).apply(
        [
            Permission(
                name="spend-project",
                types=[Project],
                actions=[AuthzedAction.DESCRIBE],
                policy=RoleBasedPolicy(roles=["spend"]),
            ),
            Permission(
                name="spend-view",
                types=[FeatureView],
                name_patterns=["customer_spend"],
                actions=[AuthzedAction.DESCRIBE],
                policy=RoleBasedPolicy(roles=["spend"]),
            ),
        ]
    )
    keys = root / "keys.yaml"
    spend, admin = add_key(keys, "sam", ["spend"]), add_key(keys, "ada", ["admin"])
    console = start_console(project, "--auth", "api_keys", "--api-keys-file", str(keys))
    yield console, spend, admin
    console.stop()


def _signed_in(console, key: str) -> Browserless:
    client = Browserless(console)
    page = client.request("/login").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.request("/login", {"csrf": csrf, "token": key, "next": "/"})
    assert answer.status == 303, answer.body
    return client


PAGES = ["/contracts", f"/contracts/{HIDDEN}", f"/tables/{HIDDEN}"]


@pytest.mark.parametrize("path", PAGES)
def test_a_view_the_caller_may_not_describe_is_not_named(one_view_console, path):
    console, spend, admin = one_view_console
    # The admin's page names the view: the check below can see it.
    shown = _signed_in(console, admin).request(path)
    assert shown.status == 200 and f'href="/views/{HIDDEN}"' in shown.body
    answer = _signed_in(console, spend).request(path)
    assert answer.status == 200, answer.body
    assert f"/views/{HIDDEN}" not in answer.body


def test_the_views_the_caller_may_describe_are_still_named(one_view_console):
    console, spend, _ = one_view_console
    client = _signed_in(console, spend)
    for path in ("/contracts", "/contracts/customer_spend", "/tables/customer_spend"):
        answer = client.request(path)
        assert answer.status == 200 and 'href="/views/customer_spend"' in answer.body


def test_quarantine_refusal_names_no_view(one_view_console):
    console, spend, _ = one_view_console
    page = _signed_in(console, spend).request(f"/tables/{HIDDEN}/quality").body
    denied = html.unescape(page.split('id="quarantine-denied"', 1)[1][:400])
    assert "READ_OFFLINE" in denied and f"FeatureView '{HIDDEN}'" not in denied


def test_a_training_set_read_from_a_hidden_view_is_not_listed(one_view_console):
    # Its manifest names every view the set read (fraud_model_v1 reads
    # merchant_risk too): the listing and the download gave the name away.
    console, spend, admin = one_view_console
    listed = _signed_in(console, admin).request("/training-sets").body
    assert "fraud/train.parquet" in listed and f"/views/{HIDDEN}" in listed
    page = _signed_in(console, spend).request("/training-sets")
    assert page.status == 200
    assert "fraud/train.parquet" not in page.body and HIDDEN not in page.body
    download = _signed_in(console, spend).request(
        "/training-sets/manifest?name=fraud/train.parquet"
    )
    assert download.status == 404 and HIDDEN not in download.body


def test_drift_refusal_names_no_view(one_view_console):
    # The role may DESCRIBE the project (so sees the table listed) but not
    # the only view over it: refused, as ListDriftScores, without its name.
    console, spend, admin = one_view_console
    assert _signed_in(console, admin).request(f"/drift/{HIDDEN}").status == 200
    client = _signed_in(console, spend)
    answer = client.request(f"/drift/{HIDDEN}")
    assert answer.status == 403, answer.body
    denied = html.unescape(answer.body.split('id="error"', 1)[1])
    assert "DESCRIBE" in denied and f"table '{HIDDEN}'" in denied
    assert f"FeatureView '{HIDDEN}'" not in denied
    assert client.request("/drift/customer_spend").status == 200
    assert client.request("/drift/no_such_table").status == 404


def test_drift_tells_no_one_without_describe_which_tables_exist(keyed_console, keys):
    # nemo has no permission at all: an existing table (with a view over it)
    # and an unknown name get the same page, but for the name asked about.
    client = _signed_in(keyed_console, keys.nobody)
    known, unknown = (client.request(f"/drift/{t}") for t in (HIDDEN, "nope_zz"))
    assert (known.status, unknown.status) == (403, 403)
    assert f"FeatureView '{HIDDEN}'" not in html.unescape(known.body)
    assert known.body.replace(HIDDEN, "nope_zz") == unknown.body


def test_quarantine_download_refusal_names_no_view(one_view_console):
    console, spend, admin = one_view_console
    path = f"/tables/{HIDDEN}/quarantine.csv"
    admitted = _signed_in(console, admin).request(path)  # it has none
    assert admitted.status == 404 and "nothing quarantined" in admitted.body
    answer = _signed_in(console, spend).request(path)
    assert answer.status == 403, answer.body
    denied = html.unescape(answer.body.split('id="error"', 1)[1])
    assert "READ_OFFLINE" in denied and f"FeatureView '{HIDDEN}'" not in denied
