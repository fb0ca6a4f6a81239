"""The server's command line: flags that override the FS_* environment."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from featurestore.services.server.settings import (
    ServerSettings,
    flag_locations,
    project_problem,
    settings_problem,
)

_FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    # (flag, settings field, argparse keywords); help names the env variable.
    ("--address", "address", {"help": "host:port (default 127.0.0.1:6566)"}),
    (
        "--repo",
        "repo_path",
        {
            "type": Path,
            "help": "the Feast repo (default: $FS_REPO_PATH, which wins over "
            "the working directory; else . when it holds feature_store.yaml, "
            "else ./feature_repo)",
        },
    ),
    ("--feature-store-yaml", "feature_store_yaml", {"type": Path}),
    ("--data-dir", "data_dir", {"help": "data root, a path or URI (s3://bucket/p)"}),
    (
        "--entity-roots",
        "entity_roots",
        {
            "action": "append",
            "metavar": "ROOT",
            "help": "a root entity_rows_path may read under "
            "(repeatable; default DATA_DIR/entities)",
        },
    ),
    (
        "--training-set-root",
        "training_set_root",
        {
            "metavar": "ROOT",
            "help": "the root output_path writes training sets under "
            "(default DATA_DIR/training_sets)",
        },
    ),
    (
        "--server-paths",
        "server_paths",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "allow entity_rows_path/output_path "
            "(--no-server-paths: inline rows only)",
        },
    ),
    (
        "--metrics-port",
        "metrics_port",
        {"type": int, "help": "serve Prometheus metrics on 127.0.0.1:PORT"},
    ),
    (
        "--serving-log",
        "serving_log",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "log a sample of online reads to DATA_DIR/serving_logs "
            "(--serving-log-sample-rate, default 0.01)",
        },
    ),
    ("--serving-log-sample-rate", "serving_log_sample_rate", {"type": float}),
    ("--tls-cert", "tls_cert", {"type": Path, "help": "PEM certificate chain"}),
    ("--tls-key", "tls_key", {"type": Path, "help": "PEM private key"}),
    (
        "--tls-client-ca",
        "tls_client_ca",
        {"type": Path, "help": "PEM CA bundle: require client certificates (mTLS)"},
    ),
    (
        "--allow-insecure",
        "allow_insecure",
        {
            "action": "store_const",
            "const": True,
            "help": "serve a non-loopback address without TLS and "
            "authentication (trusted networks only)",
        },
    ),
    ("--auth", "auth", {"choices": ("none", "api_keys", "oidc")}),
    ("--api-keys-file", "api_keys_file", {"type": Path}),
    ("--oidc-issuer", "oidc_issuer", {}),
    ("--oidc-audience", "oidc_audience", {}),
    ("--oidc-jwks-url", "oidc_jwks_url", {}),
    ("--oidc-jwks-file", "oidc_jwks_file", {"type": Path}),
    ("--audit-log", "audit_log", {"type": Path, "help": "JSON lines, one per call"}),
    (
        "--audit-on-failure",
        "audit_on_failure",
        {
            "choices": ("refuse", "serve"),
            "help": "while the audit log cannot be written: refuse calls "
            "UNAVAILABLE (default) or serve on",
        },
    ),
    (
        "--reflection",
        "reflection",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "gRPC server reflection (default: on without auth, off with auth)",
        },
    ),
    (
        "--workers",
        "workers",
        {
            "type": int,
            "help": "server processes sharing the port via SO_REUSEPORT, "
            "one GIL each (default 1); worker i serves metrics on PORT+i",
        },
    ),
    (
        "--front",
        "front",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "serve gRPC from the compiled front (fs-front, "
            "`make front`), online reads handed to the --workers processes "
            "over Unix sockets",
        },
    ),
    (
        "--front-procs",
        "front_procs",
        {
            "type": int,
            "help": "threads running fs-front's Go code at once, its GOMAXPROCS "
            "(default: a third of the CPUs, at least 1)",
        },
    ),
)


PROG = "python -m featurestore.services.server"


def build_parser(
    description: str | None = None,
    prog: str = PROG,
    extra_flags: tuple[tuple[str, str, str], ...] = (),
) -> argparse.ArgumentParser:
    """The argument parser of ``python -m featurestore.services.server``.

    ``extra_flags`` lists ``(flag, metavar, help)`` of flags the calling
    command takes out of argv itself (``featurestore serve --ui-address``), so
    ``--help`` lists them with the server's own.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for flag, metavar, text in extra_flags:
        parser.add_argument(flag, metavar=metavar, help=text)
    for flag, field, keywords in _FLAGS:
        env = f"env FS_{field.upper()}"
        help_text = keywords.get("help")
        parser.add_argument(
            flag,
            dest=field,
            default=None,
            **{**keywords, "help": f"{help_text} ({env})" if help_text else env},
        )
    parser.add_argument(
        "--no-tls",
        action="store_true",
        help="ignore --tls-* and FS_TLS_* (workers behind fs-front, "
        "which terminates TLS)",
    )
    return parser


def settings_from_args(
    argv: list[str] | None,
    description: str | None = None,
    prog: str = PROG,
    extra_flags: tuple[tuple[str, str, str], ...] = (),
) -> ServerSettings:
    """ServerSettings from FS_* overridden by the flags in ``argv``.

    ``prog`` names the command in usage and errors (``featurestore serve``).

    Raises:
        SystemExit: 2 on a bad flag (argparse) or a value out of range (one
            line naming the setting).
    """
    parser = build_parser(description, prog, extra_flags)
    args = parser.parse_args(argv)
    overrides = {
        field: getattr(args, field)
        for _, field, _ in _FLAGS
        if getattr(args, field) is not None
    }
    if args.no_tls:
        overrides.update(tls_cert=None, tls_key=None, tls_client_ca=None)
    try:
        return ServerSettings(**flag_locations(overrides))
    except ValidationError as exc:
        project = project_problem(exc)
        if project is not None:  # the project's file, not a flag: no usage block
            parser.exit(2, f"{parser.prog}: error: {project}\n")
        parser.error(settings_problem(exc, {field: flag for flag, field, _ in _FLAGS}))
