"""The FS_* variables the product reads, and a warning for a misspelled one."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping

import click

PREFIX = "FS_"

SETTINGS_VARIABLES = frozenset(
    # FS_ + each field of ServerSettings and UiSettings (its subclass), as
    # pydantic-settings reads them. Written out, not read from the models:
    # importing them takes 1.5-4 s, which every command would pay before its
    # work; tests/unit/cli/test_environment.py keeps the two equal.
    [
        "ADDRESS",
        "ALLOW_INSECURE",
        "API_KEYS_FILE",
        "AUDIT_LOG",
        "AUDIT_ON_FAILURE",
        "AUTH",
        "CONTRACTS_DIR",
        "DATA_DIR",
        "ENTITY_ROOTS",
        "FEATURE_STORE_YAML",
        "FRONT",
        "FRONT_BINARY",
        "FRONT_PROCS",
        "GRACE_SECONDS",
        "MAX_HEALTH_WATCHERS",
        "MAX_HISTORICAL_ENTITY_ROWS",
        "MAX_HISTORICAL_STREAMS",
        "MAX_ONLINE_ENTITY_ROWS",
        "MAX_REQUEST_BYTES",
        "MAX_STREAM_MESSAGE_BYTES",
        "MAX_WORKERS",
        "METRICS_PORT",
        "OIDC_ALGORITHMS",
        "OIDC_AUDIENCE",
        "OIDC_ISSUER",
        "OIDC_JWKS_COOLDOWN_SECONDS",
        "OIDC_JWKS_FILE",
        "OIDC_JWKS_URL",
        "OIDC_LEEWAY_SECONDS",
        "OIDC_ROLES_CLAIM",
        "ONLINE_SOCKET",
        "ONLINE_TIMEOUT_SECONDS",
        "REFLECTION",
        "REGISTRY_REFRESH_SECONDS",
        "REPO_PATH",
        "REUSE_PORT",
        "SERVER_PATHS",
        "SERVING_LOG",
        "SERVING_LOG_FLUSH_SECONDS",
        "SERVING_LOG_QUEUE",
        "SERVING_LOG_SAMPLE_RATE",
        "TLS_CERT",
        "TLS_CLIENT_CA",
        "TLS_KEY",
        "TRAINING_SET_ROOT",
        "UI_ADDRESS",
        "UI_OIDC_CLIENT_ID",
        "UI_OIDC_CLIENT_SECRET_FILE",
        "UI_OIDC_RESOURCE",
        "UI_PAGE_SIZE",
        "UI_PUBLIC_URL",
        "UI_SESSION_MINUTES",
        "WORKERS",
    ]
)

PROCESS_VARIABLES = {
    "FS_IVY_DIR": "Ivy cache of the Delta jars (project.default_ivy_dir)",
    "FS_SPARK_MASTER": "Spark master of jobs and spark-submit lines",
    "FS_SPARK_S3": "1/0: load the S3A jars into Spark sessions",
    "FS_DRIVER_MEMORY": "spark.driver.memory of the jobs' Spark sessions",
    "FS_FEAST_TYPECHECKS": "1: keep Feast's runtime type checks (featurestore/)",
}
"""Variables read outside the settings models: by the project, the Spark
session and the package itself."""

KNOWN_VARIABLES = frozenset(
    {*(PREFIX + name for name in SETTINGS_VARIABLES), *PROCESS_VARIABLES}
)
"""Every FS_* name the product reads: the one list of them."""

CLOSE_ENOUGH = 0.8
"""difflib ratio from which an unknown name is taken for a misspelling."""


def misspelled_variables(
    env: Mapping[str, str], known: Iterable[str] = KNOWN_VARIABLES
) -> list[tuple[str, str]]:
    """``(name, closest known name)`` for each FS_* variable in ``env`` that
    is no setting but close to one (or the start of one), sorted. A name
    close to none is taken for the user's own (``${FS_S3_SECRET}`` in
    storage_options, as README shows), not a typo."""
    names = sorted(set(known))
    found = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in names:
            continue
        close = difflib.get_close_matches(name, names, n=1, cutoff=CLOSE_ENOUGH)
        longer = [known for known in names if known.startswith(name + "_")]
        if close or longer:  # or a known name cut short at an underscore
            found.append((name, (close or longer)[0]))
    return found


def warn_misspelled_variables(env: Mapping[str, str] | None = None) -> None:
    """One stderr line per FS_* variable that looks like a misspelled setting,
    which would otherwise be ignored without a word (pydantic-settings reads
    only the names it knows)."""
    env = os.environ if env is None else env
    for name, close in misspelled_variables(env):
        click.echo(
            f"warning: {name} is no featurestore setting and is ignored; "
            f"did you mean {close}?",
            err=True,
        )
