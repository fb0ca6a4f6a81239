"""``featurestore run JOB``: a Spark job in this process, or its spark-submit line."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

import click

from featurestore.services.cli._common import (
    FAILED,
    INTERRUPTED,
    USAGE,
    announce_found_project,
    spinner,
    usage_error,
)

if TYPE_CHECKING:
    from featurestore.spark_jobs.commits import Outcome

BUILT_IN_JOBS = (
    "generate_raw_events",
    "build_customer_spend",
    "build_merchant_risk",
    "build_training_set",
)
"""Jobs shipped in ``featurestore.spark_jobs.jobs``."""


def jobs(repo: Path | None = None) -> dict[str, str]:
    """Job name -> module: the built-ins, then the project's own jobs.

    A project lists its jobs in featurestore.yaml (``user_jobs``: name ->
    importable module with ``main(argv) -> int``; ``repo`` None finds the
    project as feast does); a project job may not shadow a built-in.

    Raises:
        ProjectError: ``repo`` or ``$FS_REPO_PATH`` names no project, or its
            featurestore.yaml is malformed: its jobs cannot be listed.
    """
    from featurestore.services.project import user_jobs

    found = {name: _built_in(name) for name in BUILT_IN_JOBS}
    own = user_jobs(repo)
    if clash := sorted(set(own) & set(found)):
        # Silently running the built-in instead would publish (or generate
        # raw data) where the user meant their own job to run.
        raise usage_error(
            f"CONFIG_INVALID: featurestore.yaml's jobs name {', '.join(clash)}, "
            "a built-in job: give the project's job another name"
        )
    return {**found, **own}


def _built_in(job: str) -> str:
    return f"featurestore.spark_jobs.jobs.{job}"


def _module(job: str, repo: Path | None) -> str:
    """The module of ``job``; exit 2 saying why when it cannot be told."""
    from featurestore.services.project import (
        Project,
        ProjectError,
        ProjectNotFoundError,
    )

    try:
        known = jobs(repo)
    except ProjectNotFoundError as exc:
        # A stale $FS_REPO_PATH stops no built-in (they run without a project),
        # but a project job needs the project: say which folder is not there.
        if repo is None and job in BUILT_IN_JOBS:
            return _built_in(job)
        raise usage_error(f"{exc.reason.value}: {exc}") from exc
    except ProjectError as exc:  # a malformed featurestore.yaml
        raise usage_error(f"{exc.reason.value}: {exc}") from exc
    if job not in known:
        hint = ""
        try:
            Project.discover(repo)
        except ProjectNotFoundError:  # only the built-ins were listed
            hint = (
                "; no project here (featurestore.yaml beside feature_store.yaml): "
                "run in the project folder or give --repo"
            )
        raise click.BadParameter(f"unknown job {job!r}; jobs: {', '.join(known)}{hint}")
    return known[job]


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

    try:
        spec = importlib.util.find_spec(module)
    except ImportError:  # a missing parent package: ``jobs.x`` without jobs/
        spec = None
    if spec is None or spec.origin is None:
        raise usage_error(f"JOB_NOT_FOUND: job module {module} not found")
    _check_submittable(module, Path(spec.origin))
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


def _check_submittable(module: str, path: Path) -> None:
    """spark-submit runs the job's file as a script: without ``main`` or an
    ``if __name__ == "__main__":`` block it would run nothing and exit 0.
    Refuse such a job here (usage), as ``run`` refuses one without ``main``.
    """
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError):
        return  # importing it reports the problem, with its own words
    has_main = any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "main"
        for node in tree.body
    )
    if not has_main:
        raise usage_error(f"JOB_NOT_FOUND: job module {module} has no main(argv)")
    guarded = any(
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        for node in tree.body
    )
    if not guarded:
        raise usage_error(
            f'JOB_NOT_SUBMITTABLE: {path} has no `if __name__ == "__main__":` '
            "block, so spark-submit would run nothing; end it with "
            '`if __name__ == "__main__": raise SystemExit(main(sys.argv[1:]))`'
        )


def _spark_submit() -> str:
    # pyspark's own bin/spark-submit: it finds SPARK_HOME beside itself, where
    # the venv's bin/spark-submit asks a `python3` on PATH that may lack pyspark.
    spec = importlib.util.find_spec("pyspark")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "bin" / "spark-submit"
        if binary.exists():
            return str(binary)
    return "spark-submit"


def _job_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    if value is None:  # say which jobs there are, the project's included
        from featurestore.services.project import ProjectError

        try:
            known = list(jobs(ctx.params.get("repo")))
        except ProjectError:  # no project: the built-ins still run
            known = list(BUILT_IN_JOBS)
        raise click.UsageError(f"Missing argument 'JOB': one of {', '.join(known)}")
    _module(value, ctx.params.get("repo"))
    return value


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    is_eager=True,
    help="the project whose jobs to list and run (default: $FS_REPO_PATH when "
    "set, which wins over the working directory; else found as feast finds "
    "it); the job finds it too (as $FS_REPO_PATH)",
)
@click.argument("job", required=False, callback=_job_name, metavar="JOB")
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
    if print_submit and submit:
        raise click.UsageError(
            "--print-submit prints the spark-submit line, --submit runs it: "
            "give one of them"
        )
    module = _module(job, repo)
    env = _job_env(repo)
    if _asks_help(job_args):  # never main(): see _job_help
        with _environment(env):
            code = _job_help(job, module)
        if code:
            raise click.exceptions.Exit(code)
        return
    if print_submit or submit:
        if module != _built_in(job):
            env = {**env, **_project_on_path(repo)}
        with _environment(env):  # the line's packages follow --repo's data root
            line = submit_command(
                module,
                list(job_args),
                master or os.environ.get("FS_SPARK_MASTER", "local[*]"),
            )
        if print_submit:
            prefix = ["env", *(f"{k}={v}" for k, v in env.items())] if env else []
            click.echo(shlex.join([*prefix, *line]))
            return
        raise click.exceptions.Exit(subprocess.call(line, env={**os.environ, **env}))
    entry = _entry(job, _import(job, module), _is_built_in(job, module))
    announce_found_project(repo)  # once the job is known to start
    with _environment(env):
        code = _call(job, entry, list(job_args))
    if code:
        raise click.exceptions.Exit(code)


def _job_env(repo: Path | None) -> dict[str, str]:
    # --repo reaches the job as $FS_REPO_PATH, which Project.discover honours:
    # the job's own discovery (contracts, data root) then sees the same project
    # while relative paths among the job's arguments keep meaning the caller's
    # working directory (a chdir would change them, and the whole process's).
    if repo is None:
        return {}
    from featurestore.services.project import Project

    return {"FS_REPO_PATH": str(Project.discover(repo).repo)}


def _project_on_path(repo: Path | None) -> dict[str, str]:
    """PYTHONPATH with the project folder first, for spark-submit: it runs a
    project job's file as a script, so ``import jobs.helpers`` needs the folder
    on the path as ``featurestore run`` puts it (``user_jobs``). Client mode;
    a cluster-mode driver needs the package shipped (``--py-files``)."""
    from featurestore.services.project import Project

    folder = str(Project.discover(repo).repo)
    rest = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join([folder, rest] if rest else [folder])}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set some environment variables for a block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _import(job: str, module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not _is_job_module(exc.name, module):
            raise _import_failed(job, module, exc) from exc
        # featurestore.yaml names a module (or package) that is not there
        raise usage_error(
            f"JOB_NOT_FOUND: job {job!r}: cannot import {module} ({exc}); "
            "fix `jobs:` in featurestore.yaml"
        ) from exc
    except ImportError as exc:  # inside the job: a missing package, a bad name
        raise _import_failed(job, module, exc) from exc
    except SyntaxError as exc:  # IndentationError too, here or in what it imports
        raise usage_error(
            f"JOB_IMPORT_FAILED: job {job!r} ({module}): {exc.msg} in "
            f"{exc.filename}, line {exc.lineno}"
        ) from exc


def _is_job_module(name: str | None, module: str) -> bool:
    """Whether ``name`` is ``module`` or one of its parent packages."""
    parts = module.split(".")
    return name in {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def _import_failed(job: str, module: str, exc: ImportError) -> click.exceptions.Exit:
    missing = f"module {exc.name}" if exc.name else "a module"
    return usage_error(
        f"JOB_IMPORT_FAILED: job {job!r} ({module}) failed to import {missing}: {exc}"
    )


def _is_built_in(job: str, module: str) -> bool:
    return job in BUILT_IN_JOBS and module == _built_in(job)


def _entry(
    job: str, module: ModuleType, built_in: bool = False
) -> Callable[[list[str]], int]:
    """The job's ``main(argv)``; a built-in's names itself ``featurestore run
    JOB`` in its usage and errors (its ``prog``)."""
    entry = getattr(module, "main", None)
    try:
        inspect.signature(entry).bind([])  # type: ignore[arg-type]
    except (TypeError, ValueError):  # not callable, or main() without argv
        raise usage_error(
            f"JOB_NOT_FOUND: job {job!r}: {module.__name__} has no main(argv)"
        ) from None
    main = cast("Callable[..., int]", entry)
    if built_in:
        return functools.partial(main, prog=f"featurestore run {job}")
    return main


def _call(job: str, entry: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run ``entry(argv)``; a job failure (SparkJobError, ContractError) a
    job did not catch itself is one line and exit 1 (2 when Spark cannot
    start), never a traceback."""
    from featurestore.services.contracts import ContractError
    from featurestore.spark_jobs import commits
    from featurestore.spark_jobs.errors import SparkJobError, SparkUnavailableError

    before = commits.mark()
    try:
        with spinner(f"running {job}"):
            code = entry(argv)
    except SystemExit as exc:  # argparse (0, 2), or the job's own sys.exit
        return _exit_code(job, exc.code)
    except (SparkJobError, ContractError) as exc:
        click.echo(f"{job}: error [{exc.reason}] {exc}", err=True)
        return USAGE if isinstance(exc, SparkUnavailableError) else FAILED
    except KeyboardInterrupt:
        # Still 130 when a version landed: the run did not finish (its
        # profile, or a later step of the job, may be missing); the line says
        # what landed, so an append is not run again by mistake.
        click.echo(_interrupted(job, commits.since(before)), err=True)
        return INTERRUPTED
    return _exit_code(job, code)


