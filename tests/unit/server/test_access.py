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
    # A JWKS URL given: nothing to discover before the first token.
    check_auth_settings(
        ServerSettings(
            auth="oidc",
            oidc_issuer="https://i.example",
            oidc_audience="fs",
            oidc_jwks_url="https://i.example/jwks",
        )
    )


def test_main_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--auth", "oidc", "--oidc-issuer", "https://i.example"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "oidc_audience" in err


def test_a_malformed_key_file_is_refused_without_quoting_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        'keys:\n  - {id: "abc, hash: "$argon2id$v=19$m=19456,t=2,p=1$SALTHASH",'
        " principal: a}\n"
    )
    with pytest.raises(AuthConfigError) as refused:
        check_auth_settings(ServerSettings(auth="api_keys", api_keys_file=keys))
    said = str(refused.value)
    assert "keys.yaml is not a valid key file (line 2)" in said
    assert "SALTHASH" not in said and refused.value.__cause__ is None
    # serve: one line, exit 2, before anything starts (was a 105-line traceback
    # quoting the line, from create_server).
    assert main(["--auth", "api_keys", "--api-keys-file", str(keys)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "SALTHASH" not in err


def test_a_failed_discovery_is_refused_without_the_issuers_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    issuer = "http://user:pw-SECRET@127.0.0.1:9"
    argv = ["--auth", "oidc", "--oidc-issuer", issuer, "--oidc-audience", "fs"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "OIDC discovery failed at http://***@127.0.0.1:9/" in err
    assert "pw-SECRET" not in err and "user:" not in err
