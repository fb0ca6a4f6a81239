"""The top-level group, ``version`` and ``main``."""

from __future__ import annotations

import importlib
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NamedTuple

import click

from featurestore.services.cli._common import (
    INTERRUPTED,
    USAGE,
    echo_json,
    json_option,
)

_HELP = """Contract-checked Delta feature tables, a Feast repo and a gRPC service.

\b
Exit codes:
  0  ok
  1  contract or validation failure (findings, failing rows, a failed job)
  2  usage: unknown command, flag, name or file; unusable settings
"""

_PACKAGES = ("featurestore", "feast", "pyspark", "deltalake")


class _Command(NamedTuple):
    """A command loaded when it is run: its modules and its line in --help."""

    modules: tuple[str, ...]
    """Modules of ``featurestore.services.cli`` that define it (``COMMANDS``)."""
    short_help: str
    """What ``featurestore --help`` says of it."""


# Commands are imported only when run: each module pulls in what its commands
# need (Feast, pandas, pyarrow, ...), about a second of imports that
# `featurestore auth list-keys` or `--help` must not pay. The short help lives
# here, not on the command, so --help lists them without importing any.
_COMMANDS = {
    "auth": _Command(("_serve",), "Manage API keys (--api-keys-file of serve)."),
    "contracts": _Command(
        ("_contracts",), "Inspect, diff and check contracts; validate files."
    ),
    "init": _Command(("_project",), "Scaffold a new project in DIRECTORY."),
    "lineage": _Command(("_data",), "Versions of a Delta table and what made each."),
    "materialize": _Command(
        ("_data",), "Delta tables -> the online store (Feast's bytes)."
    ),
    "monitor": _Command(
        ("_monitor", "_monitor_drift"),
        "Freshness, profiles, drift and skew of the feature tables.",
    ),
    "registry": _Command(
        ("_project",), "Repair the Feast registry of a copied or moved project."
    ),
    "run": _Command(("_jobs",), "Run a Spark job, or print its spark-submit line."),
    "serve": _Command(
        ("_serve",), "Run the gRPC server (see serve --help for its flags)."
    ),
    "training-set": _Command(
        ("_training",), "A point-in-time training set and its manifest."
    ),
    "ui": _Command(("_ui",), "Serve the web console."),
}


_LIGHT = ("auth", "version")
"""Commands that read no FS_* setting and must stay quick to import."""


class _Group(click.Group):
    """The root group: a project that cannot be found or read, or an object
    URI no store can take, is usage (exit 2); Ctrl-C is one line and exit 130.
    Subcommands are imported when run (``_COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            for name in _COMMANDS[cmd_name].modules:
                module = importlib.import_module(f"featurestore.services.cli.{name}")
                for command in module.COMMANDS:
                    self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name not in _LIGHT:  # they load no settings models (no pyarrow)
            from featurestore.services.cli._environment import (
                warn_misspelled_variables,
            )

            warn_misspelled_variables()
        return name, command, rest

    def format_commands(
        self, ctx: click.Context, formatter: click.HelpFormatter
    ) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._short_help(name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _short_help(self, name: str, limit: int) -> str:
        if name in _COMMANDS:
            return _COMMANDS[name].short_help  # short: no need to cut it
        return self.commands[name].get_short_help_str(limit)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C: one line, 128 + SIGINT
            click.echo("featurestore: interrupted", err=True)
            raise click.exceptions.Exit(INTERRUPTED) from None
        except Exception as exc:
            problem = _usage_problem(exc)
            if problem is None:
                raise
            click.echo(f"error: {problem}", err=True)
            raise click.exceptions.Exit(USAGE) from exc


def _usage_problem(exc: Exception) -> str | None:
    """``reason: message`` of a project that cannot be found or read, or of an
    object URI no store can take (s3://b/a//x, s3://b/a/../x from a user)."""
    # Looked up, not imported: loading the project or storage packages loads
    # pyarrow, which `auth` and `version` do not need; and an error whose module
    # was never loaded cannot have been raised. (Absent in an installation
    # without project support.)
    project = sys.modules.get("featurestore.services.project.errors")
    if project is not None and isinstance(exc, project.ProjectError):
        return f"{exc.reason.value}: {exc}"
    uri = sys.modules.get("featurestore.services.storage.uri")
    if uri is not None and isinstance(exc, uri.ObjectUriError):
        return f"{exc.reason}: {exc}"
    return None


@click.group(
    cls=_Group,
    help=_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def cli() -> None:
    """The ``featurestore`` group (subcommands are registered below)."""


@cli.command("version", short_help="Versions of featurestore and its engines.")
@json_option
def version_command(as_json: bool) -> None:
    """Print the package version and those of Python, Feast, pyspark, deltalake."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    if as_json:
        echo_json(versions)
        return
    for name, value in versions.items():
        click.echo(f"{name}\t{value or '-'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``featurestore``; return its exit code (0 ok, 1 failure, 2 usage)."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else sys.argv[1:],
            prog_name="featurestore",
            standalone_mode=False,
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # Ctrl-C, SIGINT
            click.echo("featurestore: interrupted", err=True)
            return INTERRUPTED
        click.echo("Aborted!", err=True)  # end of input at a prompt
        return 1
    except KeyboardInterrupt:  # raised outside click's own handling
        click.echo("featurestore: interrupted", err=True)
        return INTERRUPTED
    return result if isinstance(result, int) else 0
