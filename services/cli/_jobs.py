"""``featurestore run JOB``: a Spark job in this process, or its spark-submit line."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import cast

import click

from featurestore.services.cli._common import USAGE, spinner, usage_error

BUILT_IN_JOBS = (
    "generate_raw_events",
    "build_customer_spend",
    "build_merchant_risk",
    "build_training_set",
)
"""Jobs shipped in ``featurestore.spark_jobs.jobs``."""


def jobs(repo: Path | None = None) -> dict[str, str]:
    """Job name -> module: the built-ins, then the project's own jobs.

    A project (``featurestore.services.project``) may list its jobs with
    ``user_jobs(repo) -> Mapping[str, str]`` (name -> importable module with
    ``main(argv) -> int``; ``repo`` None finds the project as feast does); a
    project job may not shadow a built-in.
    """
    found = {name: f"featurestore.spark_jobs.jobs.{name}" for name in BUILT_IN_JOBS}
    try:
        project = importlib.import_module("featurestore.services.project")
    except ImportError:
        return found
    listing = getattr(project, "user_jobs", None)
    if callable(listing):
        try:
            user = cast("Mapping[str, str]", listing(repo))
        except project.ProjectError as exc:  # a malformed featurestore.yaml
            raise usage_error(f"{exc.reason.value}: {exc}") from exc
        found.update({k: v for k, v in user.items() if k not in found})
    return found


def submit_command(module: str, args: list[str], master: str) -> list[str]:
    """The spark-submit line for job ``module``: packages (S3A included when the
    project is on S3) and Ivy cache as ``build_spark_session`` sets them, this
    interpreter on the workers."""
    from featurestore.spark_jobs.session import (
        IVY_DIR,
        S3A_EXCLUDES,
        spark_packages,
        wants_s3a,
    )

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise click.UsageError(f"job module {module} not found")
    s3a = wants_s3a()
    return [
        _spark_submit(),
        "--master", master,
        "--packages", spark_packages(s3a),
        *(["--exclude-packages", S3A_EXCLUDES] if s3a else []),
        "--conf", f"spark.jars.ivy={IVY_DIR}",
        "--conf", f"spark.pyspark.python={sys.executable}",
        "--conf", "spark.driver.extraJavaOptions=-Duser.timezone=UTC",
        "--conf", "spark.executor.extraJavaOptions=-Duser.timezone=UTC",
        spec.origin,
        *args,
    ]  # fmt: skip


def _spark_submit() -> str:
    # pyspark's own bin/spark-submit: it finds SPARK_HOME beside itself, where
    # the venv's bin/spark-submit asks a `python3` on PATH that may lack pyspark.
    spec = importlib.util.find_spec("pyspark")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "bin" / "spark-submit"
        if binary.exists():
            return str(binary)
    return "spark-submit"


def _job_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    known = jobs(ctx.params.get("repo"))
    if value not in known:
        raise click.BadParameter(f"unknown job {value!r}; jobs: {', '.join(known)}")
    return value


@click.command(
    "run",
    short_help="Run a Spark job, or print its spark-submit line.",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    is_eager=True,
    help="the project whose jobs to list (default: found as feast finds it)",
)
@click.argument("job", callback=_job_name)
@click.argument("job_args", nargs=-1, type=click.UNPROCESSED, metavar="[JOB ARGS]...")
@click.option(
    "--print-submit",
    is_flag=True,
    help="print the spark-submit line for the job instead of running it",
)
@click.option(
    "--submit", is_flag=True, help="run the job through that spark-submit line"
)
@click.option(
    "--master",
    default=None,
    help="Spark master of the spark-submit line (default: $FS_SPARK_MASTER or "
    "local[*]); for a local run pass the job's own --master after JOB",
)
def run(
    job: str, job_args: tuple[str, ...], print_submit: bool, submit: bool,
    master: str | None, repo: Path | None,
) -> None:  # fmt: skip
    """Run JOB (its main(argv)) in this process with the JOB ARGS after it.

    Jobs: generate_raw_events, build_customer_spend, build_merchant_risk,
    build_training_set and the project's own. `featurestore run JOB --help`
    shows the job's arguments. Exit 1 when the job fails (bad input, contract
    violation), 2 on a bad argument.
    """
    module = jobs(repo)[job]
    if print_submit or submit:
        line = submit_command(
            module,
            list(job_args),
            master or os.environ.get("FS_SPARK_MASTER", "local[*]"),
        )
        if print_submit:
            click.echo(shlex.join(line))
            return
        raise click.exceptions.Exit(subprocess.call(line))
    entry = cast("Callable[[list[str]], int]", importlib.import_module(module).main)
    try:
        with spinner(f"running {job}"):
            code = entry(list(job_args))
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2)
        code = exc.code if isinstance(exc.code, int) else USAGE
    if code:
        raise click.exceptions.Exit(code)


COMMANDS = [run]
