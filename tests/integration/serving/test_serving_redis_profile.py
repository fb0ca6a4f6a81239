"""feature_repo/feature_store.redis.yaml parses, with ${FS_REDIS} expanded."""

from __future__ import annotations

from pathlib import Path

from feast.repo_config import load_repo_config

REPO = Path(__file__).resolve().parents[3] / "feature_repo"


def test_redis_profile_expands_fs_redis(monkeypatch):
    monkeypatch.setenv("FS_REDIS", "10.0.0.7:6380")
    config = load_repo_config(REPO, REPO / "feature_store.redis.yaml")
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "10.0.0.7:6380"
    assert config.project == load_repo_config(REPO, REPO / "feature_store.yaml").project
