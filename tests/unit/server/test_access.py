"""Auth settings that cannot work are refused before the server starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.services.auth import AuthConfigError, add_key
from featurestore.services.server.__main__ import main
from featurestore.services.server.access import check_auth_settings
from featurestore.services.server.settings import ServerSettings


@pytest.mark.parametrize(
    "settings",
    [
        {"auth": "api_keys"},
        {"auth": "api_keys", "api_keys_file": "/nonexistent/keys.yaml"},
        {"auth": "oidc", "oidc_audience": "featurestore"},
        {"auth": "oidc", "oidc_issuer": "https://issuer.example"},  # no audience
        {
            "auth": "oidc",
            "oidc_issuer": "https://issuer.example",
            "oidc_audience": "featurestore",
            "oidc_algorithms": ["RS256", "HS256"],
        },
    ],
    ids=["no-key-file", "missing-key-file", "no-issuer", "no-audience", "hs256"],
)
def test_unusable_auth_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(AuthConfigError):
        check_auth_settings(ServerSettings(**settings))  # type: ignore[arg-type]


def test_usable_auth_settings_pass(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    add_key(keys, "alice", ["reader"])
    check_auth_settings(ServerSettings(auth="api_keys", api_keys_file=keys))
    check_auth_settings(
        ServerSettings(auth="oidc", oidc_issuer="https://i.example", oidc_audience="fs")
    )


def test_main_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--auth", "oidc", "--oidc-issuer", "https://i.example"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "oidc_audience" in err
