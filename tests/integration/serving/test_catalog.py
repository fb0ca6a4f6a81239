"""Catalog refreshes: an unchanged registry keeps the snapshot, a change swaps it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from feast import FeatureStore, FeatureView, Field
from feast.types import Float64

from featurestore.services.server.catalog import Catalog
from tests.integration.serving._repo import make_repo, sqlite_online

pytestmark = pytest.mark.integration


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    return Catalog(FeatureStore(repo_path=str(store.repo_path)))


def test_unchanged_registry_keeps_views_and_remembered_selections(catalog):
    view = catalog.view("customer_stats")
    resolved = catalog.resolve(["customer_stats:spend"], "")

    catalog.refresh()

    assert catalog.view("customer_stats") is view
    assert catalog.resolve(["customer_stats:spend"], "") is resolved


def test_applied_change_replaces_the_snapshot(catalog, tmp_path):
    old = catalog.view("customer_stats")
    resolved = catalog.resolve(["customer_stats:spend"], "")
    writer = FeatureStore(repo_path=str(tmp_path / "repo"))
    customer = writer.get_entity("customer")
    changed = FeatureView(
        name=old.name,
        entities=[customer],
        ttl=timedelta(hours=5),
        schema=[*old.schema, Field(name="added", dtype=Float64)],
        source=old.batch_source,
    )
    writer.apply([customer, changed])

    catalog.refresh()

    new = catalog.view("customer_stats")
    assert new is not old
    assert new.ttl == timedelta(hours=5)
    assert "added" in {f.name for f in new.features}
    assert catalog.resolve(["customer_stats:spend"], "") is not resolved
