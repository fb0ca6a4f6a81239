"""A small Feast repo over Delta tables for tests: its feature_store.yaml and
its definitions applied, the registry and SQLite online store beside it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feast import FeatureStore

YAML = """project: {project}
registry: {state}/registry.db
provider: local
online_store:
{online}
offline_store:
  type: featurestore.services.offline.DeltaOfflineStore
entity_key_serialization_version: 3
"""


def delta_repo(
    repo: Path,
    project: str,
    definitions: str,
    state: Path | None = None,
    online: str | None = None,
) -> FeatureStore:
    """Write ``repo``'s feature_store.yaml and definitions.py, and apply every
    Feast object the definitions make (as ``feast apply`` would).

    The Delta tables the sources name are the caller's to write, before or
    after. ``state`` holds the registry and the SQLite online store (default
    ``repo``); ``online`` is another online_store block (indented two spaces).
    """
    from feast import Entity, FeatureService, FeatureStore
    from feast.base_feature_view import BaseFeatureView

    repo.mkdir(parents=True, exist_ok=True)
    state = state or repo
    online = online or f"  type: sqlite\n  path: {state}/online.db"
    yaml = YAML.format(project=project, state=state, online=online)
    (repo / "feature_store.yaml").write_text(yaml)
    (repo / "definitions.py").write_text(definitions)
    made: dict[str, object] = {}
    exec(compile(definitions, str(repo / "definitions.py"), "exec"), made)
    objects = [
        o
        for o in made.values()
        if isinstance(o, Entity | BaseFeatureView | FeatureService)
    ]
    store = FeatureStore(repo_path=str(repo))
    store.apply(objects)
    return store


def pulled(
    store: FeatureStore,
    view: str,
    keys: list[str],
    start: datetime | None,
    end: datetime | None,
    *,
    latest: bool,
    feature: str = "visits",
) -> list[object]:
    """``feature``'s values (sorted) from the offline store's pull of ``view``:
    every row in [start, end), or the latest per key (what materialise reads)."""
    from featurestore.services.offline import DeltaOfflineStore

    pull = (
        DeltaOfflineStore.pull_latest_from_table_or_query
        if latest
        else DeltaOfflineStore.pull_all_from_table_or_query
    )
    table = pull(
        config=store.config,
        data_source=store.get_feature_view(view).batch_source,
        join_key_columns=keys,
        feature_name_columns=[feature],
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        start_date=start,
        end_date=end,
    ).to_arrow()
    return sorted(table.column(feature).to_pylist())
