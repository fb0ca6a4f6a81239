"""``featurestore ui``: the web console over the project, as secure as ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from featurestore.services.cli._common import USAGE

_HELP = """Serve the web console (read-only) until SIGTERM/SIGINT.

Feature views, contracts and their diffs, table history and lineage, quality
and quarantine, drift, online lookup and training sets, over the same
registry, Delta tables and contracts as `featurestore serve`.

\b
Security is the server's: the same --auth (API keys, OIDC), the same Feast
permissions, the same audit log; a non-loopback --address needs TLS and
auth unless --allow-insecure. FS_* environment variables apply as for serve
(FS_UI_ADDRESS for the address).
"""


def _path(**kwargs: Any) -> Any:
    return click.Path(path_type=Path, **kwargs)


_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--address", "ui_address", {"help": "host:port (default 127.0.0.1:8765)"}),
    ("--repo", "repo_path", {"type": _path(file_okay=False), "help": "the Feast repo"}),
    ("--feature-store-yaml", "feature_store_yaml", {"type": _path(dir_okay=False)}),
    ("--data-dir", "data_dir", {"type": _path(), "help": "data root"}),
    ("--training-set-root", "training_set_root", {"help": "where training sets are"}),
    ("--tls-cert", "tls_cert", {"type": _path(dir_okay=False)}),
    ("--tls-key", "tls_key", {"type": _path(dir_okay=False)}),
    ("--tls-client-ca", "tls_client_ca", {"type": _path(dir_okay=False)}),
    ("--auth", "auth", {"type": click.Choice(["none", "api_keys", "oidc"])}),
    ("--api-keys-file", "api_keys_file", {"type": _path(dir_okay=False)}),
    ("--oidc-issuer", "oidc_issuer", {}),
    ("--oidc-audience", "oidc_audience", {}),
    ("--oidc-jwks-url", "oidc_jwks_url", {}),
    ("--oidc-jwks-file", "oidc_jwks_file", {"type": _path(dir_okay=False)}),
    ("--oidc-client-id", "ui_oidc_client_id", {"help": "sign-in with the issuer"}),
    (
        "--oidc-client-secret-file",
        "ui_oidc_client_secret_file",
        {"type": _path(dir_okay=False), "help": "for a confidential client"},
    ),
    ("--oidc-resource", "ui_oidc_resource", {"help": "RFC 8707 resource to ask"}),
    ("--public-url", "ui_public_url", {"help": "URL browsers use (OIDC redirect)"}),
    ("--audit-log", "audit_log", {"type": _path(dir_okay=False)}),
)


def _with_options(command: Any) -> Any:
    for flag, field, keywords in reversed(_OPTIONS):
        env = f"FS_{field.upper()}"
        text = keywords.get("help")
        command = click.option(
            flag,
            field,
            default=None,
            **{**keywords, "help": f"{text} ({env})" if text else env},
        )(command)
    return click.option(
        "--allow-insecure",
        "allow_insecure",
        is_flag=True,
        default=None,
        help="serve a non-loopback address without TLS and auth (trusted "
        "networks only)",
    )(command)


@click.command("ui", help=_HELP)
@_with_options
def ui(**values: Any) -> None:
    import pydantic

    from featurestore.services.auth import AuthConfigError
    from featurestore.services.server.logs import log_to_stderr
    from featurestore.services.server.settings import (
        flag_locations,
        settings_problem,
    )
    from featurestore.services.server.transport import ConfigError
    from featurestore.services.ui import UiSettings, run_console

    log_to_stderr("%(levelname)s %(name)s: %(message)s")
    overrides = flag_locations({k: v for k, v in values.items() if v is not None})
    try:
        settings = UiSettings(**overrides)
        code = run_console(settings)
    except pydantic.ValidationError as exc:
        flags = {field: flag for flag, field, _ in _OPTIONS}
        flags["allow_insecure"] = "--allow-insecure"
        click.echo(f"featurestore ui: {settings_problem(exc, flags)}", err=True)
        raise click.exceptions.Exit(USAGE) from None
    except (ConfigError, AuthConfigError, ValueError) as exc:
        click.echo(f"featurestore ui: {exc}", err=True)
        raise click.exceptions.Exit(USAGE) from exc
    if code:
        raise click.exceptions.Exit(code)


COMMANDS = [ui]
