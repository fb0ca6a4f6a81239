"""Fixtures: one demo-like project per session and consoles over it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from featurestore.services.auth import add_key
from tests.integration.ui._console import (
    RunningConsole,
    console_at_provider,
    start_console,
)
from tests.integration.ui._project import ConsoleProject, build_project


@pytest.fixture(scope="session")
def console_project(
    spark: object, tmp_path_factory: pytest.TempPathFactory
) -> ConsoleProject:
    """Real jobs, Delta versions, quarantine, feast apply + materialize."""
    return build_project(tmp_path_factory.mktemp("console"))


@pytest.fixture(scope="session")
def open_console(console_project: ConsoleProject) -> Iterator[RunningConsole]:
    """The console on loopback with auth none (development, as `serve`)."""
    console = start_console(console_project)
    yield console
    console.stop()


@dataclass(frozen=True)
class Keys:
    """API keys by principal: admin (every role), reader, auditor (DESCRIBE on
    the project only), nobody (no role)."""

    admin: str
    reader: str
    auditor: str
    nobody: str
    file: Path
    audit: Path


@pytest.fixture(scope="session")
def keys(console_project: ConsoleProject) -> Keys:
    """A key file with four principals (Feast permissions from feature_repo)."""
    folder = console_project.repo.parent
    file = folder / "keys.yaml"
    return Keys(
        admin=add_key(file, "ada", ["admin"]),
        reader=add_key(file, "rita", ["reader"]),
        auditor=add_key(file, "otto", ["auditor"]),
        nobody=add_key(file, "nemo", []),
        file=file,
        audit=folder / "console-audit.jsonl",
    )


@pytest.fixture(scope="session")
def keyed_console(
    console_project: ConsoleProject, keys: Keys
) -> Iterator[RunningConsole]:
    """The console with API keys, permissions enforced and an audit log."""
    console = start_console(
        console_project,
        "--auth", "api_keys", "--api-keys-file", str(keys.file),
        "--audit-log", str(keys.audit),
    )  # fmt: skip
    yield console
    console.stop()


@dataclass(frozen=True)
class OidcConsole:
    """A console signing in at a real OpenID Provider as a confidential client."""

    console: RunningConsole
    issuer: str
    secret_file: Path
    audit: Path


@pytest.fixture(scope="session")
def confidential_console(
    console_project: ConsoleProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OidcConsole]:
    """alice (role reader) signs in with the authorization code flow + PKCE;
    the console's client secret is in a file, its audit log beside it."""
    folder = tmp_path_factory.mktemp("oidc-console")
    secret_file = folder / "client-secret"
    secret_file.write_text("console-secret\n", encoding="utf-8")
    with console_at_provider(
        console_project,
        "--oidc-client-secret-file", str(secret_file),
        "--audit-log", str(folder / "audit.jsonl"),
        secret="console-secret",
    ) as (console, issuer):  # fmt: skip
        yield OidcConsole(console, issuer, secret_file, folder / "audit.jsonl")
