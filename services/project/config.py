"""The project: a Feast repo folder plus our featurestore.yaml, parsed once."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from featurestore.services.project.errors import (
    ProjectConfigError,
    ProjectNotFoundError,
)
from featurestore.services.storage import (
    MissingVariableError,
    StorageOptions,
    absolute,
    expand_variables,
    join,
    scheme,
)

FEAST_CONFIG = "feature_store.yaml"
"""The Feast config whose folder is the project (as `feast` finds it)."""
PROJECT_CONFIG = "featurestore.yaml"
"""Our settings, beside feature_store.yaml; optional (all fields default)."""
FRONT_BINARY = "fs-front"
"""Executable name of the compiled gRPC front."""
TABLE_SCHEME = "featurestore"
"""Scheme of a table reference, ``featurestore://<table>``: a feature table of
the project, located through featurestore.yaml when it is read."""
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Caches(BaseModel):
    """Where downloaded artefacts are kept; shared by every project by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ivy_dir: Path | None = None
    """Ivy cache of the Delta jars (relative to the repo); default
    ``$XDG_CACHE_HOME/featurestore/ivy`` or ``~/.cache/featurestore/ivy``."""


class ProjectConfig(BaseModel):
    """The schema of featurestore.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: str = "data"
    """Data root holding raw/ and features/: a path relative to the repo, an
    absolute path or a URI (``s3://bucket/prefix``). ``$FS_DATA_DIR`` wins."""
    contracts_dir: Path = Path("contracts")
    """Folder of the contracts, one subfolder per table (relative to the repo).
    ``$FS_CONTRACTS_DIR`` wins."""
    jobs: dict[str, str] = Field(default_factory=dict)
    """Job name -> module path, run by ``featurestore run NAME``; the repo is
    on ``sys.path``, so ``jobs.example`` is ``<repo>/jobs/example.py``."""
    storage_options: dict[str, str] = Field(default_factory=dict)
    """Object-store options for the data root, delta-rs keys (``AWS_ENDPOINT_URL``,
    ``AWS_REGION``, ``AWS_ALLOW_HTTP`` ...); ``${NAME}`` in a value is read from
    the environment, so credentials need not be in the file."""
    caches: Caches = Caches()
    """Cache folders."""


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/featurestore`` or ``~/.cache/featurestore``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "featurestore"


def default_ivy_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$FS_IVY_DIR``, else the Ivy folder in :func:`default_cache_dir`."""
    env = os.environ if env is None else env
    override = env.get("FS_IVY_DIR")
    return Path(override) if override else default_cache_dir(env) / "ivy"


def find_front_binary(env: Mapping[str, str] | None = None) -> Path | None:
    """The fs-front executable: ``$FS_FRONT_BINARY``, on PATH, or beside Python.

    Returns:
        Its path, or None when it is nowhere (build it with ``make front``).
    """
    env = os.environ if env is None else env
    if env.get("FS_FRONT_BINARY"):
        return Path(env["FS_FRONT_BINARY"])
    found = shutil.which(FRONT_BINARY, path=env.get("PATH"))
    if found:
        return Path(found)
    beside = Path(sys.executable).parent / FRONT_BINARY
    return beside if beside.is_file() else None


@dataclass(frozen=True)
class Project:
    """A project folder and its parsed settings; locations are resolved here.

    Attributes:
        repo: The folder holding feature_store.yaml (absolute).
        config: featurestore.yaml as parsed (defaults when the file is absent).
        data_dir: The data root, absolute path or URI (``$FS_DATA_DIR`` applied).
        storage_options: ``config.storage_options`` with ``${NAME}`` read from
            the environment; never printed.
        contracts_env: ``$FS_CONTRACTS_DIR`` as read by ``load`` (it wins over
            ``config.contracts_dir``, as ``$FS_DATA_DIR`` over ``data_dir``).
    """

    repo: Path
    config: ProjectConfig
    data_dir: str
    storage_options: StorageOptions = field(default_factory=StorageOptions)
    contracts_env: str | None = None

    @classmethod
    def discover(
        cls, repo: Path | None = None, env: Mapping[str, str] | None = None
    ) -> Project:
        """Find the project as ``feast`` does and read its featurestore.yaml.

        Args:
            repo: The project folder (``--repo``); default ``$FS_REPO_PATH``,
                else the working directory (or its ``feature_repo/``).
            env: Environment to read ``FS_REPO_PATH``/``FS_DATA_DIR``/
                ``FS_CONTRACTS_DIR`` from (default ``os.environ``).

        Raises:
            ProjectNotFoundError: The folder holds no feature_store.yaml.
            ProjectConfigError: featurestore.yaml is malformed.
        """
        env = os.environ if env is None else env
        from_env = None if repo else env.get("FS_REPO_PATH") or None
        explicit = repo or from_env
        source = "FS_REPO_PATH" if from_env else None
        folder = _find(Path(explicit or Path.cwd()), explicit is not None, source)
        return cls.load(folder, env)

    @classmethod
    def load(cls, repo: Path, env: Mapping[str, str] | None = None) -> Project:
        """Read the settings of the project at ``repo`` (need not exist yet).

        Raises:
            ProjectConfigError: featurestore.yaml is malformed.
        """
        env = os.environ if env is None else env
        folder = Path(repo).resolve()
        config = load_config(folder / PROJECT_CONFIG)
        data_dir = env.get("FS_DATA_DIR") or config.data_dir
        try:
            options = expand_variables(config.storage_options, env)
        except MissingVariableError as exc:
            raise ProjectConfigError(str(folder / PROJECT_CONFIG), str(exc)) from exc
        return cls(
            folder,
            config,
            absolute(data_dir, folder),
            StorageOptions(options),
            env.get("FS_CONTRACTS_DIR") or None,
        )

    @property
    def contracts_dir(self) -> Path:
        """The contracts folder (absolute): ``$FS_CONTRACTS_DIR``, else the
        config's; a relative one is under the project folder, as data_dir."""
        chosen = self.contracts_env or self.config.contracts_dir
        return (self.repo / Path(chosen).expanduser()).resolve()

    @property
    def ivy_dir(self) -> Path:
        """Ivy cache: ``$FS_IVY_DIR``, the config's, else the user cache."""
        if "FS_IVY_DIR" not in os.environ and self.config.caches.ivy_dir:
            return (self.repo / self.config.caches.ivy_dir).resolve()
        return default_ivy_dir()

    def table_uri(self, name: str) -> str:
        """Location of feature table ``name``: ``<data_dir>/features/<name>``."""
        return join(self.data_dir, "features", name)

    def quarantine_uri(self, name: str) -> str:
        """Location of the quarantine table beside feature table ``name``."""
        return join(self.data_dir, "features", f"{name}_quarantine")

    def resolve_source(self, path: str) -> str:
        """Where a Feast source ``path`` is now: the one resolver of source paths.

        A table reference (:func:`table_ref`) is located through this
        project's data root, so ``$FS_DATA_DIR`` and featurestore.yaml decide
        at read time, not at ``feast apply``. A relative path is relative to
        the repo (as Feast has it); URIs and absolute paths are kept.
        """
        if scheme(path) == TABLE_SCHEME:
            return self.table_uri(_table_name(path))
        return absolute(path, self.repo)


def load_config(path: Path) -> ProjectConfig:
    """Parse featurestore.yaml at ``path``; defaults when there is no file.

    Raises:
        ProjectConfigError: Not YAML, a repeated key, not a mapping, or a field
            is wrong/unknown.
    """
    if not path.is_file():
        return ProjectConfig()
    # The contracts' loader: a repeated key (data_dir: twice) is refused as in
    # a contract file, not silently the last one.
    from featurestore.services.contracts._yaml import UniqueKeyLoader

    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        # from None: a traceback of the cause would print the quoted line.
        raise ProjectConfigError(str(path), config_problem(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectConfigError(str(path), f"cannot read: {exc}") from exc
    if raw is None:
        return ProjectConfig()
    if not isinstance(raw, dict):
        raise ProjectConfigError(str(path), "expected a mapping at the top level")
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        raise ProjectConfigError(str(path), config_problem(exc)) from None


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
"""A mapping key shown in a repeated-key error: a name, not a value."""


def config_problem(exc: BaseException) -> str:
    """What is wrong with a config file (featurestore.yaml, Feast's
    feature_store.yaml), never a value read from it.

    A YAML error gives its problem, line and column (``_yaml_problem``); a
    pydantic error each field and what is wrong with it, not pydantic's text,
    which repeats the input value (a password in a connection string). The
    error's cause and context are looked through, as Feast wraps both in its
    own errors; anything else gives its type and first line.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, yaml.YAMLError):
            return _yaml_problem(seen)
        if isinstance(seen, ValidationError):
            return "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                for e in seen.errors()
            )
        if isinstance(seen, TypeError) and "must be a mapping" in str(seen):
            # Feast's RepoConfig(**yaml) of a file that is no YAML mapping.
            return "not a YAML mapping of settings (key: value lines)"
        seen = seen.__cause__ or seen.__context__
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong with the YAML and where, never the text around it.

    PyYAML's message quotes the offending line (its snippet) and may quote a
    tag, anchor or alias read from a value: storage_options holds secrets, so
    only the problem and its line and column are kept, each quoted name
    longer than a character masked. A repeated key (``UniqueKeyLoader``) is
    named when it reads as a name: keys are settings' names, not values.
    """
    from featurestore.services.contracts._yaml import RepeatedKeyError

    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "not valid YAML"
    problem = _QUOTED.sub(lambda m: m[0] if len(m[0]) <= 4 else "'...'", problem)
    key = getattr(exc, "key", None)
    if (
        isinstance(exc, RepeatedKeyError)
        and isinstance(key, str)
        and _KEY_NAME.fullmatch(key)
    ):
        # A key is a setting's name (data_dir, AWS_REGION), never its value:
        # shown, so the user knows which of the file's keys to fix.
        problem = f"repeated key {key!r}"
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML: {problem} (line {mark.line + 1}, column {mark.column + 1})"


def _find(folder: Path, explicit: bool, env: str | None = None) -> Path:
    # Like feast: the folder holding feature_store.yaml. Without --repo, a
    # checkout's root also finds its ./feature_repo. `env` names the variable
    # the folder came from, for the error.
    folder = folder.resolve()
    if (folder / FEAST_CONFIG).is_file():
        return folder
    if not explicit and (folder / "feature_repo" / FEAST_CONFIG).is_file():
        return folder / "feature_repo"
    raise ProjectNotFoundError(str(folder), env, folder.is_dir())


def table_ref(name: str) -> str:
    """A reference to feature table ``name``: ``featurestore://<name>``.

    Feature repos use it as a FileSource ``path``: the registry then holds the
    name, and the offline store, materialisation and the server locate the
    table through the project (featurestore.yaml ``data_dir``, ``$FS_DATA_DIR``)
    each time they read it.

    Raises:
        ValueError: ``name`` is not a table name (letters, digits, ``_``).
    """
    if not _TABLE_NAME.match(name):
        raise ValueError(f"not a table name: {name!r}")
    logging.getLogger(_FEAST_FILE_SOURCE).addFilter(_REFERENCES_UNCHECKED)
    return f"{TABLE_SCHEME}://{name}"


class _ReferencesUnchecked(logging.Filter):
    """Drops Feast's "Could not validate FileSource path" warning for table
    references: ``feast apply`` asks pyarrow to open every FileSource path, and
    pyarrow knows no ``featurestore://`` scheme, so each apply of a new
    project warned once per view. The reference is located through the
    project whenever it is read (and a new project's tables do not exist
    until its first job runs); other paths keep the warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (
            str(record.msg).startswith("Could not validate FileSource path")
            and bool(args)
            and str(args[0]).startswith(f"{TABLE_SCHEME}://")
        )


_FEAST_FILE_SOURCE = "feast.infra.offline_stores.file_source"
_REFERENCES_UNCHECKED = _ReferencesUnchecked()


def _table_name(ref: str) -> str:
    name = ref[len(TABLE_SCHEME) + 3 :].strip("/")
    if not _TABLE_NAME.match(name):
        raise ProjectConfigError(ref, "a table reference is featurestore://<table>")
    return name


def table_uri(name: str, repo: Path | None = None) -> str:
    """Location of feature table ``name`` in the project at ``repo``.

    Feature repos call it in their sources so that featurestore.yaml (or
    ``$FS_DATA_DIR``) decides where tables are when ``feast apply`` runs.

    Args:
        name: Table name.
        repo: The project folder; default as :meth:`Project.discover`.
    """
    return Project.discover(repo).table_uri(name)


def user_jobs(repo: Path | None = None) -> dict[str, str]:
    """The project's jobs (name -> module), its folder put on ``sys.path``.

    Empty when no project is found in the working directory (built-in jobs
    run without one). Modules are imported relative to the project folder, as
    feast imports the definitions.

    Raises:
        ProjectNotFoundError: ``repo`` or ``$FS_REPO_PATH`` names a folder that
            holds no feature_store.yaml (its jobs cannot be listed; "unknown
            job" would hide why; ``metadata["env"]`` names the variable).
        ProjectConfigError: featurestore.yaml is malformed.
    """
    try:
        project = Project.discover(repo)
    except ProjectNotFoundError as exc:
        if repo is not None or "env" in exc.metadata:
            raise
        return {}
    folder = str(project.repo)
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)
    for module in project.config.jobs.values():
        _forget_if_elsewhere(module.split(".")[0], project.repo)
    return dict(project.config.jobs)


def _forget_if_elsewhere(package: str, folder: Path) -> None:
    """Drop ``package`` and its submodules from the import cache when the
    project holds a package of that name but the cached one came from another
    folder: a process that ran another project's jobs first (a test run, a
    notebook) would otherwise import that project's ``jobs.example``."""
    if not ((folder / package).is_dir() or (folder / f"{package}.py").is_file()):
        return
    loaded = sys.modules.get(package)
    if loaded is None:
        return
    places = [*getattr(loaded, "__path__", []), getattr(loaded, "__file__", None)]
    root = folder.resolve()
    if any(p and Path(p).resolve().is_relative_to(root) for p in places):
        return
    for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
        del sys.modules[name]
