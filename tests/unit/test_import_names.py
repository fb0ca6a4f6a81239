"""Everything imports through ``featurestore``: no bare ``services``/``spark_jobs``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BARE = re.compile(
    r"^\s*(from|import)\s+(services|spark_jobs)\b|-m (services|spark_jobs)\.", re.M
)


def test_no_module_uses_the_folder_names_as_import_names() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("services", "spark_jobs", "tests", "benchmarks", "feature_repo")
        for path in (ROOT / folder).rglob("*.py")
        if BARE.search(path.read_text())
    ]
    assert offenders == []


def test_the_installed_names_resolve_to_the_folders() -> None:
    import featurestore.services
    import featurestore.spark_jobs
    import featurestore.v1

    assert Path(featurestore.services.__file__).parent == ROOT / "services"
    assert Path(featurestore.spark_jobs.__file__).parent == ROOT / "spark_jobs"
    assert Path(featurestore.v1.__file__).parent == ROOT / "proto/featurestore/v1"
