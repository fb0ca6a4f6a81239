"""A project whose data root is a URI on the S3 harness, or a local folder."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake
from feast import FeatureStore

from featurestore.services.project import Project
from tests.integration.serving._repo import DEFINITIONS as SERVING_DEFINITIONS
from tests.integration.serving._repo import YAML, customer_rows, merchant_rows

SECRET_VARIABLE = "FS_TEST_S3"
"""The environment variable featurestore.yaml reads the secret key from."""

# The serving tests' repo, its sources turned into table references.
DEFINITIONS = (
    "from featurestore.services.project import table_ref\n"
    + SERVING_DEFINITIONS.replace(
        'path="data/customer_stats"', 'path=table_ref("customer_stats")'
    ).replace('path="data/merchant_risk"', 'path=table_ref("merchant_risk")')
)
assert DEFINITIONS.count("table_ref(") == 2
OBJECTS = (
    "customer",
    "merchant",
    "customer_stats_view",
    "merchant_risk_view",
    "scoring_service",
)


def featurestore_yaml(data_dir: str, options: dict[str, str] | None = None) -> str:
    """featurestore.yaml text: the data root and its storage options."""
    lines = [f"data_dir: {data_dir}"]
    if options:
        lines.append("storage_options:")
        lines += [f"  {key}: '{value}'" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def write_project(
    root: Path, data_dir: str, options: dict[str, str] | None = None
) -> Path:
    """A Feast repo at ``root/repo`` whose sources are table references."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        YAML.format(
            registry=root / "registry.db",
            online=f"  type: sqlite\n  path: {root / 'online.db'}",
        )
    )
    (repo / "featurestore.yaml").write_text(featurestore_yaml(data_dir, options))
    (repo / "definitions.py").write_text(DEFINITIONS)
    return repo


def write_tables(
    project: Project,
    customers: pa.Table | None = None,
    merchants: pa.Table | None = None,
) -> None:
    """The two feature tables at the project's locations (delta-rs)."""
    storage = project.storage_options
    for name, rows in (
        ("customer_stats", customers if customers is not None else customer_rows()),
        ("merchant_risk", merchants if merchants is not None else merchant_rows()),
    ):
        location = project.table_uri(name)
        write_deltalake(
            location,
            rows,
            mode="overwrite",
            storage_options=storage.for_location(location),
        )


def apply(repo: Path) -> FeatureStore:
    """``feast apply`` of the definitions (the registry keeps table references)."""
    ns: dict[str, object] = {}
    exec(compile(DEFINITIONS, str(repo / "definitions.py"), "exec"), ns)
    store = FeatureStore(repo_path=str(repo))
    store.apply([ns[name] for name in OBJECTS])  # type: ignore[misc]
    return store