def _interrupted(job: str, outcomes: list[Outcome]) -> str:
    """The one line for a job interrupted after starting these feature commits:
    each version that landed (a Delta commit is all or nothing: the table
    holds a run's version whole, or is as it was)."""
    landed, unknown = [], []
    for outcome in outcomes:
        commit = outcome.commit
        if outcome.unknown:
            unknown.append(
                f"whether run {commit.run_id} published a version of "
                f"{commit.table} is unknown ({outcome.unknown}): "
                f"`featurestore lineage {commit.table}` shows it"
            )
        elif outcome.version is not None:
            profile = ""
            if commit.profiles and not commit.profiled:
                profile = (
                    "; its profile was not written (the next publish, or "
                    f"`featurestore monitor backfill {commit.table}`, writes it)"
                )
            landed.append(
                f"version {outcome.version} of {commit.table} was published "
                f"(run {commit.run_id}){profile}"
            )
    if not landed and not unknown:
        return (
            f"{job}: interrupted; no partial version was published "
            "(a Delta commit is all or nothing)"
        )
    head = f"interrupted after {'; '.join(landed)}" if landed else "interrupted"
    return "; ".join([f"{job}: {head}", *unknown])


def _exit_code(job: str, value: object) -> int:
    """What Python makes of ``sys.exit(value)``: None is 0, an int itself,
    anything else is printed to stderr and exits 1."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    click.echo(f"{job}: {value}", err=True)
    return FAILED


def _asks_help(job_args: tuple[str, ...]) -> bool:
    return any(arg in ("-h", "--help") for arg in job_args)


def _job_help(job: str, module: str) -> int:
    """A job's help without running it: ``parse_args(["--help"])`` when the
    module has ``parse_args(argv)``, else its docstring.

    main() is never called for --help: whether a main reads argv cannot be
    told from outside, and one that does not would do its work (publish).
    The built-in jobs parse argv before anything else (tested), so their
    main(["--help"]) is their help.
    """
    loaded = _import(job, module)
    if _is_built_in(job, module):
        return _call(job, _entry(job, loaded, built_in=True), ["--help"])
    parse_args = getattr(loaded, "parse_args", None)
    if callable(parse_args):
        try:
            parse_args(["--help"])
        except SystemExit as exc:  # argparse prints the help and exits 0
            return exc.code if isinstance(exc.code, int) else USAGE
        return 0
    doc = inspect.getdoc(loaded) or ""
    click.echo(f"usage: featurestore run {job}\n")
    if doc:
        click.echo(doc + "\n")
    click.echo(
        f"{job} takes no documented flags: {module} has no parse_args(argv), "
        "so it was not run. Define parse_args(argv) (argparse) to give it some."
    )
    return 0


COMMANDS = [run]
