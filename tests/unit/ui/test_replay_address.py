"""The console's replay snippet connects where the service runs, not to a
fixed 127.0.0.1:6566 (a console beside a server on another port showed that)."""

from __future__ import annotations

import ast

import pytest

from featurestore.services.offline import Manifest
from featurestore.services.ui.pages.training import replay_code, service_address
from featurestore.services.ui.settings import UiSettings


@pytest.mark.parametrize(
    ("address", "public_url", "expected"),
    [
        ("127.0.0.1:16594", None, "127.0.0.1:16594"),
        ("10.1.2.3:7000", None, "10.1.2.3:7000"),
        ("[::1]:7000", None, "[::1]:7000"),
        ("0.0.0.0:7000", None, "127.0.0.1:7000"),
        (
            "0.0.0.0:7000",
            "https://features.example.com:8443/",
            "features.example.com:7000",
        ),
        ("[::]:7000", "https://features.example.com/", "features.example.com:7000"),
        # A Unix socket as it is (split_address refused it: the page failed).
        ("unix:/run/featurestore.sock", None, "unix:/run/featurestore.sock"),
    ],
)
def test_the_snippet_connects_to_the_service_address(address, public_url, expected):
    settings = UiSettings(address=address, ui_public_url=public_url)
    assert service_address(settings) == expected
    manifest = Manifest(
        project="p", feature_refs=["v:f"], feature_service=None,
        timestamp_column="event_timestamp", as_known_at=False,
        full_feature_names=False, entity_rows=1, created_at="", tables=[],
    )  # fmt: skip
    code = replay_code("t.parquet", manifest, service_address(settings))
    calls = [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "FeatureStoreClient"
    ]
    assert [ast.literal_eval(c.args[0]) for c in calls] == [expected]
