"""The README's object-storage featurestore.yaml is a valid project config."""

from __future__ import annotations

import re
from pathlib import Path

from featurestore.services.project import Project

README = Path(__file__).resolve().parents[3] / "README.md"


def _snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Tables on object storage")[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_config_locates_tables_in_the_bucket(tmp_path: Path) -> None:
    (tmp_path / "feature_store.yaml").write_text("project: p\n")
    (tmp_path / "featurestore.yaml").write_text(_snippet())
    env = {"FS_S3_KEY_ID": "AKIA-TEST", "FS_S3_SECRET": "not-in-the-file"}
    project = Project.load(tmp_path, env=env)
    assert project.table_uri("customer_spend") == (
        "s3://features-bucket/prod/features/customer_spend"
    )
    options = project.storage_options.for_location(project.data_dir)
    assert options is not None
    assert options["AWS_SECRET_ACCESS_KEY"] == "not-in-the-file"
    assert options["AWS_ACCESS_KEY_ID"] == "AKIA-TEST"
    assert "not-in-the-file" not in repr(project)
