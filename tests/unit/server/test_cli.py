"""The server's flags: each overrides its FS_* variable; --no-tls clears TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.services.server.cli import settings_from_args


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FS_AUTH", "oidc")
    monkeypatch.setenv("FS_REFLECTION", "true")
    monkeypatch.setenv("FS_ENTITY_ROOTS", '["/env"]')
    settings = settings_from_args(
        ["--auth", "api_keys", "--no-reflection", "--entity-roots", "/a",
         "--entity-roots", "s3://b/c", "--no-server-paths", "--allow-insecure",
         "--api-keys-file", "keys.yaml", "--audit-log", "audit.jsonl"]
    )  # fmt: skip
    assert settings.auth == "api_keys"
    assert settings.reflection is False
    assert settings.entity_roots == ["/a", "s3://b/c"]
    assert settings.server_paths is False
    assert settings.allow_insecure is True
    assert settings.api_keys_file == Path("keys.yaml")
    assert settings.audit_log == Path("audit.jsonl")


def test_unset_flags_leave_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FS_AUTH", "oidc")
    monkeypatch.setenv("FS_ALLOW_INSECURE", "1")
    settings = settings_from_args([])
    assert settings.auth == "oidc"
    assert settings.allow_insecure is True
    assert settings.reflection is None
    assert settings_from_args(["--reflection"]).reflection is True


def test_no_tls_clears_tls_from_flags_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FS_TLS_CERT", "/env/cert.pem")
    monkeypatch.setenv("FS_TLS_CLIENT_CA", "/env/ca.pem")
    assert settings_from_args([]).tls_cert == Path("/env/cert.pem")
    settings = settings_from_args(["--tls-key", "/k.pem", "--no-tls"])
    assert (settings.tls_cert, settings.tls_key, settings.tls_client_ca) == (
        None,
        None,
        None,
    )
