"""A feature-store project: where it is, where its data and contracts live."""

from __future__ import annotations

from featurestore.services.project.config import (
    FEAST_CONFIG,
    FRONT_BINARY,
    PROJECT_CONFIG,
    TABLE_SCHEME,
    Caches,
    Project,
    ProjectConfig,
    config_problem,
    default_cache_dir,
    default_ivy_dir,
    find_front_binary,
    load_config,
    table_ref,
    table_uri,
    user_jobs,
)
from featurestore.services.project.errors import (
    DirectoryNotEmptyError,
    InvalidProjectNameError,
    ProjectConfigError,
    ProjectError,
    ProjectErrorReason,
    ProjectNotFoundError,
)
from featurestore.services.project.scaffold import next_steps_text, scaffold
from featurestore.services.storage import is_uri

__all__ = [
    "FEAST_CONFIG",
    "FRONT_BINARY",
    "PROJECT_CONFIG",
    "TABLE_SCHEME",
    "Caches",
    "DirectoryNotEmptyError",
    "InvalidProjectNameError",
    "Project",
    "ProjectConfig",
    "ProjectConfigError",
    "ProjectError",
    "ProjectErrorReason",
    "ProjectNotFoundError",
    "config_problem",
    "default_cache_dir",
    "default_ivy_dir",
    "find_front_binary",
    "is_uri",
    "load_config",
    "next_steps_text",
    "scaffold",
    "table_ref",
    "table_uri",
    "user_jobs",
]
